// The ranking of validation mixtures by paired differences (lib/stats/paired.ts rankByPairedDifferences).
import test from 'ava';
import { pairedDifference, rankByPairedDifferences } from '../../lib/stats/paired.js';
import { RandomStream, standardNormal } from '../../lib/stats/sampling.js';

const seeds = (values: number[]): Map<number, number> => new Map(values.map((v, i) => [i, v]));

test('a mixture better on every seed by a clear margin ranks above, and equal ones share a rank', (t) => {
  const ranking = rankByPairedDifferences(new Map([
    ['uniform', seeds([2.30, 2.40, 2.35])],
    ['good', seeds([2.20, 2.31, 2.25])],
    ['same', seeds([2.30, 2.40, 2.35])],
  ]), 0.9);
  t.deepEqual(ranking.order.map((r) => [r.mixture, r.rank]), [['good', 1], ['same', 2], ['uniform', 2]]);
  t.deepEqual(ranking.order[0]!.betterThan, ['uniform', 'same']);
  t.deepEqual(ranking.order.find((r) => r.mixture === 'same')!.notDistinguishableFrom, ['uniform']);
  t.deepEqual(ranking.seeds, [0, 1, 2]);
  t.is(ranking.note, null);
});

test('shown better is transitive, a mixture shown better always ranks strictly above, and mixtures sharing a rank are never shown to differ (random instances)', (t) => {
  let checked = 0;
  for (let instance = 0; instance < 300; instance++) {
    const rng = new RandomStream('ranking-test', instance);
    const k = 2 + (instance % 4); // 2..5 seeds
    const seedEffect = Array.from({ length: k }, () => standardNormal(rng) * 0.05);
    const finals = new Map<string, Map<number, number>>();
    for (let m = 0; m < 6; m++) {
      const effect = standardNormal(rng) * 0.02;
      const noise = 0.002 + 0.02 * rng.next(); // unequal noise: intervals of very different widths
      finals.set(`m${m}`, seeds(seedEffect.map((s) => 2.5 + s + effect + standardNormal(rng) * noise)));
    }
    const ranking = rankByPairedDifferences(finals, 0.9);
    const rank = new Map(ranking.order.map((r) => [r.mixture, r.rank]));
    for (const r of ranking.order) {
      for (const b of r.betterThan) {
        t.true(rank.get(r.mixture)! < rank.get(b)!, `instance ${instance}: ${r.mixture} shown better than ${b}`);
        // "Shown better" is exactly an interval below 0 on the paired difference.
        t.true(pairedDifference(finals.get(r.mixture)!, finals.get(b)!, 0.9).interval![1] < 0);
        checked += 1;
      }
      for (const other of ranking.order) {
        if (other.mixture !== r.mixture && other.rank === r.rank) t.true(r.notDistinguishableFrom.includes(other.mixture));
      }
      // Competition rank: 1 + the number shown better.
      t.is(r.rank, 1 + r.worseThan.length);
      // Transitive: whatever is shown better than r is shown better than everything r is.
      for (const above of r.worseThan) for (const below of r.betterThan) t.true(ranking.order.find((x) => x.mixture === above)!.betterThan.includes(below));
    }
  }
  t.true(checked > 100, `pairs shown different: ${checked}`);
});

test('a mixture behind a chain of better ones ranks below all of them: 1, 2, 3', (t) => {
  const finals = new Map([
    ['a', seeds([2.00, 2.10, 2.20, 2.30])],
    ['b', seeds([2.05, 2.16, 2.24, 2.35])],
    ['c', seeds([2.11, 2.20, 2.31, 2.40])],
  ]);
  const ranking = rankByPairedDifferences(finals, 0.9);
  t.deepEqual(ranking.order.map((r) => [r.mixture, r.rank]), [['a', 1], ['b', 2], ['c', 3]]);
  t.deepEqual(ranking.order[2]!.worseThan, ['a', 'b']);
});

test('one common seed gives no interval: every mixture ranks 1, and the note says why; a mixture without a finished run is unranked', (t) => {
  const ranking = rankByPairedDifferences(new Map([
    ['uniform', seeds([2.3, 2.4])],
    ['x', new Map([[0, 2.0]])],
    ['lost', new Map<number, number>()],
  ]), 0.9);
  t.deepEqual(ranking.seeds, [0]);
  t.true(ranking.order.every((r) => r.rank === 1));
  t.regex(ranking.note ?? '', /one seed .* no interval/);
  t.deepEqual(ranking.unranked, ['lost']);
});

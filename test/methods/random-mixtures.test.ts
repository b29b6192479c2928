import test from 'ava';
import { randomMixtures } from '../../lib/methods/random-mixtures.js';

const prior = { web: 0.5, books: 0.3, code: 0.15, mail: 0.05 };
const domains = Object.keys(prior);

function onSimplex(t: import('ava').ExecutionContext, mixes: Record<string, number>[]): void {
  for (const m of mixes) {
    t.deepEqual(Object.keys(m), domains);
    for (const v of Object.values(m)) t.true(Number.isFinite(v) && v >= 0, `share ${v}`);
    // One division by the sum: exact to a few ulps.
    t.true(Math.abs(Object.values(m).reduce((s, v) => s + v, 0) - 1) < 1e-12);
  }
}

test('randomMixtures is reproducible from its seed, differs for another seed, and keeps its first draws when n grows', (t) => {
  const a = randomMixtures(prior, 50, 7);
  t.deepEqual(randomMixtures(prior, 50, 7), a);
  const b = randomMixtures(prior, 50, 8);
  t.notDeepEqual(b, a);
  t.true(a.every((m, k) => m.web !== b[k]!.web));
  t.deepEqual(randomMixtures(prior, 80, 7).slice(0, 50), a);
  onSimplex(t, a);
});

test('randomMixtures matches the Dirichlet(concentration * prior) mean and variance over many draws', (t) => {
  // Share i has mean p_i and variance p_i (1 - p_i) / (a0 + 1). Over n draws the sample mean has standard error
  // sqrt(var / n): 4 standard errors bound it (a false failure about 1 in 16 000 per check). The sample variance
  // of n = 4000 draws, measured over 60 seeds x 8 checks: median 1.6 % off, 95th percentile 7 %, worst 14 % (the
  // heavy-tailed "mail" share at a0 = 4); 25 % is allowed. The default concentration is D = 4 and 20 is also
  // checked: their variances differ by a factor 4.2, so a sampler that ignored the concentration fails.
  const n = 4000;
  for (const a0 of [undefined, 20]) {
    const conc = a0 ?? domains.length;
    const mixes = randomMixtures(prior, n, 3, a0);
    onSimplex(t, mixes);
    for (const d of domains) {
      const p = prior[d as keyof typeof prior];
      const xs = mixes.map((m) => m[d]!);
      const mean = xs.reduce((s, v) => s + v, 0) / n;
      const variance = xs.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
      const expectedVar = (p * (1 - p)) / (conc + 1);
      t.true(Math.abs(mean - p) < 4 * Math.sqrt(expectedVar / n), `${d} a0=${conc}: mean ${mean} vs ${p}`);
      t.true(Math.abs(variance / expectedVar - 1) < 0.25, `${d} a0=${conc}: variance ${variance} vs ${expectedVar}`);
    }
  }
});

test('randomMixtures normalises a prior given as token counts, and applies the temperature to it', (t) => {
  t.deepEqual(randomMixtures({ web: 5e6, books: 3e6, code: 1.5e6, mail: 0.5e6 }, 20, 1), randomMixtures(prior, 20, 1));
  // Temperature 0.5: the prior becomes sqrt(p) / sum sqrt(p); the mean of many draws follows it (tolerance as above).
  const n = 4000;
  const roots = domains.map((d) => Math.sqrt(prior[d as keyof typeof prior]));
  const rootSum = roots.reduce((s, v) => s + v, 0);
  const mixes = randomMixtures(prior, n, 2, undefined, { temperature: 0.5 });
  domains.forEach((d, i) => {
    const p = roots[i]! / rootSum;
    const mean = mixes.reduce((s, m) => s + m[d]!, 0) / n;
    t.true(Math.abs(mean - p) < 4 * Math.sqrt((p * (1 - p)) / (domains.length + 1) / n), `${d}: ${mean} vs ${p}`);
  });
});

test('randomMixtures stays finite and on the simplex at concentrations so small that plain Gamma variates underflow', (t) => {
  // Dirichlet parameters ~1e-4: Gamma(a) = Gamma(a + 1) U^(1/a) underflows to 0 for every domain in most draws,
  // and 0/0 would give NaN shares. The draws are then nearly one-hot.
  const mixes = randomMixtures(prior, 200, 4, 1e-3);
  onSimplex(t, mixes);
  t.true(mixes.filter((m) => Math.max(...Object.values(m)) > 0.99).length > 150);
});

test("randomMixtures' minWeight zeroes small shares and renormalises (RegMix's minimum share)", (t) => {
  const mixes = randomMixtures(prior, 300, 5, 1, { minWeight: 0.05 });
  onSimplex(t, mixes);
  t.true(mixes.every((m) => Object.values(m).every((v) => v === 0 || v >= 0.05)));
  t.true(mixes.some((m) => Object.values(m).some((v) => v === 0)));
});

test('randomMixtures rejects bad input with errors that name the fix', (t) => {
  t.throws(() => randomMixtures({ a: 1, b: 0 }, 3, 1), { message: /prior of "b" must be a finite number > 0.*leave the domain out/ });
  t.throws(() => randomMixtures({}, 3, 1), { message: /no domains given/ });
  t.throws(() => randomMixtures(prior, 0, 1), { message: /n \(how many mixtures\) must be an integer >= 1/ });
  t.throws(() => randomMixtures(prior, 2.5, 1), { message: /must be an integer/ });
  t.throws(() => randomMixtures(prior, 3, Number.NaN), { message: /seed must be a finite number/ });
  t.throws(() => randomMixtures(prior, 3, 1, 0), { message: /concentration must be a finite number > 0/ });
  t.throws(() => randomMixtures(prior, 3, 1, undefined, { temperature: -1 }), { message: /temperature must be/ });
  t.throws(() => randomMixtures(prior, 3, 1, undefined, { minWeight: 0.3 }), { message: /minWeight must be >= 0 and below 1\/D = 0\.25/ });
});

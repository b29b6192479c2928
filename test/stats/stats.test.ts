// The statistics modules on cases with known answers.
import test from 'ava';
import { fitNoiseModel, drawMeanNoise } from '../../lib/stats/noise-model.js';
import { noiseAudit } from '../../lib/stats/noise-audit.js';
import { calibratedLevel, replicatedDdo } from '../../lib/stats/ddo-replicates.js';
import { budgetToReach, pairedDifference, tokenSaving, verdictOf } from '../../lib/stats/paired.js';
import { chiSquareVariate, mean, quantile, RandomStream, sampleSd, standardNormal, studentTQuantile } from '../../lib/stats/sampling.js';

test('the random variates have the right first two moments, and the t quantile matches tables', (t) => {
  const rng = new RandomStream('moments');
  const z = Array.from({ length: 20000 }, () => standardNormal(rng));
  const x = Array.from({ length: 20000 }, () => chiSquareVariate(rng, 3.5));
  // 20,000 draws: standard errors ~0.007 (normal mean), ~0.02 (chi-square mean 3.5, sd sqrt(7)).
  t.true(Math.abs(mean(z)) < 0.03 && Math.abs(sampleSd(z) - 1) < 0.03);
  t.true(Math.abs(mean(x) - 3.5) < 0.08 && Math.abs(sampleSd(x) - Math.sqrt(7)) < 0.1);
  t.true(Math.abs(studentTQuantile(0.95, 2) - 2.919986) < 1e-5);
  t.is(quantile([4, 1, 3, 2], 0.5), 2.5);
});

test('fitNoiseModel recovers per-run noise: pooled when runs are alike, run by run when they differ a lot', (t) => {
  const rng = new RandomStream('noise-model');
  const runs = Array.from({ length: 11 }, (_, j) => (j === 0 ? 'base' : `r${j}`));
  const simulate = (sd: (j: number) => number, seeds: number): { run: string; seed: number; response: number }[] => {
    const obs = [];
    for (let s = 0; s < seeds; s++) {
      const u = 0.05 * standardNormal(rng); // a large seed effect, which the model must remove
      for (let j = 0; j < runs.length; j++) obs.push({ run: runs[j]!, seed: s, response: 2.5 * Math.exp(u + sd(j) * standardNormal(rng)) });
    }
    return obs;
  };
  const equal = fitNoiseModel(runs, simulate(() => 0.002, 30))!;
  // 30 seeds: each variance is within ~25% of the truth (4e-6); equal noise leaves a large prior df.
  for (const v of equal.variance) t.true(Math.abs(v / 4e-6 - 1) < 0.35, `variance ${v}`);
  t.true(equal.priorDf > 50);
  const unequal = fitNoiseModel(runs, simulate((j) => (j % 2 === 0 ? 0.001 : 0.01), 30))!;
  t.true(unequal.priorDf < 10, `prior df ${unequal.priorDf}`);
  t.true(unequal.variance[1]! > 20 * unequal.variance[2]!, 'the noisy runs keep their own, larger variance');
  t.is(fitNoiseModel(runs, simulate(() => 0.002, 1)), null, 'one seed: no residual degrees of freedom');
  const e = drawMeanNoise(equal, new RandomStream('x'));
  t.is(e.length, runs.length);
});

test('noiseAudit gives the seed SD of the base and each perturbation\'s |effect| / SD, and names the noisy ones', (t) => {
  const obs = [
    { run: 'base', seed: 0, response: 3.0 }, { run: 'base', seed: 1, response: 3.1 }, { run: 'base', seed: 2, response: 2.9 },
    { run: 'a@3', seed: 0, response: 2.9 }, { run: 'a@3', seed: 1, response: 3.0 }, { run: 'a@3', seed: 2, response: 2.8 },
    { run: 'b@3', seed: 0, response: 3.0 }, { run: 'b@3', seed: 1, response: 3.05 }, { run: 'b@3', seed: 2, response: 2.95 },
  ];
  const audit = noiseAudit(['a@3', 'b@3'], obs);
  t.is(audit.seeds, 3);
  t.true(Math.abs(audit.baseSd! - 0.1) < 1e-12);
  const ratios = [2.9 / 3, 3 / 3.1, 2.8 / 2.9];
  t.true(Math.abs(audit.snr['a@3']! - Math.abs(mean(ratios) - 1) / sampleSd(ratios)) < 1e-12);
  t.deepEqual(audit.belowThreshold, ['b@3']);
  t.is(audit.verdict, 'noisy');
  t.regex(audit.advice, /more seeds/);
  t.is(noiseAudit(['a@3'], obs.filter((o) => o.seed === 0)).verdict, 'unmeasured');
});

test('replicatedDdo keeps each seed\'s optimum, and with one seed says why there is no interval', (t) => {
  const curve = (a: number, b: number) => (x: number) => Math.pow(x + a, -b) + 1 - Math.pow(1 + a, -b);
  const f = { web: curve(6, 0.5), code: curve(10, 0.3) };
  const runs = (['web', 'code'] as const).flatMap((d) => [1 / 3, 3].map((m) => ({ id: `${d}@${Number(m.toPrecision(6))}`, domain: d, multiplier: m })));
  const rng = new RandomStream('replicated');
  const observations = [];
  for (let s = 0; s < 4; s++) {
    observations.push({ run: 'base', seed: s, response: 3 * Math.exp(0.001 * standardNormal(rng)) });
    for (const r of runs) observations.push({ run: r.id, seed: s, response: 3 * f[r.domain as 'web' | 'code'](r.multiplier) * Math.exp(0.001 * standardNormal(rng)) });
  }
  const result = replicatedDdo({ runs, observations }, { baseTokens: { web: 5e5, code: 5e5 } }, { draws: 100, stream: ['t'] });
  t.is(result.perSeed.length, 4);
  t.true(result.perSeed.every((s) => s.weights !== null));
  for (const d of ['web', 'code']) {
    const [lo, hi] = result.intervals!.weights[d]!;
    t.true(lo <= result.composition.weights[d]! && result.composition.weights[d]! <= hi, 'the point estimate lies in its interval');
  }
  const again = replicatedDdo({ runs, observations }, { baseTokens: { web: 5e5, code: 5e5 } }, { draws: 100, stream: ['t'] });
  t.deepEqual(again.intervals, result.intervals, 'equal inputs give equal intervals (resume writes the same bytes)');
  const one = replicatedDdo({ runs, observations: observations.filter((o) => o.seed === 0) }, { baseTokens: { web: 5e5, code: 5e5 } });
  t.is(one.intervals, null);
  t.regex(one.intervalNote!, /1 seed: no interval/);
  // c_k = 1 - 0.6 / (k - 1): the tails shrink to 0.4 of (1 - level) at 2 seeds, 0.7 at 3, and tend to the level itself.
  const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;
  t.true(close(calibratedLevel(0.9, 2), 0.96), `${calibratedLevel(0.9, 2)}`);
  t.true(close(calibratedLevel(0.9, 3), 0.93), `${calibratedLevel(0.9, 3)}`);
  t.true(close(calibratedLevel(0.9, 8), 1 - 0.1 * (1 - 0.6 / 7)), `${calibratedLevel(0.9, 8)}`);
  t.true(calibratedLevel(0.9, 200) > 0.9 && calibratedLevel(0.9, 200) < 0.9004, 'many seeds: the nominal level');
  t.true(calibratedLevel(0.8, 5) > calibratedLevel(0.8, 6), 'fewer seeds, wider');
});

test('paired differences, verdicts and token savings follow their intervals', (t) => {
  const a = new Map([[0, 2.10], [1, 2.12], [2, 2.11]]);
  const u = new Map([[0, 2.15], [1, 2.16], [2, 2.17]]);
  const d = pairedDifference(a, u, 0.9);
  // Differences -0.05, -0.04, -0.06: mean -0.05, sd 0.01, half-width t(0.95, 2) * 0.01 / sqrt(3).
  t.true(Math.abs(d.mean + 0.05) < 1e-12);
  t.true(Math.abs(d.interval![1] - (-0.05 + 2.919986 * 0.01 / Math.sqrt(3))) < 1e-6);
  t.is(verdictOf(d.interval), 'better');
  t.is(verdictOf([-0.01, 0.02]), 'not distinguishable');
  t.is(verdictOf([0.01, 0.02]), 'worse');
  t.is(pairedDifference(new Map([[0, 1]]), new Map([[0, 2]]), 0.9).interval, null, 'one seed: no interval');
  // ln-budget interpolation: loss 2.3 at 5e5, 2.1 at 1e6; target 2.2 is halfway in ln budget: sqrt(0.5).
  t.true(Math.abs(budgetToReach([{ tokens: 5e5, loss: 2.3 }, { tokens: 1e6, loss: 2.1 }], 2.2, 1e6)! - Math.SQRT1_2) < 1e-12);
  t.is(budgetToReach([{ tokens: 5e5, loss: 2.3 }, { tokens: 1e6, loss: 2.1 }], 1.0, 1e6), null, 'too far below: not read');
  const saving = tokenSaving(new Map([[0, [{ tokens: 5e5, loss: 2.3 }, { tokens: 1e6, loss: 2.1 }]], [1, [{ tokens: 5e5, loss: 2.31 }, { tokens: 1e6, loss: 2.11 }]]]),
    new Map([[0, 2.2], [1, 2.2]]), 1e6, 0.9)!;
  t.true(saving.mean > 0.6 && saving.mean < 0.8 && saving.interval !== null);
});

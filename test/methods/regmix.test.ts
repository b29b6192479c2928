import test from 'ava';
import { randomMixtures } from '../../lib/methods/random-mixtures.js';
import { regmixOptimum, type MixtureSample } from '../../lib/methods/regmix.js';
import { RandomStream } from '../../lib/data/random.js';
import { standardNormal } from '../../lib/stats/sampling.js';

const five = ['a', 'b', 'c', 'd', 'e'];
const uniformPrior = (domains: string[]): Record<string, number> => Object.fromEntries(domains.map((d) => [d, 1]));
const vec = (w: Record<string, number>, domains: string[]): number[] => domains.map((d) => w[d]!);

// A response with a known interior optimum: log y = log 3 + (w - w*)^T A (w - w*), A positive definite
// (diagonal 2..4, off-diagonal 0.3), so its minimiser on the simplex is w* = (0.35, 0.25, 0.2, 0.12, 0.08).
const wStar = [0.35, 0.25, 0.2, 0.12, 0.08];
const A = five.map((_, i) => five.map((_, j) => (i === j ? 2 + 0.5 * i : 0.3)));
function bowl(w: readonly number[]): number {
  let q = 0;
  for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) q += (w[i]! - wStar[i]!) * A[i]![j]! * (w[j]! - wStar[j]!);
  return 3 * Math.exp(q);
}

function runsOf(domains: string[], n: number, seed: number, response: (w: number[]) => number, noise: number): MixtureSample[] {
  const rng = new RandomStream(seed, 'regmix-test-noise');
  return randomMixtures(uniformPrior(domains), n, seed).map((m) => ({ weights: m, response: response(vec(m, domains)) * Math.exp(noise * standardNormal(rng)) }));
}

test('regmixOptimum finds the interior optimum of a log-quadratic response from 4D runs within 0.05 L1', (t) => {
  // 20 runs for 5 domains allow the quadratic model (15 parameters). The answer is the mean of the top 100 of
  // 50 000 candidates, which lie in a small region around w*, not on it: measured L1 error 0.007-0.026 over
  // seeds 1-3 and noise 0-0.5 %, as large without noise as with it, so it is that averaging. 0.05 leaves room
  // without admitting a wrong optimum (the runs' mean, the uniform mixture, is 0.40 away).
  for (const seed of [1, 2, 3]) {
    const r = regmixOptimum(runsOf(five, 20, seed, bowl, 0.003), { seed, candidates: 50_000 });
    const w = vec(r.weights, five);
    const l1 = w.reduce((s, x, i) => s + Math.abs(x - wStar[i]!), 0);
    t.true(l1 < 0.05, `seed ${seed}: L1 ${l1}, weights ${w.join(', ')}`);
    t.is(r.fit.kind, 'log-quadratic');
    t.is(r.fit.n, 20);
    t.true(r.fit.r2 > 0.99 && r.fit.looR2! > 0.95, JSON.stringify(r.fit));
    t.true(Math.abs(w.reduce((s, x) => s + x, 0) - 1) < 1e-12);
    t.false(r.notes.some((s) => s.includes('unreliable')), r.notes.join(' | '));
  }
});

test('regmixOptimum with a log-linear response leans to the best domain and beats every run', (t) => {
  // log y = log 3 + b.w over 8 domains: the minimum is the corner of the lowest b (d4). 32 runs are too few for
  // the quadratic model (38 needed), so the linear one is fitted; the top-k average stays among mixtures like the
  // runs but must give d4 the largest share, and its true response must be below every run's.
  const eight = Array.from({ length: 8 }, (_, i) => `d${i}`);
  const b = [0.3, -0.2, 0.1, 0.5, -0.4, 0.0, 0.2, 0.15];
  const loglinear = (w: number[]): number => 3 * Math.exp(w.reduce((s, x, i) => s + x * b[i]!, 0));
  for (const seed of [1, 2]) {
    const runs = runsOf(eight, 32, seed, loglinear, 0.003);
    const r = regmixOptimum(runs, { seed, candidates: 20_000 });
    t.is(r.fit.kind, 'log-linear');
    const w = vec(r.weights, eight);
    t.is(w.indexOf(Math.max(...w)), 4);
    t.true(loglinear(w) < Math.min(...runs.map((run) => loglinear(vec(run.weights, eight)))));
    t.true(r.notes.some((s) => s.includes('corner') && s.includes('"d4"')), r.notes.join(' | '));
  }
});

test('regmixOptimum says the optimum is unreliable when the response is noise', (t) => {
  const runs = runsOf(five, 20, 4, () => 3, 0.01);
  const r = regmixOptimum(runs, { seed: 4, candidates: 5_000 });
  t.true(r.fit.looR2 === null || r.fit.looR2 < 0.5, JSON.stringify(r.fit));
  t.true(r.notes.some((s) => s.includes('predicts left-out runs poorly') && s.includes('unreliable')), r.notes.join(' | '));
  t.true(Object.values(r.weights).every(Number.isFinite));
});

test('regmixOptimum warns with D + 1 runs and refuses D', (t) => {
  const runs = runsOf(five, 6, 5, bowl, 0);
  const r = regmixOptimum(runs, { seed: 5, candidates: 2_000 });
  t.true(r.notes.some((s) => s.startsWith('Only 6 runs for 5 domains') && s.includes('unreliable')), r.notes.join(' | '));
  t.throws(() => regmixOptimum(runs.slice(0, 5), { seed: 5 }), { message: /5 runs for 5 domains; at least 6 are needed .*train more proxy runs/ });
});

test('regmixOptimum is reproducible from its seed and caps its answer to the supply', (t) => {
  const runs = runsOf(five, 20, 1, bowl, 0.003);
  const opts = { seed: 11, candidates: 20_000 };
  t.deepEqual(regmixOptimum(runs, opts), regmixOptimum(runs, opts));
  // a's cap: 2 epochs of 10 tokens in a 100-token run = 0.2 < its optimum 0.35.
  const limit = { supply: { a: 10, b: 100, c: 100, d: 100, e: 100 }, budget: 100, maxEpochs: 2 };
  const r = regmixOptimum(runs, { ...opts, limit });
  t.deepEqual(r.capped, ['a']);
  t.true(Math.abs(r.weights.a! - 0.2) < 1e-12);
  t.true(r.notes.some((s) => s.startsWith('"a" was cut')), r.notes.join(' | '));
  t.true(Math.abs(r.fit.predicted - bowl(vec(r.weights, five))) < 0.01 * r.fit.predicted);
});

test('regmixOptimum rejects bad runs with errors that name the fix', (t) => {
  const runs = runsOf(five, 8, 6, bowl, 0);
  const withRun = (k: number, run: Partial<MixtureSample>): MixtureSample[] => runs.map((r, i) => (i === k ? ({ ...r, ...run } as MixtureSample) : r));
  t.throws(() => regmixOptimum([], { seed: 1 }), { message: /no runs given/ });
  t.throws(() => regmixOptimum(withRun(2, { response: Number.NaN }), { seed: 1 }), { message: /run 2 has response NaN; responses must be finite losses > 0/ });
  t.throws(() => regmixOptimum(withRun(3, { response: -1 }), { seed: 1 }), { message: /run 3 has response -1/ });
  t.throws(() => regmixOptimum(withRun(1, { weights: { a: 0.5, b: 0.2, c: 0.2, d: 0.05, e: 0 } }), { seed: 1 }), { message: /run 1: shares must sum to 1, they sum to 0\.95/ });
  t.throws(() => regmixOptimum(withRun(4, { weights: { a: 0.5, b: 0.2, c: 0.2, d: 0.1 } }), { seed: 1 }), { message: /run 4: domain "e" is missing/ });
  t.throws(() => regmixOptimum(withRun(4, { weights: { a: 0.5, b: 0.2, c: 0.2, d: 0.05, e: 0, f: 0.05 } }), { seed: 1 }), { message: /run 4: unknown domain "f"/ });
  t.throws(() => regmixOptimum(runs.map((r) => ({ ...r, response: 2 })), { seed: 1 }), { message: /all 8 runs have the same response/ });
  t.throws(() => regmixOptimum(runs, { seed: 1, candidates: 50, topK: 100 }), { message: /topK \(100\) is more than the candidates drawn \(50\)/ });
  t.throws(() => regmixOptimum(runs, { seed: Number.NaN }), { message: /seed must be a finite number/ });
});

import test from 'ava';
import { capToSupply, naturalMixture, uniformMixture, unimaxMixture } from '../../lib/methods/baselines.js';
import { RandomStream } from '../../lib/data/random.js';

// Hand-computed cases are exact up to the rounding of a few additions and one division per share.
const EXACT = 1e-12;

function near(t: import('ava').ExecutionContext, actual: Record<string, number>, expected: Record<string, number>, tol = EXACT): void {
  t.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [d, v] of Object.entries(expected)) t.true(Math.abs(actual[d]! - v) <= tol, `${d}: ${actual[d]} vs ${v}`);
}

test('uniformMixture gives every domain 1/D', (t) => {
  const r = uniformMixture(['a', 'b', 'c', 'd']);
  near(t, r.weights, { a: 0.25, b: 0.25, c: 0.25, d: 0.25 });
  t.deepEqual(r.capped, []);
});

test('uniformMixture with a limit caps the small domain and shares its excess evenly (hand-computed)', (t) => {
  // caps = 2 * supply / 100 = a 0.1, b 1, c 2, d 2; a is cut from 0.25 to 0.1, the other three get 0.9 / 3.
  const r = uniformMixture(['a', 'b', 'c', 'd'], { supply: { a: 5, b: 50, c: 100, d: 100 }, budget: 100, maxEpochs: 2 });
  near(t, r.weights, { a: 0.1, b: 0.3, c: 0.3, d: 0.3 });
  t.deepEqual(r.capped, ['a']);
  t.true(r.notes.some((s) => s.includes('"a"') && s.includes('0.25') && s.includes('0.1')), r.notes.join(' | '));
});

test('naturalMixture is proportional to the unique tokens', (t) => {
  near(t, naturalMixture({ a: 1e6, b: 3e6 }).weights, { a: 0.25, b: 0.75 });
  // With a feasible limit the natural mixture is never cut: w_i = s_i / S > E s_i / B only if B > E S.
  const r = naturalMixture({ a: 1e6, b: 3e6 }, { supply: { a: 1e6, b: 3e6 }, budget: 8e6, maxEpochs: 2 });
  near(t, r.weights, { a: 0.25, b: 0.75 });
  t.deepEqual(r.capped, []);
});

test('unimaxMixture caps small domains at maxEpochs epochs, smallest first, in a cascade (hand-computed)', (t) => {
  // Budget 100, 2 epochs. a (5 tokens): even share 100/3 > 10, so a gets 10; b (14): share 90/2 = 45 > 28, so 28;
  // c gets the remaining 62 (its cap is 200).
  const r = unimaxMixture({ supply: { c: 100, a: 5, b: 14 }, budget: 100, maxEpochs: 2 });
  near(t, r.weights, { a: 0.1, b: 0.28, c: 0.62 });
  t.deepEqual(r.capped.sort(), ['a', 'b']);
  t.is(r.notes.length, 2);
});

test('unimaxMixture is uniform when no domain is short of data', (t) => {
  const r = unimaxMixture({ supply: { a: 50, b: 60, c: 70 }, budget: 90, maxEpochs: 1 });
  near(t, r.weights, { a: 1 / 3, b: 1 / 3, c: 1 / 3 });
  t.deepEqual(r.capped, []);
});

test('capToSupply water-fills: a cut share flows to the others in proportion, and can push one of them over its cap (hand-computed)', (t) => {
  // caps = a 0.2, b 0.4, c 2. a: 0.6 -> 0.2; 0.8 left for b:c = 0.3:0.1, i.e. 0.6 and 0.2; b is now over 0.4, cut;
  // c gets 1 - 0.2 - 0.4 = 0.4.
  const r = capToSupply({ a: 0.6, b: 0.3, c: 0.1 }, { supply: { a: 10, b: 20, c: 100 }, budget: 100, maxEpochs: 2 });
  near(t, r.weights, { a: 0.2, b: 0.4, c: 0.4 });
  t.deepEqual(r.capped, ['a', 'b']);
  t.true(r.notes.some((s) => s.startsWith('"a" was cut from 0.6 to 0.2')), r.notes.join(' | '));
  t.true(r.notes.some((s) => s.startsWith('"b" was held at 0.4')), r.notes.join(' | '));
  // The docstring example: a 0.5 -> 0.2, the 0.3 excess split 3:2 over b and c.
  near(t, capToSupply({ a: 0.5, b: 0.3, c: 0.2 }, { supply: { a: 10, b: 100, c: 100 }, budget: 100, maxEpochs: 2 }).weights, { a: 0.2, b: 0.48, c: 0.32 });
});

test('capToSupply leaves shares within their caps unchanged', (t) => {
  const w = { a: 0.2, b: 0.5, c: 0.3 };
  const r = capToSupply(w, { supply: { a: 100, b: 100, c: 100 }, budget: 100, maxEpochs: 1 });
  near(t, r.weights, w);
  t.deepEqual(r.capped, []);
  t.deepEqual(r.notes, []);
});

test('capToSupply fills a budget that needs every domain at its cap; a domain raised exactly to its cap is not listed as capped', (t) => {
  const r = capToSupply({ a: 0.5, b: 0.5 }, { supply: { a: 30, b: 70 }, budget: 100, maxEpochs: 1 });
  near(t, r.weights, { a: 0.3, b: 0.7 });
  t.deepEqual(r.capped, ['a']);
});

test('capToSupply spreads the remainder evenly when the uncapped domains all had share 0, and says so', (t) => {
  const r = capToSupply({ a: 1, b: 0, c: 0 }, { supply: { a: 50, b: 100, c: 100 }, budget: 100, maxEpochs: 1 });
  near(t, r.weights, { a: 0.5, b: 0.25, c: 0.25 });
  t.deepEqual(r.capped, ['a']);
  t.true(r.notes.some((s) => s.includes('evenly')), r.notes.join(' | '));
});

test('capToSupply on random instances: within caps, sums to 1, uncapped domains scaled by one common factor, capped domains would be over their caps', (t) => {
  const rng = new RandomStream(5, 'cap-test');
  for (let k = 0; k < 300; k++) {
    const D = 2 + rng.integer(6);
    const domains = Array.from({ length: D }, (_, i) => `d${i}`);
    const raw = domains.map(() => rng.next() + 1e-3);
    const sum = raw.reduce((s, v) => s + v, 0);
    const w = Object.fromEntries(domains.map((d, i) => [d, raw[i]! / sum]));
    const supply = Object.fromEntries(domains.map((d) => [d, 1 + rng.next() * 99]));
    const totalSupply = Object.values(supply).reduce((s, v) => s + v, 0);
    const limit = { supply, budget: totalSupply * (0.3 + 0.7 * rng.next()), maxEpochs: 1 };
    const r = capToSupply(w, limit);
    const caps = Object.fromEntries(domains.map((d) => [d, (limit.maxEpochs * supply[d]!) / limit.budget]));
    t.true(Math.abs(Object.values(r.weights).reduce((s, v) => s + v, 0) - 1) < 1e-12);
    const factors: number[] = [];
    for (const d of domains) {
      t.true(r.weights[d]! <= caps[d]! * (1 + 1e-12), `${d} over its cap`);
      if (r.capped.includes(d)) t.true(Math.abs(r.weights[d]! - caps[d]!) < 1e-12);
      else factors.push(r.weights[d]! / w[d]!);
    }
    // Water-filling only moves mass up to the uncapped domains, all by the same factor f >= 1; a capped domain
    // scaled by f would have been over its cap (else it should not be capped: the KKT condition).
    for (const f of factors) {
      t.true(f >= 1 - 1e-12);
      t.true(Math.abs(f - factors[0]!) < 1e-9, `factors ${factors.join(', ')}`);
    }
    if (factors.length > 0) for (const d of r.capped) t.true(w[d]! * factors[0]! >= caps[d]! * (1 - 1e-9), `${d} capped but below its cap after scaling`);
  }
});

test('unimaxMixture equals capToSupply of the uniform mixture on random instances', (t) => {
  // Both are the water-filling of the uniform mixture under the same caps; UniMax reaches it smallest-first.
  const rng = new RandomStream(9, 'unimax-test');
  for (let k = 0; k < 200; k++) {
    const D = 1 + rng.integer(7);
    const domains = Array.from({ length: D }, (_, i) => `d${i}`);
    const supply = Object.fromEntries(domains.map((d) => [d, Math.exp(6 * rng.next())]));
    const total = Object.values(supply).reduce((s, v) => s + v, 0);
    const limit = { supply, budget: total * (0.2 + 3.7 * rng.next()), maxEpochs: 4 };
    const a = unimaxMixture(limit);
    const b = uniformMixture(domains, limit);
    near(t, a.weights, b.weights, 1e-12);
    t.deepEqual([...a.capped].sort(), [...b.capped].sort());
  }
});

test('an impossible budget throws an error naming both fixes', (t) => {
  // 2 epochs of 30 unique tokens give 60 < 100: train on at most 60 tokens or allow 100/30 = 3.33 epochs.
  const limit = { supply: { a: 10, b: 20 }, budget: 100, maxEpochs: 2 };
  for (const run of [() => capToSupply({ a: 0.5, b: 0.5 }, limit), () => unimaxMixture(limit), () => uniformMixture(['a', 'b'], limit), () => naturalMixture({ a: 10, b: 20 }, limit)]) {
    const e = t.throws(run);
    t.regex(e!.message, /at most 60 tokens/);
    t.regex(e!.message, /3\.33 epochs \(maxEpochs\)/);
  }
});

test('bad inputs throw errors that name the problem', (t) => {
  const limit = { supply: { a: 100, b: 100 }, budget: 100, maxEpochs: 1 };
  t.throws(() => capToSupply({ a: 0.5, b: 0.4 }, limit), { message: /sum to 1, they sum to 0\.9; divide each share by their sum/ });
  t.throws(() => capToSupply({ a: 1.5, b: -0.5 }, limit), { message: /"b" must be a finite number >= 0/ });
  t.throws(() => capToSupply({ a: 0.5, b: 0.5 }, { ...limit, supply: { a: 100 } }), { message: /supply has no entry for domain "b"/ });
  t.throws(() => capToSupply({ a: 0.5, b: 0.5 }, { ...limit, supply: { a: 100, b: 100, c: 1 } }), { message: /supply names domain "c"/ });
  t.throws(() => capToSupply({ a: 0.5, b: 0.5 }, { ...limit, budget: 0 }), { message: /budget .* must be a positive number/ });
  t.throws(() => capToSupply({ a: 0.5, b: 0.5 }, { ...limit, maxEpochs: Number.NaN }), { message: /maxEpochs .* must be a positive number/ });
  t.throws(() => capToSupply({ a: 0.5, b: 0.5 }, { ...limit, supply: { a: 100, b: -1 } }), { message: /supply of "b" must be a finite token count/ });
  t.throws(() => uniformMixture([]), { message: /no domains given/ });
  t.throws(() => uniformMixture(['a', 'a']), { message: /"a" is listed twice/ });
  t.throws(() => naturalMixture({ a: 0, b: 0 }), { message: /every domain has 0 unique tokens/ });
  t.throws(() => naturalMixture({ a: Number.POSITIVE_INFINITY }), { message: /supply of "a" must be a finite token count/ });
  t.throws(() => unimaxMixture({ supply: {}, budget: 1, maxEpochs: 1 }), { message: /no domains given/ });
});

import test from 'ava';
import { mixtureVector, projectOntoSimplex } from '../../lib/methods/simplex.js';
import { choleskyFactor, choleskySolve } from '../../lib/methods/cholesky.js';
import { RandomStream } from '../../lib/data/random.js';
import { standardNormal } from '../../lib/stats/sampling.js';

test('projectOntoSimplex matches the projection found by bisection on its threshold', (t) => {
  // The projection is max(v - theta, 0) with theta solving sum max(v - theta, 0) = 1; bisection to 1e-15 finds
  // theta independently of the sort-based formula. Agreement within 1e-12 (rounding of the sums).
  const rng = new RandomStream(3, 'projection');
  for (let k = 0; k < 200; k++) {
    const v = Array.from({ length: 1 + rng.integer(8) }, () => 2 * standardNormal(rng));
    let lo = Math.min(...v) - 1;
    let hi = Math.max(...v);
    for (let it = 0; it < 200; it++) {
      const mid = (lo + hi) / 2;
      if (v.reduce((s, x) => s + Math.max(x - mid, 0), 0) > 1) lo = mid;
      else hi = mid;
    }
    const expected = v.map((x) => Math.max(x - (lo + hi) / 2, 0));
    const got = projectOntoSimplex(v);
    got.forEach((x, i) => t.true(Math.abs(x - expected[i]!) < 1e-12, `${v} -> ${got} vs ${expected}`));
  }
  t.deepEqual(projectOntoSimplex([0.8, 0.6, -0.2]).map((x) => +x.toFixed(12)), [0.6, 0.4, 0]);
});

test('mixtureVector renormalises a mixture within the tolerance and orders it by domain', (t) => {
  const v = mixtureVector({ b: 0.7500001, a: 0.25 }, ['a', 'b'], 'x');
  t.true(Math.abs(v[0]! + v[1]! - 1) < 1e-15);
  t.true(Math.abs(v[0]! - 0.25) < 1e-6);
});

test('choleskySolve solves random positive definite systems', (t) => {
  const rng = new RandomStream(4, 'cholesky');
  for (let k = 0; k < 50; k++) {
    const n = 1 + rng.integer(10);
    const B = Array.from({ length: n }, () => Array.from({ length: n }, () => standardNormal(rng)));
    const A = B.map((_, i) => B.map((_, j) => B[i]!.reduce((s, x, m) => s + x * B[j]![m]!, 0) + (i === j ? 0.1 : 0)));
    const x = Array.from({ length: n }, () => standardNormal(rng));
    const b = A.map((row) => row.reduce((s, a, j) => s + a * x[j]!, 0));
    const L = choleskyFactor(A);
    t.not(L, null);
    const solved = choleskySolve(L!, b);
    // Condition numbers here stay below ~1e5; 1e-8 relative is far above the resulting rounding (~1e-11).
    solved.forEach((v, i) => t.true(Math.abs(v - x[i]!) < 1e-8 * (1 + Math.abs(x[i]!)), `${v} vs ${x[i]}`));
  }
  t.is(choleskyFactor([[1, 2], [2, 1]]), null);
});

import test from 'ava';
import { evalResponseCurve, fitResponseCurve, type FitStatus, type ResponseCurve } from '../../lib/ddo/fit.js';
import { seededRandom } from './truth.js';

const X3 = [1 / 3, 1, 3];
const rel = (u: number, v: number): number => Math.abs(u - v) / Math.max(Math.abs(v), 1e-300);
const paramError = (c: ResponseCurve, t: ResponseCurve): number => Math.max(rel(c.a, t.a), rel(c.b, t.b), Math.abs(c.c - t.c));

test('fitResponseCurve recovers (a, b, c) exactly through three points of a power-law-branch curve', (t) => {
  // Truths with a in [2, 10], b in [1, 6]: the offset power law, which is the root fitResponseCurve returns.
  // Tolerance 1e-8: the parameters come from two nested bisections to the last bit; the measured error is ~1e-10
  // at worst (large a and b make the three values nearly collinear, costing a few digits).
  const rng = seededRandom(1);
  let worst = 0;
  for (let k = 0; k < 200; k++) {
    const truth = { a: rng.uniform(2, 10), b: rng.uniform(1, 6), c: rng.uniform(0, 1) };
    const fit = fitResponseCurve(X3.map((x) => ({ x, y: evalResponseCurve(truth, x) })));
    t.is(fit.status, 'exact');
    worst = Math.max(worst, paramError(fit.curve!, truth));
  }
  t.log(`worst parameter error over 200 curves: ${worst.toExponential(2)}`);
  t.true(worst < 1e-8);
});

test('fitResponseCurve returns both exact curves when two pass through the points, and the truth is one of them', (t) => {
  // With three points the model can have two exact solutions (see exactCurves in lib/ddo/fit.ts). For any valid
  // truth, the returned curve or its alternative must be the truth (to 1e-8), and both must interpolate (1e-12).
  const rng = seededRandom(2);
  let worst = 0;
  let alternatives = 0;
  for (let k = 0; k < 200; k++) {
    const truth = { a: rng.uniform(0, 5), b: rng.uniform(0.1, 4), c: rng.uniform(0, 1) };
    const pts = X3.map((x) => ({ x, y: evalResponseCurve(truth, x) }));
    const fit = fitResponseCurve(pts);
    t.is(fit.status, 'exact');
    for (const cv of [fit.curve, fit.alternative]) {
      if (cv) for (const p of pts) t.true(Math.abs(evalResponseCurve(cv, p.x) - p.y) < 1e-12);
    }
    const e1 = paramError(fit.curve!, truth);
    const e2 = fit.alternative ? paramError(fit.alternative, truth) : Infinity;
    if (e2 < e1) alternatives++;
    worst = Math.max(worst, Math.min(e1, e2));
  }
  t.log(`worst error of the matching root: ${worst.toExponential(2)}; truth was the alternative root in ${alternatives}/200`);
  t.true(worst < 1e-8);
});

test('fitResponseCurve recovers (a, b, c) by least squares from six exact points, on either branch', (t) => {
  // Six points identify the curve uniquely. Levenberg–Marquardt stops when a step no longer lowers the sum of
  // squares; measured parameter errors are ~1e-9 or smaller; tolerance 1e-6.
  const rng = seededRandom(3);
  let worst = 0;
  for (let k = 0; k < 60; k++) {
    const truth = { a: rng.uniform(0, 5), b: rng.uniform(0.2, 4), c: rng.uniform(0, 1) };
    const fit = fitResponseCurve([0.2, 1 / 3, 0.6, 1, 2, 3].map((x) => ({ x, y: evalResponseCurve(truth, x) })));
    t.is(fit.status, 'least-squares');
    worst = Math.max(worst, paramError(fit.curve!, truth));
  }
  t.log(`worst parameter error over 60 curves: ${worst.toExponential(2)}`);
  t.true(worst < 1e-6);
});

test('fitResponseCurve reports residuals near the noise level for noisy points', (t) => {
  // 9 points with noise sd 1e-3: the residual rms of a 3-parameter fit is about sd·sqrt(6/9) ≈ 8e-4; accept 2e-4..2e-3.
  const rng = seededRandom(4);
  const truth = { a: 2, b: 2, c: 0.9 };
  const xs = [0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5];
  const fit = fitResponseCurve(xs.map((x) => ({ x, y: evalResponseCurve(truth, x) + 1e-3 * rng.normal() })));
  t.is(fit.status, 'least-squares');
  t.log(`rms ${fit.rms.toExponential(2)}, curve ${JSON.stringify(fit.curve)}`);
  t.true(fit.rms > 2e-4 && fit.rms < 2e-3);
  t.is(fit.residuals.length, 9);
});

test('fitResponseCurve flags degenerate responses with a status, no curve and no NaN', (t) => {
  const cases: [number[], FitStatus][] = [
    [[1.0, 1.0, 1.01], 'not-decreasing'], // more data raises the loss
    [[1.0, 1.0, 1.0], 'not-decreasing'], // flat
    [[1.005, 1.0, 0.97], 'not-convex'], // middle point above the chord (concave)
    [[0.99, 1.0, 0.98], 'not-convex'], // rises then falls
  ];
  for (const [ys, status] of cases) {
    const fit = fitResponseCurve(X3.map((x, i) => ({ x, y: ys[i]! })));
    t.is(fit.status, status, `ys ${ys}`);
    t.is(fit.curve, null);
    t.true([fit.rms, fit.effect, ...fit.residuals].every(Number.isFinite));
  }
  const noisy = fitResponseCurve(X3.map((x, i) => ({ x, y: [1.002, 1, 0.9995][i]! })), { noise: 0.002 });
  t.is(noisy.status, 'noise-dominated');
  t.regex(noisy.message, /noise/);
});

test('fitResponseCurve rejects malformed input', (t) => {
  t.throws(() => fitResponseCurve([{ x: 1, y: 1 }, { x: 3, y: 0.9 }]), { message: /at least 3 points/ });
  t.throws(() => fitResponseCurve([{ x: 1, y: 1 }, { x: 1, y: 0.9 }, { x: 3, y: 0.8 }]), { message: /appears twice/ });
  t.throws(() => fitResponseCurve([{ x: 0, y: 1 }, { x: 1, y: 0.9 }, { x: 3, y: NaN }]), { message: /positive finite/ });
});

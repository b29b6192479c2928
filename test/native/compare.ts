// Comparing native fp32 results with the float64 reference: elementwise |actual - expected| <=
// atol + rtol * |expected|, reporting the worst element so a failure says where and by how much.
import type { ExecutionContext } from 'ava';

import type { Vec } from './reference.js';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
  excess: number; // |a - e| / (atol + rtol |e|); > 1 fails
}

/** The worst element by excess over the tolerance (undefined when lengths match and all are within). */
export function worstMismatch(actual: Vec, expected: Vec, tol: Tolerance): Mismatch | undefined {
  if (actual.length !== expected.length) {
    return { index: -1, actual: actual.length, expected: expected.length, excess: Infinity };
  }
  let worst: Mismatch | undefined;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const bound = tol.atol + tol.rtol * Math.abs(e);
    const excess = Number.isNaN(a) !== Number.isNaN(e) ? Infinity : Number.isNaN(a) ? 0 : Math.abs(a - e) / bound;
    if (!(excess <= 1) && (!worst || excess > worst.excess)) worst = { index: i, actual: a, expected: e, excess };
  }
  return worst;
}

/** Asserts that actual matches expected within tol; the message names the worst element. */
export function assertClose(
  t: ExecutionContext,
  actual: Vec,
  expected: Vec,
  tol: Tolerance,
  label: string,
): void {
  const worst = worstMismatch(actual, expected, tol);
  if (worst === undefined) {
    t.pass();
    return;
  }
  if (worst.index < 0) {
    t.fail(`${label}: length ${worst.actual}, expected ${worst.expected}`);
    return;
  }
  t.fail(
    `${label}[${worst.index}] = ${worst.actual}, expected ${worst.expected} ` +
      `(|diff| = ${Math.abs(worst.actual - worst.expected).toExponential(2)}, ` +
      `${worst.excess.toFixed(1)}x the tolerance atol ${tol.atol} + rtol ${tol.rtol} * |expected|)`,
  );
}

export function maxAbs(x: Vec): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

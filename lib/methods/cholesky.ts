// Solving A x = b for a symmetric positive definite A (a ridge or Levenberg-Marquardt normal matrix) by the
// Cholesky factorisation A = L L^T. Small dense systems (tens to a few hundred unknowns); pure.

/**
 * The lower-triangular L with A = L L^T, or null when A is not positive definite (a pivot <= 0 or not finite).
 * A is read as symmetric from its lower triangle.
 *
 * @example choleskyFactor([[4, 2], [2, 2]]) // [[2, 0], [1, 1]]
 */
export function choleskyFactor(A: readonly (readonly number[])[]): number[][] | null {
  const n = A.length;
  const L = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let j = 0; j < n; j++) {
    let d = A[j]![j]!;
    for (let k = 0; k < j; k++) d -= L[j]![k]! * L[j]![k]!;
    if (!(d > 0) || !Number.isFinite(d)) return null;
    const ljj = Math.sqrt(d);
    L[j]![j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = A[i]![j]!;
      for (let k = 0; k < j; k++) s -= L[i]![k]! * L[j]![k]!;
      L[i]![j] = s / ljj;
    }
  }
  return L;
}

/** Solves L L^T x = b for x, given the factor from choleskyFactor. @example choleskySolve([[2, 0], [1, 1]], [6, 4]) // [1, 1] */
export function choleskySolve(L: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = L.length;
  const y = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i]![k]! * y[k]!;
    y[i] = s / L[i]![i]!;
  }
  const x = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k]![i]! * x[k]!;
    x[i] = s / L[i]![i]!;
  }
  return x;
}

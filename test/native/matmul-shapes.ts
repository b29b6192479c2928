// The Linear-layer shapes that reach every edge of the CPU GEMM's blocking (native/cpu/matmul.cpp), shared by
// cpu-kernels.test.ts (this machine's blocking) and gemm-blockings.test.ts (the blockings other x86 caches choose),
// and the tolerance of their long fp32 sums against the float64 reference (cpu-kernels.test.ts explains it).
import type { Tolerance } from './compare.js';

export const LONG_SUM: Tolerance = { atol: 1e-3, rtol: 1e-4 };

// [N, C, OC] = rows, inner dimension, outputs of a Linear layer; what each one exercises (on a machine with a 32 KB
// L1d and 1 MB L2: KC 256, NB 256)
export const MATMUL_SHAPES: Array<[number, number, number, string]> = [
  [1, 1, 1, 'a single element'],
  [13, 300, 37, 'K past one 256-deep panel, rows and columns not whole tiles'],
  [97, 17, 290, 'two column tasks (NB = 256) and a ragged last one'],
  [9, 33, 65, 'one row group short of MR, columns one past a vector'],
  [200, 64, 96, 'rows split over several tasks with a partial last group'],
  [5, 1030, 4100, 'packed B over 4M floats: the forward and dinp products run in two chunks'],
  [70, 50, 1024, "dweight's A (dout^T, a 4 KB column stride) packed per task, 2 column blocks of 32"],
  // K = 6000 sums in dweight: typical fp32 error ~ sqrt(K) u |sum| ~ 4e-4, within LONG_SUM (8e-3 at |sum| ~ 77)
  [6000, 96, 40, "dweight's B (the input over 6000 tokens, 2.3 MB) packed in passes of whole panels, a ragged last one"],
];

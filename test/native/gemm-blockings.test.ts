// The CPU GEMM chooses its blocking from the machine's cache sizes (native/cpu/matmul.cpp): KC from L1d, the task
// sizes, B's in-place and pass limits from L2. The other tests run only the blocking of the machine they run on; here
// AUTOSCALE_GEMM_CACHES makes a child process choose the blocking of another x86 part's caches, and every shape of
// matmul-shapes.ts must match the float64 reference and give the same bits for 1, 2 and 3 threads under it. (Speed
// on those parts is not measured here; the sums' order follows KC, so bits differ between blockings, as between
// machines.)
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { backendInfo } from '../../lib/native.js';
import type { BlockingResult } from './gemm-blocking-child.js';

const haveCpu = (() => {
  try {
    return backendInfo().backends.cpu.available;
  } catch {
    return false;
  }
})();
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

// [L1d KB, L2 KB, the parts with those caches]
const PROFILES: Array<[number, number, string]> = [
  [48, 2048, 'Intel Sapphire Rapids, Raptor Lake P-cores'],
  [48, 1280, 'Intel Ice Lake server'],
  [48, 1024, 'AMD Zen 5'],
  [32, 512, 'AMD Zen 2 and Zen 3'],
  [32, 256, 'Intel Skylake and Haswell client'],
  [16, 128, 'a small-cache part: the shallowest panels'],
];

for (const [l1, l2, parts] of PROFILES) {
  (haveCpu ? test : test.skip)(`the GEMM with the blocking of ${l1} KB L1d and ${l2} KB L2 (${parts}) matches float64, the same bits for 1, 2 and 3 threads`, (t) => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'gemm-blocking-child.ts')], {
      cwd: repoRoot, encoding: 'utf8', env: { ...process.env, AUTOSCALE_GEMM_CACHES: `${l1},${l2}` }, maxBuffer: 1 << 24,
    });
    t.is(child.status, 0, child.stderr);
    const { gemm, results } = JSON.parse(child.stdout) as { gemm: string; results: BlockingResult[] };
    t.true(gemm.startsWith(`L1d ${l1} KB, L2 ${l2} KB,`), `the blocking follows the caches given: ${gemm}`);
    t.is(results.length, 32);
    for (const r of results) {
      t.is(r.worst, null, `${r.product} at ${r.shape} under ${gemm}: worst element ${JSON.stringify(r.worst)}`);
      t.true(r.sameBits, `${r.product} at ${r.shape} under ${gemm}: the same bits for 1, 2 and 3 threads`);
    }
  });
}

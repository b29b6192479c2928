// What a run's key says about the trainer (lib/pipeline/spec.ts, nativeResultId): the addon binary, and for CPU runs
// the GEMM's panel depth KC, which the same binary chooses from the machine's L1d and which fixes the order of the
// GEMM's sums. A fleet running one binary on machines with other caches must not share keys across KCs.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { backendInfo } from '../../lib/native.js';
import { nativeBuildId, nativeResultId } from '../../lib/pipeline/spec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const kc = backendInfo().backends.cpu.gemmKc;
const other = kc === 128 ? 256 : 128;

/** Runs `code` (TypeScript, from the repository root) in a child process with `env` added; its stdout. */
function child(t: import('ava').ExecutionContext, code: string, env: Record<string, string>): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24,
  });
  t.is(result.status, 0, result.stderr);
  return result.stdout;
}

test('CPU run keys name the addon and the GEMM panel depth, CUDA run keys the addon alone', (t) => {
  t.true(Number.isInteger(kc) && kc >= 16, `gemmKc ${kc}`);
  t.true(backendInfo().backends.cpu.gemm.includes(`KC ${kc},`), 'the blocking description shows the same KC');
  t.is(nativeResultId('cpu'), `${nativeBuildId()}+kc${kc}`);
  t.is(nativeResultId('cuda'), nativeBuildId());
});

test('the same addon summing in panels of another depth (as on a machine with another L1d) trains to other bits, under another key', (t) => {
  // dweight sums over N = 600 tokens: one panel order with KC 256 (256 + 256 + 88), another with KC 128
  const code = [
    "import { runOp } from './lib/native.ts';",
    "import { nativeResultId } from './lib/pipeline/spec.ts';",
    'const [N, C, OC] = [600, 32, 32];',
    'let x = 7;',
    'const r = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 4294967296 - 0.5; };',
    'const dout = Float32Array.from({ length: N * OC }, r);',
    'const inp = Float32Array.from({ length: N * C }, r);',
    'const dweight = new Float32Array(OC * C);',
    "runOp('cpu', 'matmul_backward', [null, dweight, null, dout, inp, new Float32Array(OC * C)], [N, C, OC], [], { threads: 1 });",
    "process.stdout.write(JSON.stringify({ id: nativeResultId('cpu'), bits: Buffer.from(dweight.buffer).toString('base64') }));",
  ].join('\n');
  const own = JSON.parse(child(t, code, {})) as { id: string; bits: string };
  const moved = JSON.parse(child(t, code, { AUTOSCALE_GEMM_KC: String(other) })) as { id: string; bits: string };
  t.is(own.id, `${nativeBuildId()}+kc${kc}`);
  t.is(moved.id, `${nativeBuildId()}+kc${other}`);
  t.not(moved.bits, own.bits, 'another panel depth sums in another order');
  // and the machine-cache override reaches the same setting: a 16 KB L1d gives KC 128 with AVX-512, 256 with AVX2
  const fromCaches = JSON.parse(child(t, code, { AUTOSCALE_GEMM_CACHES: '16,128' })) as { id: string; bits: string };
  t.regex(fromCaches.id, new RegExp(`^${nativeBuildId()}\\+kc\\d+$`));
  t.is(fromCaches.bits === own.bits, fromCaches.id === own.id, 'the same KC, the same bits; another KC, other bits');
});

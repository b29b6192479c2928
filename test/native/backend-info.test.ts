// backendInfo() and `autoscale info --json`: the version and the compute backends, in one
// documented shape: {version, backends: {cpu: {available, threads, gemm, gemmKc}, cuda: {compiled, available,
// devices: [{index, name, totalMemory, computeCapability}], reason?}}}.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { backendInfo, type BackendInfo } from '../../lib/native.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function assertShape(t: import('ava').ExecutionContext, info: BackendInfo): void {
  t.deepEqual(Object.keys(info).sort(), ['backends', 'version']);
  t.is(info.version, version);
  t.deepEqual(Object.keys(info.backends).sort(), ['cpu', 'cuda']);
  const { cpu, cuda } = info.backends;
  t.is(cpu.available, true);
  t.true(Number.isInteger(cpu.threads) && cpu.threads >= 1);
  t.deepEqual(Object.keys(cpu).sort(), ['available', 'gemm', 'gemmKc', 'threads']);
  // the GEMM's blocking, chosen from this machine's caches (matmul.cpp), and its panel depth (part of CPU run keys)
  t.true(Number.isInteger(cpu.gemmKc) && cpu.gemm.includes(`KC ${cpu.gemmKc},`));
  t.regex(cpu.gemm, /^L1d \d+ KB, L2 \d+ KB, \d+-bit vectors: MR \d+, NR \d+, KC \d+, MC <= \d+, NB \d+$/);
  t.is(typeof cuda.compiled, 'boolean');
  t.is(cuda.available, cuda.devices.length > 0, 'available exactly when a device is listed');
  if (!cuda.compiled) t.false(cuda.available, 'no devices without the CUDA backend');
  if (cuda.available) t.is(cuda.reason, undefined);
  else t.true(typeof cuda.reason === 'string' && cuda.reason.length > 0, 'an unavailable CUDA says why');
  for (const device of cuda.devices) {
    t.deepEqual(Object.keys(device).sort(), ['computeCapability', 'index', 'name', 'totalMemory']);
    t.true(Number.isInteger(device.index) && device.index >= 0);
    t.true(device.name.length > 0);
    t.true(device.totalMemory > 0);
    t.regex(device.computeCapability, /^\d+\.\d+$/);
  }
}

test('backendInfo() reports the version, the CPU threads and the CUDA backend in the documented shape', (t) => {
  const info = backendInfo();
  assertShape(t, info);
});

test('`autoscale info --json` prints backendInfo() as JSON', (t) => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli.ts', 'info', '--json'], {
    cwd: root,
    encoding: 'utf8',
    env: process.env,
  });
  t.is(result.status, 0, result.stderr);
  const printed = JSON.parse(result.stdout) as BackendInfo;
  assertShape(t, printed);
  t.deepEqual(printed, backendInfo());
});

test('`autoscale info --json` says CUDA is not compiled in for a CPU-only (node-gyp) build', (t) => {
  // The node-gyp build never compiles CUDA; the cmake-js build does where nvcc is installed.
  const info = backendInfo();
  if (info.backends.cuda.compiled) {
    t.false(process.env.AUTOSCALE_ADDON?.includes('/build/Release/') ?? false, 'the node-gyp build must be CPU-only');
    return;
  }
  t.false(info.backends.cuda.available);
  t.deepEqual(info.backends.cuda.devices, []);
  t.regex(info.backends.cuda.reason ?? '', /not compiled/);
});

test('`autoscale info` prints a human summary', (t) => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli.ts', 'info'], { cwd: root, encoding: 'utf8', env: process.env });
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, new RegExp(`^autoscale-lm ${version.replace(/\./g, '\\.')}\\ncpu: {2}available, \\d+ threads; GEMM blocking L1d \\d+ KB, [^\\n]+\\ncuda: `));
});

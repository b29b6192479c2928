#!/usr/bin/env node
// Builds the native addon. The CMake build (cmake-js) is the main one and writes
// build-cmake/Release/autoscale.node; when CMake is missing or fails, node-gyp builds the
// same CPU sources into build/Release/autoscale.node. The two builds use different folders so
// `node-gyp rebuild` (which wipes build/) never deletes cmake-js's output.
//
//   node scripts/build-native.mjs          cmake-js, falling back to node-gyp
//   node scripts/build-native.mjs --cmake  cmake-js only (fails if it fails)
//   node scripts/build-native.mjs --gyp    node-gyp only
//
// node-gyp has no CUDA. A fallback says so in a banner (why CMake failed, what was lost, the fix)
// and in build/autoscale-fallback.json, which `autoscale info` reports (npm shows nothing of a
// successful install script). With AUTOSCALE_CUDA=ON a failed CMake build fails: no fallback.
//
// Environment: AUTOSCALE_CUDA=AUTO|ON|OFF (default AUTO: CUDA when nvcc is found),
// AUTOSCALE_CUDA_ARCHITECTURES="80;90", AUTOSCALE_NATIVE_ARCH=ON|OFF (-march=native), AUTOSCALE_MARCH=x86-64-v3 (that -march instead),
// AUTOSCALE_BUILD_JOBS (default: number of CPUs).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const mode = process.argv.includes('--gyp') ? 'gyp' : process.argv.includes('--cmake') ? 'cmake' : 'auto';
const jobs = String(process.env.AUTOSCALE_BUILD_JOBS || availableParallelism());

// Where a fallback to node-gyp is recorded (what was lost and why), for `autoscale info` and
// lib/native.ts; node-gyp's own `rebuild` wipes build/, so it is written after that build.
const fallbackRecord = path.join(root, 'build', 'autoscale-fallback.json');

/** Runs a command with its output passed through; resolves with { ok, why, tail } (tail: its last output lines). */
function run(command, args) {
  console.error(`[autoscale-lm] ${command} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let tail = '';
    const keep = (chunk, stream) => {
      stream.write(chunk);
      tail = (tail + chunk.toString()).slice(-16384);
    };
    child.stdout.on('data', (chunk) => keep(chunk, process.stdout));
    child.stderr.on('data', (chunk) => keep(chunk, process.stderr));
    child.on('error', (error) => resolve({ ok: false, why: `could not start ${command}: ${error.message}`, tail }));
    child.on('close', (status, signal) =>
      resolve({ ok: status === 0, why: signal ? `killed by ${signal}` : `exited with status ${status}`, tail }),
    );
  });
}

/** The nvcc CMake's check_language(CUDA) would find ($CUDACXX, PATH, $CUDA_HOME, /usr/local/cuda), or undefined. */
function findNvcc() {
  if (process.env.CUDACXX && existsSync(process.env.CUDACXX)) return process.env.CUDACXX;
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  for (const home of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) if (home) dirs.push(path.join(home, 'bin'));
  return dirs.map((dir) => path.join(dir, 'nvcc')).find((file) => existsSync(file));
}

/** The error lines of a failed build's output, at most a few: CMake's first error, else the lines that say error or fail. */
function cmakeErrors(tail) {
  const lines = tail.split('\n').map((line) => line.trim()).filter(Boolean);
  const start = lines.findIndex((line) => /CMake Error/.test(line));
  if (start >= 0) return lines.slice(start, start + 6);
  const errors = lines.filter((line) => /error|fail|not found|cannot/i.test(line));
  return (errors.length > 0 ? errors : lines).slice(-4);
}

async function buildWithCMake() {
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    console.error('[autoscale-lm] cmake-js is not installed: skipping the CMake build');
    return { ok: false, why: 'cmake-js is not installed', tail: '' };
  }
  const wanted = {
    AUTOSCALE_CUDA: process.env.AUTOSCALE_CUDA || 'AUTO',
    AUTOSCALE_NATIVE_ARCH: process.env.AUTOSCALE_NATIVE_ARCH || 'ON',
    AUTOSCALE_MARCH: process.env.AUTOSCALE_MARCH || '',
    ...(process.env.AUTOSCALE_CUDA_ARCHITECTURES ? { AUTOSCALE_CUDA_ARCHITECTURES: process.env.AUTOSCALE_CUDA_ARCHITECTURES } : {}),
  };
  const defines = Object.entries(wanted).map(([name, value]) => `--CD${name}=${value}`);
  // cmake-js `compile` configures only a new build folder: an existing one keeps the options it was configured
  // with (and the source folder it was configured for, when it was copied from another checkout). Then rebuild.
  const stale = staleBuildOptions(path.join(root, 'build-cmake', 'CMakeCache.txt'), wanted);
  if (stale.length > 0) console.error(`[autoscale-lm] build-cmake/ was configured with other options (${stale.join('; ')}): configuring it again`);
  return run(process.execPath, [cmakeJs, stale.length > 0 ? 'rebuild' : 'compile', '--out', 'build-cmake', '--parallel', jobs, ...defines]);
}

/** What in an existing CMake cache differs from the options asked for (and its source folder from this one); [] when none or no cache. */
function staleBuildOptions(cacheFile, wanted) {
  if (!existsSync(cacheFile)) return [];
  const cache = new Map();
  for (const line of readFileSync(cacheFile, 'utf8').split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$/.exec(line);
    if (match) cache.set(match[1], match[2]);
  }
  const stale = [];
  const home = cache.get('CMAKE_HOME_DIRECTORY');
  if (home !== undefined && path.resolve(home) !== root) stale.push(`source folder ${home}`);
  for (const [name, value] of Object.entries(wanted)) {
    const had = cache.get(name) ?? '';
    if (had.toUpperCase() !== String(value).toUpperCase()) stale.push(`${name}=${had} instead of ${value}`);
  }
  return stale;
}

async function buildWithGyp() {
  let nodeGyp;
  try {
    nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    console.error('[autoscale-lm] node-gyp is not installed');
    return { ok: false, why: 'node-gyp is not installed', tail: '' };
  }
  // node-gyp downloads Node's headers unless told where they are. npm passes its `nodedir`
  // setting as npm_config_nodedir; run directly, we look for the headers beside this node.
  const args = [nodeGyp, 'rebuild', `--jobs=${jobs}`];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const nodedir =
    process.env.npm_config_nodedir ||
    (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  return run(process.execPath, args);
}

/**
 * Says loudly, and records in build/autoscale-fallback.json, that the CMake build failed and what
 * the node-gyp build lacks. npm hides a successful install script's output, so the record is what
 * `autoscale info` and `backendInfo().backends.cuda.reason` show later.
 */
function reportFallback(cmake, nvcc) {
  const errors = cmakeErrors(cmake.tail);
  const why = `the CMake build failed (${cmake.why})${errors.length ? `: ${errors.join(' | ')}` : ''}`;
  const lost = nvcc
    ? `the CUDA backend: nvcc was found (${nvcc}), so the CMake build would have compiled it; the node-gyp build has the CPU backend only, and backend 'cuda' will be unavailable`
    : 'nothing: no nvcc was found, so the CMake build would have had the CPU backend only too';
  const bar = '[autoscale-lm] ' + '='.repeat(78);
  console.error(
    [
      bar,
      '[autoscale-lm] WARNING: falling back to node-gyp, which builds the CPU sources only.',
      `[autoscale-lm] Why: ${why}`,
      `[autoscale-lm] Lost: ${lost}.`,
      '[autoscale-lm] Fix: read the CMake output above, install CMake >= 3.19 (and the CUDA toolkit for CUDA), then',
      '[autoscale-lm] `npm rebuild autoscale-lm`; set AUTOSCALE_CUDA=ON to make a lost CUDA backend fail the install,',
      '[autoscale-lm] or AUTOSCALE_CUDA=OFF if you want the CPU backend only.',
      bar,
    ].join('\n'),
  );
  return { builder: 'node-gyp', cmakeFailed: why, cudaLost: Boolean(nvcc), ...(nvcc ? { nvcc } : {}) };
}

let result;
let fallback;
rmSync(fallbackRecord, { force: true });
if (mode === 'gyp') result = await buildWithGyp();
else if (mode === 'cmake') result = await buildWithCMake();
else {
  const cmake = await buildWithCMake();
  result = cmake;
  if (!cmake.ok) {
    const cuda = (process.env.AUTOSCALE_CUDA || 'AUTO').toUpperCase();
    const nvcc = cuda === 'OFF' ? undefined : findNvcc();
    if (cuda === 'ON') {
      console.error('[autoscale-lm] AUTOSCALE_CUDA=ON and the CMake build (the only one with CUDA) failed: not falling back to node-gyp');
    } else {
      fallback = reportFallback(cmake, nvcc);
      result = await buildWithGyp();
    }
  }
}
if (result.ok && fallback) {
  mkdirSync(path.dirname(fallbackRecord), { recursive: true });
  writeFileSync(fallbackRecord, `${JSON.stringify(fallback, null, 2)}\n`);
}
if (!result.ok) {
  console.error(
    '[autoscale-lm] building the native addon failed. It needs a C++17 compiler (g++ >= 9) and either ' +
      'CMake >= 3.19 or Python 3 for node-gyp. See README.md, section "Building".',
  );
  process.exit(1);
}

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
// Environment: AUTOSCALE_CUDA=AUTO|ON|OFF (default AUTO: CUDA when nvcc is found),
// AUTOSCALE_CUDA_ARCHITECTURES="80;90", AUTOSCALE_NATIVE_ARCH=ON|OFF (-march=native),
// AUTOSCALE_BUILD_JOBS (default: number of CPUs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const mode = process.argv.includes('--gyp') ? 'gyp' : process.argv.includes('--cmake') ? 'cmake' : 'auto';
const jobs = String(process.env.AUTOSCALE_BUILD_JOBS || availableParallelism());

function run(command, args, extraEnv = {}) {
  console.error(`[autoscale-lm] ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  if (result.error) {
    console.error(`[autoscale-lm] could not start ${command}: ${result.error.message}`);
    return false;
  }
  return result.status === 0;
}

function buildWithCMake() {
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    console.error('[autoscale-lm] cmake-js is not installed (it is a devDependency): skipping the CMake build');
    return false;
  }
  const defines = [
    `--CDAUTOSCALE_CUDA=${process.env.AUTOSCALE_CUDA || 'AUTO'}`,
    `--CDAUTOSCALE_NATIVE_ARCH=${process.env.AUTOSCALE_NATIVE_ARCH || 'ON'}`,
  ];
  if (process.env.AUTOSCALE_CUDA_ARCHITECTURES) {
    defines.push(`--CDAUTOSCALE_CUDA_ARCHITECTURES=${process.env.AUTOSCALE_CUDA_ARCHITECTURES}`);
  }
  return run(process.execPath, [cmakeJs, 'compile', '--out', 'build-cmake', '--parallel', jobs, ...defines]);
}

function buildWithGyp() {
  let nodeGyp;
  try {
    nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    console.error('[autoscale-lm] node-gyp is not installed (it is a devDependency)');
    return false;
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

let ok;
if (mode === 'gyp') ok = buildWithGyp();
else if (mode === 'cmake') ok = buildWithCMake();
else {
  ok = buildWithCMake();
  if (!ok) {
    console.error('[autoscale-lm] the CMake build failed; falling back to node-gyp (CPU backend only)');
    ok = buildWithGyp();
  }
}
if (!ok) {
  console.error(
    '[autoscale-lm] building the native addon failed. It needs a C++17 compiler (g++ >= 9) and either ' +
      'CMake >= 3.19 or Python 3 for node-gyp. See README.md, section "Building".',
  );
  process.exit(1);
}

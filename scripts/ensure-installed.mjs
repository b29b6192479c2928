#!/usr/bin/env node
// Runs before `npm start` and `npm test` (prestart / pretest).
// - On a fresh clone, where nothing is installed yet, it runs `npm ci` once (dependencies, the
//   native addon build, the TypeScript build), so the README's two commands work as they are.
// - After a `git pull` (or an edit) that leaves the native addon or dist/ older than their
//   sources, it rebuilds what is stale, so `npm start` never runs yesterday's trainer.
// When everything is in place and current it does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => path.join(root, p);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(what, command, args) {
  console.error(`[autoscale-lm] ${what}...`);
  // the build's output goes to stderr with the progress: stdout carries only the command's result
  // (`npm start > result.txt` holds the demo's answer, not cmake's log)
  const result = spawnSync(command, args, { cwd: root, stdio: ['inherit', 2, 'inherit'] });
  if (result.status !== 0) {
    console.error(`[autoscale-lm] ${what} failed; see the output above (README.md, section "Building")`);
    process.exit(result.status ?? 1);
  }
}

/** Newest modification time (ms) of the files under `paths` (files or folders). */
function newest(paths) {
  let latest = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const stat = statSync(p);
    if (stat.isDirectory()) for (const entry of readdirSync(p)) visit(path.join(p, entry));
    else latest = Math.max(latest, stat.mtimeMs);
  };
  paths.forEach((p) => visit(at(p)));
  return latest;
}

const addons = ['build-cmake/Release/autoscale.node', 'build/Release/autoscale.node'].filter((p) => existsSync(at(p)));
const missing = [];
if (!existsSync(at('node_modules/.package-lock.json'))) missing.push('dependencies (node_modules)');
if (!existsSync(at('dist/cli.js'))) missing.push('the compiled TypeScript (dist/)');
if (addons.length === 0 && !process.env.AUTOSCALE_ADDON) missing.push('the native addon (build-cmake/ or build/)');

if (missing.length > 0) {
  const args = existsSync(at('package-lock.json')) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  run(`first run: installing ${missing.join(', ')} with npm ${args[0]} (a few minutes)`, npm, args);
} else {
  if (!process.env.AUTOSCALE_ADDON) {
    const addonTime = Math.max(...addons.map((p) => statSync(at(p)).mtimeMs));
    if (newest(['native', 'CMakeLists.txt', 'binding.gyp']) > addonTime) {
      run('the native sources are newer than the built addon: rebuilding it', process.execPath, [at('scripts/build-native.mjs')]);
    }
  }
  if (newest(['lib', 'package.json']) > statSync(at('dist/cli.js')).mtimeMs) {
    run('lib/ is newer than dist/: compiling the TypeScript', npm, ['run', '--silent', 'build:ts']);
  }
}

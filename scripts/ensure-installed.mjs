#!/usr/bin/env node
// Runs before `npm start` and `npm test` (prestart / pretest): on a fresh clone, where nothing is
// installed yet, it runs `npm ci` once (dependencies, the native addon build, the TypeScript build),
// so the README's two commands work as they are. When everything is in place it does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => path.join(root, p);
const missing = [];
if (!existsSync(at('node_modules/.package-lock.json'))) missing.push('dependencies (node_modules)');
if (!existsSync(at('dist/cli.js'))) missing.push('the compiled TypeScript (dist/)');
if (!existsSync(at('build-cmake/Release/autoscale.node')) && !existsSync(at('build/Release/autoscale.node')) && !process.env.AUTOSCALE_ADDON) {
  missing.push('the native addon (build-cmake/ or build/)');
}
if (missing.length > 0) {
  console.error(`[autoscale-lm] first run: installing ${missing.join(', ')} with npm ci (a few minutes)...`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = existsSync(at('package-lock.json')) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  const result = spawnSync(npm, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[autoscale-lm] npm ci failed; see the output above (README.md, section "Building")');
    process.exit(result.status ?? 1);
  }
}

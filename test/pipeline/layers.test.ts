// The layers of lib/: the CLI (lib/cli.ts and lib/cli/) is the top layer, so nothing below it imports
// from it. lib/index.ts, the public API, is below it too (test/package/api.test.ts: the CLI's
// top-level await would break require('autoscale-lm')).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function typeScriptUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return typeScriptUnder(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

/** The module specifiers of a file's static imports and re-exports and of its dynamic import() calls. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The repository path (lib/...) a relative specifier names, with .js read as the .ts source; null for packages. */
function resolved(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  return path.posix.join(path.posix.dirname(file), specifier).replace(/\.js$/, '.ts');
}

const isCli = (file: string): boolean => file === 'lib/cli.ts' || file.startsWith('lib/cli/');

test('the import scan sees the CLI importing its commands (so an empty result below means something)', (t) => {
  const targets = importsOf('lib/cli.ts').map((s) => resolved('lib/cli.ts', s));
  t.true(targets.includes('lib/cli/ddo.ts'), JSON.stringify(targets));
  t.true(importsOf('lib/pipeline/run.ts').some((s) => s === '../composition.js'));
});

test('nothing under lib/ outside the CLI (lib/cli.ts, lib/cli/) imports from the CLI, the public index included', (t) => {
  const offenders = typeScriptUnder('lib')
    .filter((file) => !isCli(file))
    .flatMap((file) => importsOf(file).filter((s) => { const target = resolved(file, s); return target !== null && isCli(target); }).map((s) => `${file} imports ${s}`));
  t.deepEqual(offenders, [], 'move what these files need out of the CLI (document builders: lib/composition.ts; formatters: lib/format.ts)');
});

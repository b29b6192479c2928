// native/sources.json is the one list of native sources (read by CMakeLists.txt and binding.gyp):
// every .cpp / .cu under native/ is listed, and every listed file exists.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const lists = JSON.parse(readFileSync(path.join(root, 'native/sources.json'), 'utf8')) as Record<string, unknown>;
const listed = Object.entries(lists)
  .filter(([key]) => key !== '//')
  .flatMap(([, files]) => files as string[]);

function sourcesUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourcesUnder(relative);
    return /\.(cpp|cu)$/.test(entry.name) ? [relative] : [];
  });
}

test('sources.json has the lists core, addon, cuda and no_cuda, each an array of paths', (t) => {
  for (const key of ['core', 'addon', 'cuda', 'no_cuda']) {
    t.true(Array.isArray(lists[key]), key);
    for (const file of lists[key] as unknown[]) t.is(typeof file, 'string');
  }
});

test('every .cpp and .cu file under native/ is listed in native/sources.json', (t) => {
  const missing = sourcesUnder('native').filter((file) => !listed.includes(file));
  t.deepEqual(missing, [], 'add these files to native/sources.json');
});

test('every file listed in native/sources.json exists, once', (t) => {
  t.deepEqual(listed.filter((file) => !existsSync(path.join(root, file))), []);
  t.deepEqual(listed.filter((file, i) => listed.indexOf(file) !== i), [], 'listed twice');
});

test('only native/addon/ sources include napi.h (the core knows nothing of Node)', (t) => {
  const offenders = sourcesUnder('native')
    .filter((file) => !file.startsWith('native/addon/'))
    .filter((file) => /#include\s*[<"]napi\.h[>"]/.test(readFileSync(path.join(root, file), 'utf8')));
  t.deepEqual(offenders, []);
});

import test from 'ava';
import path from 'node:path';
import { DataError, loadDataConfig, parseDataConfig } from '../../lib/data/index.js';
import { tempDir, writeFiles } from './fixtures.js';

const base = { tokenizer: 'byte', domains: [{ name: 'books', sources: ['books/'] }] };

test('a valid config resolves relative paths against its folder and fills the defaults', (t) => {
  const config = parseDataConfig({
    ...base,
    domains: [{ name: 'books', sources: ['books/', { path: 'web.jsonl', field: 'body' }, { path: '/abs/news.txt', separator: '\n\n\n' }] }],
  }, '/corpora');
  t.is(config.tokenizer, 'byte');
  t.deepEqual(config.heldOut, { fraction: 0.1, documents: undefined, seed: 0 });
  const [dir, jsonl, news] = config.domains[0]!.sources;
  t.is(dir!.path, '/corpora/books');
  t.is(jsonl!.field, 'body');
  t.is(news!.path, '/abs/news.txt');
  t.is(news!.separator, '\n\n\n');
  t.is(news!.invalidUtf8, 'error');
});

test('a pipeline config with a "data" object is read through it, and errors name data.<field>', (t) => {
  t.is(parseDataConfig({ data: base, ddo: {} }, '/c').domains[0]!.name, 'books');
  const error = t.throws(() => parseDataConfig({ data: { ...base, tokenizer: 'bpe' } }, '/c'), { instanceOf: DataError });
  t.regex(error.message, /^data\.tokenizer /);
});

// Each bad config: [what, config, pattern the message must match (the field and the fix)].
const badConfigs: Array<[string, unknown, RegExp]> = [
  ['not an object', [1, 2], /^config .*fix: give a JSON object/],
  ['no domains', { tokenizer: 'byte' }, /^domains is missing; fix: list the domains/],
  ['empty domains', { domains: [] }, /^domains is not a non-empty array; fix:/],
  ['unknown tokenizer', { ...base, tokenizer: 'bpe' }, /^tokenizer is "bpe"; fix: use one of "byte", "gpt2"/],
  ['unknown top-level field', { ...base, tokeniser: 'byte' }, /^config\.tokeniser is not a known field; fix: use only "tokenizer"/],
  ['bad domain name', { domains: [{ name: 'my books', sources: ['a'] }] }, /^domains\[0\]\.name is "my books"; fix: give a name/],
  ['duplicate domain', { domains: [{ name: 'a', sources: ['x'] }, { name: 'a', sources: ['y'] }] }, /^domains\[1\]\.name repeats "a"; fix: give each domain a different name/],
  ['no sources', { domains: [{ name: 'a' }] }, /^domains\[0\]\.sources is missing; fix: list files/],
  ['source without path', { domains: [{ name: 'a', sources: [{ field: 'text' }] }] }, /^domains\[0\]\.sources\[0\]\.path is missing; fix:/],
  ['unknown source field', { domains: [{ name: 'a', sources: [{ path: 'x', feild: 'text' }] }] }, /^domains\[0\]\.sources\[0\]\.feild is not a known field; fix: use only "path"/],
  ['bad format', { domains: [{ name: 'a', sources: [{ path: 'x', format: 'csv' }] }] }, /^domains\[0\]\.sources\[0\]\.format is "csv"; fix: use "text" or "jsonl"/],
  ['empty separator', { domains: [{ name: 'a', sources: [{ path: 'x', separator: '' }] }] }, /\.separator is ""; fix: give a non-empty string/],
  ['bad invalidUtf8', { ...base, invalidUtf8: 'skip' }, /^invalidUtf8 is "skip"; fix: use "error" .* or "replace"/],
  ['held-out fraction 0', { ...base, heldOut: { fraction: 0 } }, /^heldOut\.fraction is 0; fix: give a share strictly between 0 and 1/],
  ['held-out fraction and documents', { ...base, heldOut: { fraction: 0.1, documents: 3 } }, /^heldOut sets both "fraction" and "documents"; fix: keep one/],
  ['held-out documents 0', { ...base, heldOut: { documents: 0 } }, /^heldOut\.documents is 0; fix: give a whole number/],
  ['negative seed', { ...base, heldOut: { seed: -1 } }, /^heldOut\.seed is -1; fix: give a non-negative integer/],
];

for (const [what, value, pattern] of badConfigs) {
  test(`a config with ${what} is rejected with a message naming the field and the fix`, (t) => {
    const error = t.throws(() => parseDataConfig(value, '/c'), { instanceOf: DataError });
    t.is(error.code, 'ERR_DATA_CONFIG');
    t.regex(error.message, pattern);
  });
}

test('loadDataConfig names the file when it is missing or not JSON', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'broken.json': '{ "domains": [ }', 'ok.json': JSON.stringify(base) });
  const missing = await t.throwsAsync(loadDataConfig(path.join(dir, 'none.json')), { instanceOf: DataError });
  t.regex(missing.message, /cannot read the data config .*none\.json.*fix: check the path/);
  const broken = await t.throwsAsync(loadDataConfig(path.join(dir, 'broken.json')), { instanceOf: DataError });
  t.regex(broken.message, /broken\.json is not valid JSON .*fix: correct the JSON syntax/);
  const ok = await loadDataConfig(path.join(dir, 'ok.json'));
  t.is(ok.domains[0]!.sources[0]!.path, path.join(dir, 'books'));
});

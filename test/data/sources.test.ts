import test from 'ava';
import { isUtf8 } from 'node:buffer';
import { chmodSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import {
  DataError,
  firstInvalidUtf8,
  prepareData,
  readDocuments,
  resolveSources,
  type DataConfig,
} from '../../lib/data/index.js';
import { config, tempDir, writeFiles } from './fixtures.js';

async function documentsOf(data: DataConfig, domain = 0): Promise<string[]> {
  const docs: string[] = [];
  for (const file of await resolveSources(data.domains[domain]!)) for await (const doc of readDocuments(file)) docs.push(doc);
  return docs;
}

const MiB = 1 << 20;

test('plain text: one document per file, directories recursed in sorted order, hidden files skipped', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'c/b.txt': 'second', 'c/a.txt': 'first', 'c/sub/z.txt': 'third', 'c/.hidden': 'no', 'c/empty.txt': ' \n ' });
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources: ['c'] }] })), ['first', 'second', 'third']);
});

test('globs match * within a folder and ** across folders', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'g/a.txt': 'A', 'g/b.md': 'B', 'g/deep/c.txt': 'C', 'g/deep/er/d.txt': 'D' });
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources: ['g/*.txt'] }] })), ['A']);
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources: ['g/**/*.txt'] }] })), ['A', 'C', 'D']);
});

test('plain text with a separator yields the documents between separators exactly, across 1 MiB read chunks', async (t) => {
  const dir = tempDir(t);
  // The separator straddles the first chunk boundary; the UTF-8 character before it too.
  const first = 'x'.repeat(MiB - 3) + 'é';
  const text = `${first}<SEP>second doc<SEP><SEP>third\n<SEP>`;
  writeFiles(dir, { 'big.txt': text });
  const docs = await documentsOf(config(dir, { domains: [{ name: 'x', sources: [{ path: 'big.txt', separator: '<SEP>' }] }] }));
  t.deepEqual(docs.map((d) => d.length), [first.length, 'second doc'.length, 'third\n'.length]);
  t.is(docs[0], first);
  t.deepEqual(docs.slice(1), ['second doc', 'third\n']);
});

test('JSONL: the named field (dotted paths too) of each non-blank line, CRLF and BOM tolerated', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, {
    'a.jsonl': '\ufeff{"text": "one"}\r\n\n{"text": "two", "id": 2}\n{"text": ""}\n{"text": "three"}',
    'b.ndjson': '{"meta": {"body": "nested"}}\n',
  });
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources: ['a.jsonl'] }] })), ['one', 'two', 'three']);
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources: [{ path: 'b.ndjson', field: 'meta.body' }] }] })), ['nested']);
});

test('a missing path is rejected naming the domain, the source, the path and the fix', async (t) => {
  const dir = tempDir(t);
  const error = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'books', sources: ['nowhere.txt'] }] })), { instanceOf: DataError });
  t.is(error.code, 'ERR_DATA_SOURCE');
  t.regex(error.message, /domain "books", sources\[0\]: cannot read .*nowhere\.txt \(no such file or directory\); fix: check the path/);
});

test('a glob that matches nothing and an empty directory are rejected', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'e/.keep': '' });
  const glob = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: ['*.none'] }] })), { instanceOf: DataError });
  t.regex(glob.message, /no file matches .*\*\.none; fix: check the pattern/);
  const empty = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: ['e'] }] })), { instanceOf: DataError });
  t.regex(empty.message, /directory .*e holds no files; fix:/);
});

test('an unreadable file is rejected naming it', async (t) => {
  if (process.getuid?.() === 0) {
    t.pass('root reads every file: permission errors cannot be provoked');
    return;
  }
  const dir = tempDir(t);
  writeFiles(dir, { 'secret.txt': 'text' });
  chmodSync(path.join(dir, 'secret.txt'), 0o000);
  t.teardown(() => chmodSync(path.join(dir, 'secret.txt'), 0o600));
  const error = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: ['secret.txt'] }] })), { instanceOf: DataError });
  t.regex(error.message, /cannot read .*secret\.txt \(permission denied\)/);
});

test('invalid UTF-8 in a text file is rejected with its byte offset, also past the first 1 MiB chunk', async (t) => {
  const dir = tempDir(t);
  const bad = Buffer.concat([Buffer.from('a'.repeat(MiB + 10)), Buffer.from([0xc3, 0x28]), Buffer.from('tail')]);
  writeFiles(dir, { 'bad.txt': bad, 'early.txt': Buffer.from([0x61, 0x62, 0xff]) });
  const error = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: ['bad.txt'] }] })), { instanceOf: DataError });
  t.is(error.code, 'ERR_DATA_UTF8');
  t.is(error.offset, MiB + 10);
  t.regex(error.message, new RegExp(`bad\\.txt: invalid UTF-8 at byte offset ${MiB + 10}; fix: re-encode the file as UTF-8 .*"invalidUtf8": "replace"`));
  const early = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: ['early.txt'] }] })), { instanceOf: DataError });
  t.is(early.offset, 2);
});

test('a UTF-8 sequence truncated at the end of a file is invalid at its first byte', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'cut.txt': Buffer.from([0x61, 0xe2, 0x82]) });
  const error = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: ['cut.txt'] }] })), { instanceOf: DataError });
  t.is(error.offset, 1);
});

test('"invalidUtf8": "replace" decodes bad bytes as U+FFFD instead', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'bad.txt': Buffer.from([0x61, 0xff, 0x62]) });
  t.deepEqual(await documentsOf(config(dir, { invalidUtf8: 'replace', domains: [{ name: 'x', sources: ['bad.txt'] }] })), ['a\ufffdb']);
});

test('JSONL errors name the file and line: invalid UTF-8, malformed JSON, not an object, missing field, non-string field', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, {
    'utf8.jsonl': Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "'), Buffer.from([0xff]), Buffer.from('"}\n')]),
    'syntax.jsonl': '{"text": "ok"}\n\n{"text": "unterminated}\n',
    'array.jsonl': '["text"]\n',
    'field.jsonl': '{"text": "ok"}\n{"body": "x", "id": 1}\n',
    'type.jsonl': '{"text": 42}\n',
  });
  const cases: Array<[string, RegExp, number]> = [
    ['utf8.jsonl', /utf8\.jsonl: invalid UTF-8 at line 2 \(byte offset 25\); fix: re-encode/, 2],
    ['syntax.jsonl', /syntax\.jsonl:3: malformed JSON \(.*\); fix: write one complete JSON object per line/, 3],
    ['array.jsonl', /array\.jsonl:1: the line is an array, not a JSON object; fix:/, 1],
    ['field.jsonl', /field\.jsonl:2: missing field "text" \(keys: "body", "id"\); fix: add it to every line, or set "field"/, 2],
    ['type.jsonl', /type\.jsonl:1: field "text" is number, not a string; fix:/, 1],
  ];
  for (const [file, pattern, line] of cases) {
    const error = await t.throwsAsync(documentsOf(config(dir, { domains: [{ name: 'x', sources: [file] }] })), { instanceOf: DataError });
    t.regex(error.message, pattern);
    t.is(error.line, line, file);
  }
});

test('a domain with no text is rejected when prepared, and leaves nothing in the cache', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'blank.txt': '   \n\n', 'empty.jsonl': '{"text": ""}\n' });
  const cacheDir = path.join(dir, 'cache');
  const error = await t.throwsAsync(
    prepareData(config(dir, { domains: [{ name: 'void', sources: ['blank.txt', 'empty.jsonl'] }] }), { cacheDir }),
    { instanceOf: DataError },
  );
  t.is(error.code, 'ERR_DATA_EMPTY');
  t.regex(error.message, /domain "void" has no text: its 2 file\(s\) hold no document with a non-space character; fix:/);
  t.deepEqual(readdirSync(cacheDir), []);
});

test('firstInvalidUtf8 agrees with the platform validator on random byte strings', (t) => {
  let x = 12345;
  const pool = [0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xa0, 0xed, 0x9f, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5, 0xff];
  for (let trial = 0; trial < 3000; trial++) {
    const bytes = new Uint8Array(1 + (trial % 7));
    for (let i = 0; i < bytes.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bytes[i] = pool[(x >>> 16) % pool.length]!;
    }
    const at = firstInvalidUtf8(bytes);
    t.is(at === -1, isUtf8(bytes));
    if (at >= 0) t.true(isUtf8(bytes.subarray(0, at)));
  }
});

test('each real file is read once: a link to a parent folder is not followed round, a linked file is not read twice', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'd/a.txt': 'alpha', 'd/b.txt': 'beta' });
  symlinkSync(dir, path.join(dir, 'd', 'up')); // the folder above d: walking it reaches d again
  symlinkSync(path.join(dir, 'd'), path.join(dir, 'd', 'self'));
  symlinkSync(path.join(dir, 'd', 'a.txt'), path.join(dir, 'd', 'c-link.txt'));
  const files = await resolveSources(config(dir, { domains: [{ name: 'x', sources: ['d'] }] }).domains[0]!);
  t.deepEqual(files.map((f) => path.relative(dir, f.path)), [path.join('d', 'a.txt'), path.join('d', 'b.txt')]);
  const prepared = await prepareData(config(dir, { heldOut: { documents: 1 }, domains: [{ name: 'x', sources: ['d'] }] }), { cacheDir: path.join(dir, 'cache') });
  t.is(prepared.domains[0]!.sourceFiles, 2);
  t.is(prepared.domains[0]!.trainDocuments + prepared.domains[0]!.heldOutDocuments, 2);
});

test('a glob and a directory of one domain that reach the same file read it once', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'g/a.txt': 'A', 'g/sub/b.txt': 'B' });
  symlinkSync(path.join(dir, 'g', 'sub'), path.join(dir, 'g', 'alias'));
  const sources = ['g', 'g/**/*.txt', 'g/sub/b.txt'];
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources }] })), ['A', 'B']);
  // A glob that matches a folder only under a linked name still finds its files.
  t.deepEqual(await documentsOf(config(dir, { domains: [{ name: 'x', sources: ['g/alias/*.txt'] }] })), ['B']);
});

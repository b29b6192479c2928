import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  declarationChunks,
  DEMO_DOMAINS,
  demoDataConfig,
  demoDocuments,
  loadDataConfig,
  messageBody,
  prepareData,
  proseChunks,
  wordnetGloss,
  type DemoDomain,
} from '../../lib/data/index.js';
import { buildProgram } from '../../lib/cli.js';
import { tempDir } from './fixtures.js';

const CAP = 64 * 1024;
const cache = new Map<DemoDomain, Promise<string[]>>();
function documents(domain: DemoDomain): Promise<string[]> {
  if (!cache.has(domain)) cache.set(domain, demoDocuments(domain, CAP));
  return cache.get(domain)!;
}

for (const domain of DEMO_DOMAINS) {
  test(`demo domain ${domain}: distinct non-empty documents filling the cap without passing it`, async (t) => {
    const docs = await documents(domain);
    const bytes = docs.reduce((sum, d) => sum + Buffer.byteLength(d), 0);
    t.true(bytes <= CAP);
    t.true(bytes > 0.8 * CAP, `${bytes} bytes`);
    t.true(docs.length >= 2);
    t.true(docs.every((d) => d.trim().length > 0));
    t.is(new Set(docs).size, docs.length);
  });
}

test('books: single chapters of Moby Dick, never the whole-book copy the package also ships', async (t) => {
  for (const doc of await documents('books')) {
    t.true((doc.match(/^CHAPTER \d+\./gm) ?? []).length <= 1);
    t.false(doc.startsWith('CONTENTS'));
  }
  t.true((await documents('books')).some((d) => /^CHAPTER \d+\. /.test(d)));
});

test('prose is cut at sentence ends into pieces of at most the piece size', (t) => {
  t.deepEqual(proseChunks('One. Two. Three.', 10), ['One. Two.', 'Three.']);
  t.deepEqual(proseChunks('Mr. Starbuck said "Aye." Then he left! Done?', 1 << 20), ['Mr. Starbuck said "Aye." Then he left! Done?']);
  const pieces = proseChunks('A sentence here. '.repeat(100), 100);
  t.true(pieces.every((p) => Buffer.byteLength(p) <= 100));
  t.is(pieces.join(' '), 'A sentence here. '.repeat(100).trim());
});

test('email: message bodies without headers', async (t) => {
  for (const doc of await documents('email')) t.notRegex(doc, /^(Return-Path|Received|Delivered-To|Message-Id|X-[\w-]+):/);
  t.is(messageBody(Buffer.from('Return-Path: <a@b>\nSubject: hi\n  folded\n\nHello there.\n')), 'Hello there.');
  t.is(messageBody(Buffer.from('Content-Type: text/html\n\n<p>hi</p>')), null);
  t.is(messageBody(Buffer.from('Content-Type: multipart/alternative; boundary=x\n\n--x')), null);
  t.is(messageBody(Buffer.from('Content-Transfer-Encoding: base64\n\naGk=')), null);
  t.is(messageBody(Buffer.from([0x53, 0x3a, 0x20, 0x61, 0x0a, 0x0a, 0xe9])), null); // latin-1 body: not UTF-8
});

test('lexicon: WordNet glosses only, without the licence header or synset offsets and pointers', async (t) => {
  for (const doc of await documents('lexicon')) {
    t.false(/LICENSEE|Princeton University/.test(doc));
    for (const line of doc.split('\n')) {
      t.regex(line, /^[^|]+ \((n|v|adj|adv)\.\): \S/);
      t.notRegex(line, /\d{8}/);
    }
  }
  t.is(wordnetGloss('  1 This software and database is being provided to you, the LICENSEE, by  ', 'n.'), null);
  t.is(wordnetGloss('00002137 03 n 02 abstraction 0 abstract_entity 0 010 @ 00001740 n 0000 | a general concept  ', 'n.'),
    'abstraction, abstract entity (n.): a general concept');
});

test('code: TypeScript declarations without the licence header or reference lines', async (t) => {
  for (const doc of await documents('code')) {
    t.false(doc.includes('Copyright (c) Microsoft Corporation'));
    t.false(doc.includes('/// <reference'));
  }
  const file = '/*! ****\nCopyright (c) Microsoft Corporation.\n***** */\n\n/// <reference lib="es5" />\n\ninterface A {\n    x: number;\n\n    y: string;\n}\n\ninterface B {}\n';
  t.deepEqual(declarationChunks(file, 1 << 20), ['interface A {\n    x: number;\n\n    y: string;\n}\n\ninterface B {}']);
  t.deepEqual(declarationChunks(file, 30), ['interface A {\n    x: number;\n\n    y: string;\n}', 'interface B {}']);
});

test('demoDataConfig writes the corpus and a data.json that loads to the same config, and it prepares', async (t) => {
  const dir = tempDir(t);
  const config = await demoDataConfig({ dir: path.join(dir, 'demo'), maxBytesPerDomain: 16 * 1024 });
  t.deepEqual(config.domains.map((d) => d.name), [...DEMO_DOMAINS]);
  t.deepEqual(await loadDataConfig(path.join(dir, 'demo', 'data.json')), config);
  const lines = readFileSync(path.join(dir, 'demo', 'books.jsonl'), 'utf8').trim().split('\n');
  t.true(lines.every((line) => typeof (JSON.parse(line) as { text: unknown }).text === 'string'));
  const prepared = await prepareData(config, { cacheDir: path.join(dir, 'cache') });
  for (const d of prepared.domains) t.true(d.trainTokens > 0 && d.heldOutTokens > 0, d.name);
});

test('`autoscale data prepare <config> --json` prints each domain\'s supply and reuses the cache on a rerun', async (t) => {
  const dir = tempDir(t);
  await demoDataConfig({ dir, maxBytesPerDomain: 8 * 1024 });
  const run = async (): Promise<{ domains: Array<{ name: string; uniqueTrainTokens: number; cached: boolean }> }> => {
    const writes: string[] = [];
    const stdout = process.stdout.write.bind(process.stdout);
    const stderr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string) => writes.push(String(chunk)) > 0) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await buildProgram().parseAsync(['node', 'autoscale', 'data', 'prepare', path.join(dir, 'data.json'), '--cache', path.join(dir, 'cache'), '--json']);
    } finally {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    }
    return JSON.parse(writes.join(''));
  };
  const first = await run();
  t.deepEqual(first.domains.map((d) => d.name), [...DEMO_DOMAINS]);
  t.true(first.domains.every((d) => d.uniqueTrainTokens > 0 && !d.cached));
  t.true((await run()).domains.every((d) => d.cached));
});

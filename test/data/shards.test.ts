import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getTokenizer, loadShards, prepareData } from '../../lib/data/index.js';
import { config, tempDir, writeFiles } from './fixtures.js';

const twoDomains = { domains: [{ name: 'a', sources: ['a'] }, { name: 'b', sources: ['b.jsonl'] }] };

function corpus(dir: string): void {
  writeFiles(dir, {
    'a/1.txt': 'first document of a',
    'a/2.txt': 'second document of a',
    'a/3.txt': 'third document of a',
    'b.jsonl': '{"text": "b one"}\n{"text": "b two"}\n{"text": "b three"}\n',
  });
}

// Folders in the cache that a reader would take for entries (not hidden).
function entries(cacheDir: string): string[] {
  return readdirSync(cacheDir).filter((name) => !name.startsWith('.'));
}

test('shards hold every document followed by endOfText, in source order', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const prepared = await prepareData(config(dir, { ...twoDomains, heldOut: { documents: 1 } }), { cacheDir: path.join(dir, 'cache') });
  const a = prepared.domains[0]!;
  const shards = await loadShards(path.join(dir, 'cache', a.shardKey), a.shardKey);
  t.truthy(shards);
  t.is(getTokenizer('byte').decode(shards!.tokens), 'first document of a\0second document of a\0third document of a\0');
  t.deepEqual([...shards!.offsets], [0, 20, 41, 61]);
  t.is(shards!.manifest.documents, 3);
});

test('a second prepare of unchanged sources reuses the shards; changed content makes new ones', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const first = await prepareData(config(dir, twoDomains), { cacheDir });
  t.deepEqual(first.domains.map((d) => d.cached), [false, false]);
  const second = await prepareData(config(dir, twoDomains), { cacheDir });
  t.deepEqual(second.domains.map((d) => d.cached), [true, true]);
  t.is(second.key, first.key);
  t.deepEqual([...second.domains[0]!.train.tokens], [...first.domains[0]!.train.tokens]);

  writeFiles(dir, { 'a/2.txt': 'second document of a, edited' });
  const third = await prepareData(config(dir, twoDomains), { cacheDir });
  t.deepEqual(third.domains.map((d) => d.cached), [false, true]);
  t.not(third.domains[0]!.shardKey, first.domains[0]!.shardKey);
  t.not(third.key, first.key);
  t.is(entries(cacheDir).length, 3);
});

test('the shard key follows content, not paths: a moved corpus is found in the cache', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const before = await prepareData(config(dir, twoDomains), { cacheDir });
  renameSync(path.join(dir, 'a'), path.join(dir, 'moved'));
  const after = await prepareData(config(dir, { domains: [{ name: 'a', sources: ['moved'] }] }), { cacheDir });
  t.true(after.domains[0]!.cached);
  t.is(after.domains[0]!.shardKey, before.domains[0]!.shardKey);
});

test('the tokenizer is part of the key: gpt2 and byte shards of one corpus are separate entries', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const byte = await prepareData(config(dir, twoDomains), { cacheDir });
  const gpt2 = await prepareData(config(dir, { ...twoDomains, tokenizer: 'gpt2' }), { cacheDir });
  t.false(gpt2.domains[0]!.cached);
  t.not(gpt2.domains[0]!.shardKey, byte.domains[0]!.shardKey);
  t.is(gpt2.vocabSize, 50257);
  t.true(gpt2.domains[0]!.trainTokens < byte.domains[0]!.trainTokens);
});

test('a failure in the middle of a domain leaves no entry and no temporary folder', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'm/1.txt': 'good text', 'm/2.txt': Buffer.from([0x61, 0xff]) });
  const cacheDir = path.join(dir, 'cache');
  await t.throwsAsync(prepareData(config(dir, { domains: [{ name: 'm', sources: ['m'] }] }), { cacheDir }), { code: 'ERR_DATA_UTF8' } as never);
  t.deepEqual(readdirSync(cacheDir), []);
});

test('an entry without its manifest is not taken as complete: it is rebuilt', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const first = await prepareData(config(dir, twoDomains), { cacheDir });
  const key = first.domains[0]!.shardKey;
  rmSync(path.join(cacheDir, key, 'manifest.json'));
  t.is(await loadShards(path.join(cacheDir, key), key), null);
  const again = await prepareData(config(dir, twoDomains), { cacheDir });
  t.false(again.domains[0]!.cached);
  t.true(existsSync(path.join(cacheDir, key, 'manifest.json')));
});

test('a prepare killed while tokenizing leaves no entry that looks complete, and the next prepare finishes', async (t) => {
  const dir = tempDir(t);
  const big = Array.from({ length: 200 }, (_, k) => `document ${k} ${'lorem ipsum '.repeat(2000)}`);
  writeFiles(dir, { 'k/docs.txt': big.join('\n\n') });
  const cacheDir = path.join(dir, 'cache');
  const dataConfig = { domains: [{ name: 'k', sources: [{ path: 'k/docs.txt', separator: '\n\n' }] }] };
  writeFiles(dir, { 'data.json': JSON.stringify(dataConfig) });
  // A child process prepares the corpus and SIGKILLs itself at its first tokenizing progress report.
  const prepareModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../lib/data/index.ts');
  const script = `
    const { loadDataConfig, prepareData } = await import(${JSON.stringify(prepareModule)});
    const config = await loadDataConfig(${JSON.stringify(path.join(dir, 'data.json'))});
    await prepareData(config, { cacheDir: ${JSON.stringify(cacheDir)}, onProgress: (p) => {
      if (p.phase === 'tokenizing') process.kill(process.pid, 'SIGKILL');
    } });`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.is(child.signal, 'SIGKILL', child.stderr);
  t.deepEqual(entries(cacheDir), []);
  t.is(readdirSync(cacheDir).filter((name) => name.includes('.tmp-')).length, 1);

  const prepared = await prepareData(config(dir, dataConfig), { cacheDir });
  t.false(prepared.domains[0]!.cached);
  t.is(prepared.domains[0]!.trainDocuments + prepared.domains[0]!.heldOutDocuments, 200);
  t.deepEqual(readdirSync(cacheDir), [prepared.domains[0]!.shardKey]); // the stale temporary folder is gone
});

test('prepares of the same content at once (two pipelines on one cache) all succeed with the same tokens', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  // Started one after another in quick succession, as two processes on one cacheDir are: one's check of the
  // cache falls between another's check and its rename into place.
  const runs: Promise<Awaited<ReturnType<typeof prepareData>>>[] = [];
  for (let i = 0; i < 12; i++) {
    runs.push(prepareData(config(dir, twoDomains), { cacheDir }));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const prepared = await Promise.all(runs);
  for (const p of prepared) t.deepEqual([...p.domains[0]!.train.tokens], [...prepared[0]!.domains[0]!.train.tokens]);
});

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getTokenizer, loadShards, prepareData, readShards, type ShardManifest } from '../../lib/data/index.js';
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

// Overwrites a shard with other valid byte-tokenizer ids of the same size (what a size check misses).
function scrambleShard(file: string): void {
  const bytes = readFileSync(file);
  const ids = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) ids[i] = 97 + ((ids[i]! + 1) % 26);
  writeFileSync(file, new Uint8Array(ids.buffer));
}

test('a shard overwritten with same-size valid ids fails its checksum; the entry is tokenized again and says why', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const first = await prepareData(config(dir, twoDomains), { cacheDir });
  const key = first.domains[0]!.shardKey;
  scrambleShard(path.join(cacheDir, key, 'tokens-00000.bin'));
  const read = await readShards(path.join(cacheDir, key), key);
  t.is(read.status, 'damaged');
  t.regex(read.status === 'damaged' ? read.reason : '', /^tokens-00000\.bin: its SHA-256 is [0-9a-f]{16}\.\.\. but the manifest says [0-9a-f]{16}\.\.\.$/);
  t.is(await loadShards(path.join(cacheDir, key), key), null);

  const again = await prepareData(config(dir, twoDomains), { cacheDir });
  t.deepEqual(again.domains.map((d) => d.cached), [false, true]);
  t.regex(again.domains[0]!.cacheRebuiltBecause ?? '', /tokens-00000\.bin: its SHA-256/);
  t.true(again.domains[0]!.notes.includes(`damaged cache entry tokenized again (${again.domains[0]!.cacheRebuiltBecause})`));
  t.deepEqual([...again.domains[0]!.train.tokens], [...first.domains[0]!.train.tokens]);
  t.is(again.key, first.key); // the same tokens as before: the runs trained on them are still valid
  const third = await prepareData(config(dir, twoDomains), { cacheDir });
  t.deepEqual(third.domains.map((d) => d.cacheRebuiltBecause), [null, null]);
});

test('damaged document files and manifests are found too', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const first = await prepareData(config(dir, twoDomains), { cacheDir });
  const key = first.domains[1]!.shardKey;
  const entry = path.join(cacheDir, key);
  const offsets = readFileSync(path.join(entry, 'documents.bin'));
  offsets[8] = offsets[8]! ^ 1;
  writeFileSync(path.join(entry, 'documents.bin'), offsets);
  const read = await readShards(entry, key);
  t.regex(read.status === 'damaged' ? read.reason : '', /^documents\.bin: its SHA-256/);
  writeFileSync(path.join(entry, 'manifest.json'), '{"format": "autoscale-lm-shards", ');
  t.deepEqual(await readShards(entry, key), { status: 'damaged', reason: 'manifest.json is not valid JSON' });
  const again = await prepareData(config(dir, twoDomains), { cacheDir });
  t.is(again.domains[1]!.cacheRebuiltBecause, 'manifest.json is not valid JSON');
  t.is(again.key, first.key);
});

test('the data key follows the tokens trained on, not the sources: a cache entry with other tokens gets another key', async (t) => {
  // A cache entry whose tokens differ while the sources do not (a tokenizer build that changed, an
  // entry edited with its checksums): runs of the old tokens must not be reused for it.
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const first = await prepareData(config(dir, twoDomains), { cacheDir });
  const key = first.domains[0]!.shardKey;
  const entry = path.join(cacheDir, key);
  scrambleShard(path.join(entry, 'tokens-00000.bin'));
  const manifest = JSON.parse(readFileSync(path.join(entry, 'manifest.json'), 'utf8')) as ShardManifest;
  manifest.shards[0]!.sha256 = createHash('sha256').update(readFileSync(path.join(entry, 'tokens-00000.bin'))).digest('hex');
  writeFileSync(path.join(entry, 'manifest.json'), JSON.stringify(manifest));
  const second = await prepareData(config(dir, twoDomains), { cacheDir });
  t.true(second.domains[0]!.cached);
  t.is(second.domains[0]!.shardKey, first.domains[0]!.shardKey);
  t.notDeepEqual([...second.domains[0]!.train.tokens], [...first.domains[0]!.train.tokens]);
  t.not(second.key, first.key);
  // The split is part of the key: another seed, another key; the same seed, the same key.
  const seeded = await prepareData(config(dir, { ...twoDomains, heldOut: { fraction: 0.1, seed: 7 } }), { cacheDir });
  t.not(seeded.key, second.key);
  t.is((await prepareData(config(dir, { ...twoDomains, heldOut: { fraction: 0.1, seed: 7 } }), { cacheDir })).key, seeded.key);
});

test('a manifest with counts no array can hold is a damaged entry, not a crash', async (t) => {
  const dir = tempDir(t);
  corpus(dir);
  const cacheDir = path.join(dir, 'cache');
  const first = await prepareData(config(dir, twoDomains), { cacheDir });
  const key = first.domains[0]!.shardKey;
  const file = path.join(cacheDir, key, 'manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as ShardManifest;
  writeFileSync(file, JSON.stringify({ ...manifest, tokens: 2 ** 52 }));
  const read = await readShards(path.join(cacheDir, key), key);
  t.is(read.status, 'damaged');
  t.regex(read.status === 'damaged' ? read.reason : '', /^the entry cannot be read \(.+\)$/);
  t.is((await prepareData(config(dir, twoDomains), { cacheDir })).key, first.key);
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

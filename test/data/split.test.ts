import test from 'ava';
import path from 'node:path';
import { DataError, getTokenizer, heldOutSet, heldOutWindows, MixtureSampler, prepareData } from '../../lib/data/index.js';
import { config, letterCorpus, tempDir, writeFiles } from './fixtures.js';

const byte = getTokenizer('byte');

// Documents of a TokenDocuments as strings (without their endOfText).
function texts(docs: { tokens: Uint16Array; offsets: Float64Array; documents: number }): string[] {
  const out: string[] = [];
  for (let d = 0; d < docs.documents; d++) out.push(byte.decode(docs.tokens.subarray(docs.offsets[d], docs.offsets[d + 1]! - 1)));
  return out;
}

async function splitOf(t: Parameters<typeof tempDir>[0], docs: string[], heldOut: unknown): Promise<{ train: string[]; heldOut: string[] }> {
  const dir = tempDir(t);
  writeFiles(dir, { 'x.jsonl': docs.map((text) => JSON.stringify({ text })).join('\n') });
  const prepared = await prepareData(config(dir, { heldOut, domains: [{ name: 'x', sources: ['x.jsonl'] }] }), { cacheDir: path.join(dir, 'cache') });
  return { train: texts(prepared.domains[0]!.train), heldOut: texts(prepared.domains[0]!.heldOut) };
}

const docs = Array.from({ length: 60 }, (_, k) => `document number ${k} ${'z'.repeat(k % 17)}`);

test('training and held-out documents are disjoint and together are all documents', async (t) => {
  const split = await splitOf(t, docs, { fraction: 0.2, seed: 3 });
  t.true(split.heldOut.length > 0 && split.train.length > 0);
  t.is(split.heldOut.filter((d) => split.train.includes(d)).length, 0);
  t.deepEqual([...split.train, ...split.heldOut].sort(), [...docs].sort());
});

test('the held-out share is reached by whole documents: at least the fraction, less than one document over', async (t) => {
  const split = await splitOf(t, docs, { fraction: 0.25, seed: 1 });
  const tokens = (list: string[]): number => list.reduce((sum, d) => sum + Buffer.byteLength(d) + 1, 0);
  const total = tokens(docs);
  const held = tokens(split.heldOut);
  const largest = Math.max(...split.heldOut.map((d) => Buffer.byteLength(d) + 1));
  t.true(held >= 0.25 * total);
  t.true(held - largest < 0.25 * total);
});

test('"documents" holds out exactly that many documents', async (t) => {
  t.is((await splitOf(t, docs, { documents: 7 })).heldOut.length, 7);
});

test('the split is deterministic from the seed and changes with it', async (t) => {
  const a = await splitOf(t, docs, { fraction: 0.2, seed: 5 });
  const b = await splitOf(t, docs, { fraction: 0.2, seed: 5 });
  const c = await splitOf(t, docs, { fraction: 0.2, seed: 6 });
  t.deepEqual(a, b);
  t.notDeepEqual(a.heldOut, c.heldOut);
});

test('the side of a document depends on the seed and its text alone: adding documents never reorders the rest', async (t) => {
  // Documents are held out in the order of a key of (seed, content hash). So with more documents
  // around them, the old documents held out are a prefix of the same order: nested sets.
  const extra = Array.from({ length: 60 }, (_, k) => `another text ${k}`);
  const grown = docs.flatMap((d, k) => [extra[k]!, d]); // positions change too
  const before = new Set((await splitOf(t, docs, { documents: 12, seed: 2 })).heldOut);
  for (const k of [6, 20, 40]) {
    const after = (await splitOf(t, grown, { documents: k, seed: 2 })).heldOut.filter((d) => docs.includes(d));
    const nested = after.every((d) => before.has(d)) || [...before].every((d) => after.includes(d));
    t.true(nested, `documents: ${k}`);
  }
});

test('copies of one text are dropped before the split: each text is kept once, on one side', async (t) => {
  // Before, copies were kept and the split could cut between them (seen in 7 of 8 seeds).
  for (let seed = 0; seed < 8; seed++) {
    const split = await splitOf(t, [...docs, ...docs.slice(0, 30), ...docs], { fraction: 0.3, seed });
    t.deepEqual([...split.train, ...split.heldOut].sort(), [...docs].sort(), `seed ${seed}`);
    t.is(split.heldOut.filter((h) => split.train.includes(h)).length, 0, `seed ${seed}`);
  }
});

test('the count of dropped copies is reported per domain, and copies count once in the supply', async (t) => {
  const dir = tempDir(t);
  const copies = [...docs, docs[3]!, docs[3]!, docs[10]!];
  writeFiles(dir, { 'x.jsonl': copies.map((text) => JSON.stringify({ text })).join('\n'), 'y.jsonl': docs.map((text) => JSON.stringify({ text })).join('\n') });
  const data = config(dir, { heldOut: { fraction: 0.2, seed: 1 }, domains: [{ name: 'x', sources: ['x.jsonl'] }, { name: 'y', sources: ['y.jsonl'] }] });
  const prepared = await prepareData(data, { cacheDir: path.join(dir, 'cache') });
  const [x, y] = prepared.domains;
  t.is(x!.duplicateDocuments, 3);
  t.deepEqual(x!.notes, ['3 duplicate documents dropped']);
  t.is(y!.duplicateDocuments, 0);
  t.deepEqual(y!.notes, []);
  t.is(x!.trainDocuments + x!.heldOutDocuments, docs.length);
  t.is(x!.trainTokens + x!.heldOutTokens, y!.trainTokens + y!.heldOutTokens);
  t.deepEqual(texts(x!.heldOut), texts(y!.heldOut)); // the same texts, the same split
});

test('two copies are not two documents: a domain of one text repeated cannot be split', async (t) => {
  const error = await t.throwsAsync(splitOf(t, ['same text', 'same text'], { fraction: 0.5 }), { instanceOf: DataError });
  t.regex(error.message, /domain "x" has 1 document \(2 before dropping 1 copy of other documents\); a held-out split by document needs at least 2/);
});

test('one long document cannot swallow the held-out set: it stays in training and the share stays near the fraction', async (t) => {
  // 120 short documents (20-45 tokens) and one of 12,014 tokens (~76% of the domain). Before, when
  // the long one's key came early (6 of these 12 seeds), it was held out whole: 81-87% of the
  // domain held out, 89-96% of the held-out set one text.
  const small = Array.from({ length: 120 }, (_, k) => `short document ${k} ${'q'.repeat(k % 23)}`);
  const long = `the long one ${'w'.repeat(12000)}`;
  const corpus = [...small.slice(0, 60), long, ...small.slice(60)];
  const tokens = (list: string[]): number => list.reduce((sum, d) => sum + Buffer.byteLength(d) + 1, 0);
  const total = tokens(corpus);
  for (let seed = 0; seed < 12; seed++) {
    const split = await splitOf(t, corpus, { fraction: 0.1, seed });
    const held = tokens(split.heldOut);
    t.false(split.heldOut.includes(long), `seed ${seed}`);
    t.true(held >= 0.1 * total && held < 0.15 * total, `seed ${seed}: ${held} of ${total}`);
    t.true(Math.max(...split.heldOut.map((d) => Buffer.byteLength(d) + 1)) <= held / 2, `seed ${seed}`);
  }
  // With an exact count of documents too.
  for (let seed = 0; seed < 12; seed++) t.false((await splitOf(t, corpus, { documents: 10, seed })).heldOut.includes(long), `seed ${seed}`);
});

test('a domain of a few long documents still holds out one (the shortest), or the count asked for', async (t) => {
  const three = ['a'.repeat(3000), 'b'.repeat(2000), 'c'.repeat(4000)];
  t.deepEqual((await splitOf(t, three, { fraction: 0.1, seed: 0 })).heldOut, ['b'.repeat(2000)]);
  const dir = tempDir(t);
  writeFiles(dir, { 'x.jsonl': three.map((text) => JSON.stringify({ text })).join('\n') });
  const prepared = await prepareData(config(dir, { domains: [{ name: 'x', sources: ['x.jsonl'] }] }), { cacheDir: path.join(dir, 'cache') });
  t.deepEqual(prepared.domains[0]!.notes, ['2 documents longer than half the held-out target (450 tokens) kept in training']);
  t.deepEqual((await splitOf(t, three, { documents: 2, seed: 0 })).heldOut, ['a'.repeat(3000), 'b'.repeat(2000)]);
});

test('a domain of one document cannot be split and says how to fix it', async (t) => {
  const error = await t.throwsAsync(splitOf(t, ['only one'], { fraction: 0.1 }), { instanceOf: DataError });
  t.regex(error.message, /domain "x" has 1 document; a held-out split by document needs at least 2; fix: .*"separator"/);
});

test('no training window of any run contains held-out text', async (t) => {
  const prepared = await letterCorpus(t, { domains: 3, documents: 40, documentBytes: 300, heldOut: { fraction: 0.2, seed: 4 } });
  for (const domain of prepared.domains) {
    const heldMarkers = texts(domain.heldOut).map((d) => d.slice(0, d.indexOf('>') + 1));
    const sampler = new MixtureSampler(prepared, { d0: 30000, d1: 20000, d2: 60000 }, { contextLength: 64, batchSize: 16, seed: 1 });
    let seen = '';
    for (const batch of sampler.batches()) seen += byte.decode(batch.tokens);
    for (const marker of heldMarkers) t.false(seen.includes(marker), `${domain.name} ${marker}`);
  }
});

test('held-out windows are T + 1 consecutive held-out tokens, spread evenly, the same for every call', async (t) => {
  const prepared = await letterCorpus(t, { domains: 2, documents: 30, documentBytes: 400, heldOut: { documents: 6 } });
  const T = 32;
  const windows = heldOutWindows(prepared, 'd1', T, 10);
  t.is(windows.length, 10 * (T + 1));
  t.deepEqual(heldOutWindows(prepared, 'd1', T, 10), windows);
  const stream = byte.decode(prepared.domains[1]!.heldOut.tokens);
  const starts: number[] = [];
  for (let w = 0; w < 10; w++) {
    const text = byte.decode(windows.subarray(w * (T + 1), (w + 1) * (T + 1)));
    const at = stream.indexOf(text);
    t.true(at >= 0 && at % T === 0);
    starts.push(at);
  }
  t.true(starts.every((s, i) => i === 0 || s > starts[i - 1]!));
  t.true(starts[9]! > stream.length / 2); // spread over the stream, not its first windows
  // Asking for more than there are gives all of them.
  const all = heldOutWindows(prepared, 'd1', T, 1e6);
  t.is(all.length / (T + 1), Math.floor((prepared.domains[1]!.heldOutTokens - 1) / T));
  const set = heldOutSet(prepared, T, 5);
  t.deepEqual(set.domains, ['d0', 'd1']);
  t.deepEqual(set.counts, [5, 5]);
  t.deepEqual(set.windows.subarray(5 * (T + 1)), heldOutWindows(prepared, 'd1', T, 5));
});

test('held-out windows longer than the held-out text are refused with the fix', async (t) => {
  const prepared = await letterCorpus(t, { domains: 1, documents: 10, documentBytes: 50, heldOut: { documents: 1 } });
  const error = t.throws(() => heldOutWindows(prepared, 'd0', 256, 4), { instanceOf: DataError });
  t.regex(error.message, /domain "d0" holds out 51 tokens, fewer than one window of 257; fix: hold out more/);
  t.throws(() => heldOutWindows(prepared, 'nope', 8, 4), { message: /no domain "nope" in the prepared data; fix: use one of "d0"/ });
});

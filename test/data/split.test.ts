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

test('copies of one text always land on the same side', async (t) => {
  const split = await splitOf(t, [...docs, ...docs], { fraction: 0.3, seed: 9 });
  for (const d of docs) t.not(split.heldOut.filter((h) => h === d).length, 1, d);
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

// The shard cache: each domain tokenized once into binary shards, in a folder named by a key of its
// sources' content, the reader options and the tokenizer. A rerun with the same content finds the
// folder and reads it back; a change in any byte makes a new key.
//
// Layout of <cacheDir>/<key>/:
//   tokens-00000.bin ...  uint16 little-endian token ids: every document followed by the tokenizer's
//                         endOfText id, documents in source order, split into shards of <= 2^24 tokens
//   documents.bin         float64 little-endian: documents + 1 token offsets (document d is
//                         tokens [offsets[d], offsets[d+1]), its endOfText included)
//   document-hashes.bin   uint32 little-endian: 2 per document, the first 8 bytes of SHA-256 of its text
//   manifest.json         written last: counts, shard sizes, sources and the SHA-256 of every other
//                         file; its presence marks completeness
//
// Integrity: every read checks each file's size and SHA-256 against the manifest. A mismatch (a
// flipped bit, a shard overwritten with other valid ids of the same size) makes the entry damaged:
// domainShards says why and tokenizes it again from the sources, so nothing is ever trained or
// evaluated on tokens that are not the ones written. (SHA-256 from node:crypto: several hundred MB/s
// per core, well above what reading the shards costs; no dependency.)
//
// Atomicity: everything is written into a hidden temporary folder beside the entry, each file
// fsynced, the manifest last, then the folder is renamed into place (one atomic rename). A killed
// prepare leaves only a temporary folder, which no reader takes for an entry and which the next
// prepare of that key removes once its process is gone.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fsyncDirectory, writeFileSynced } from '../atomic-file.js';
import { DataError } from './errors.js';
import { readDocuments, readFileChunks, type SourceFile } from './sources.js';
import type { Tokenizer } from './tokenizer.js';

/** Version of the layout above; part of every key, so a new layout never reads an old entry. */
export const SHARD_FORMAT_VERSION = 2;

const SHARD_TOKENS = 1 << 24;

/** The manifest.json of a cache entry. */
export interface ShardManifest {
  format: 'autoscale-lm-shards';
  version: number;
  key: string;
  /** The domain that created the entry (entries are shared by content, so informational only). */
  domain: string;
  tokenizer: string;
  vocabSize: number;
  endOfText: number;
  /** Tokens in all shards, endOfText ids included. */
  tokens: number;
  documents: number;
  /** Source bytes read. */
  sourceBytes: number;
  sources: Array<{ path: string; bytes: number }>;
  /** Each shard with its SHA-256 (hex). */
  shards: Array<{ file: string; tokens: number; sha256: string }>;
  /** SHA-256 (hex) of documents.bin and document-hashes.bin. */
  documentsSha256: string;
  documentHashesSha256: string;
  createdAt: string;
}

/** A domain's tokenized documents, as read from the cache. */
export interface DomainShards {
  key: string;
  /** The entry's folder. */
  dir: string;
  manifest: ShardManifest;
  /** All documents' tokens, each document followed by endOfText. */
  tokens: Uint16Array;
  /** documents + 1 offsets into `tokens`. */
  offsets: Float64Array;
  /** 2 per document: the first 8 bytes of SHA-256 of the document text, as two uint32. */
  documentHashes: Uint32Array;
  /** True if the entry was found in the cache, false if this call tokenized it. */
  cached: boolean;
  /** Why the entry found in the cache was damaged and tokenized again; null if it was not. */
  rebuiltBecause: string | null;
}

/** What a read of a cache entry found: nothing, a damaged entry (and why), or the entry. */
export type ShardRead =
  | { status: 'absent' }
  | { status: 'damaged'; reason: string }
  | { status: 'ok'; shards: DomainShards };

/** Progress of preparing one domain. */
export interface ShardProgress {
  domain: string;
  /** hashing: reading the sources for the key; tokenizing: writing shards; cached: entry found. */
  phase: 'hashing' | 'tokenizing' | 'cached' | 'done';
  bytesDone: number;
  bytesTotal: number;
  /** Tokens written so far (tokenizing, done). */
  tokens: number;
}

/**
 * The cache key of a domain: SHA-256 over the layout version, the tokenizer, and each file's reader
 * options and content (not its path or time: moving or touching a corpus keeps its key).
 *
 * @example
 * const key = await shardKey(files, getTokenizer('byte')); // 'byte-3f2a...'
 */
export async function shardKey(files: SourceFile[], tokenizer: Tokenizer, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ version: SHARD_FORMAT_VERSION, tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, endOfText: tokenizer.endOfText }));
  for (const file of files) {
    hash.update(JSON.stringify({ format: file.format, field: file.field, separator: file.separator, invalidUtf8: file.invalidUtf8 }));
    let bytes = 0;
    for await (const chunk of readFileChunks(file.path)) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(chunk.length);
    }
    hash.update(`\0${bytes}\0`); // file boundary: two files never hash like their concatenation
  }
  return `${tokenizer.name}-${hash.digest('hex').slice(0, 40)}`;
}

/**
 * A domain's shards: read from `<cacheDir>/<key>` when that entry is complete, otherwise tokenized
 * from the sources and written atomically. Throws a DataError (and leaves nothing that looks like an
 * entry) if a source is bad or the domain has no text.
 *
 * @example
 * const shards = await domainShards('books', files, getTokenizer('byte'), '/tmp/cache');
 * shards.manifest.documents // documents in the domain
 */
export async function domainShards(
  domain: string,
  files: SourceFile[],
  tokenizer: Tokenizer,
  cacheDir: string,
  onProgress?: (progress: ShardProgress) => void,
): Promise<DomainShards> {
  if (os.endianness() !== 'LE') throw new Error('the shard cache assumes a little-endian machine');
  const bytesTotal = files.reduce((sum, file) => sum + file.bytes, 0);
  let hashed = 0;
  onProgress?.({ domain, phase: 'hashing', bytesDone: 0, bytesTotal, tokens: 0 });
  const key = await shardKey(files, tokenizer, (bytes) => {
    hashed += bytes;
    onProgress?.({ domain, phase: 'hashing', bytesDone: hashed, bytesTotal, tokens: 0 });
  });
  await mkdir(cacheDir, { recursive: true });
  const dir = path.join(cacheDir, key);
  const found = await readShards(dir, key);
  if (found.status === 'ok') {
    onProgress?.({ domain, phase: 'cached', bytesDone: bytesTotal, bytesTotal, tokens: found.shards.manifest.tokens });
    return found.shards;
  }
  await removeStaleTemporaries(cacheDir, key);
  await rm(dir, { recursive: true, force: true }); // an incomplete or damaged entry
  const temporary = path.join(cacheDir, `.${key}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let read: Awaited<ReturnType<typeof readShards>>;
  try {
    await mkdir(temporary);
    await writeShards(domain, key, files, tokenizer, temporary, bytesTotal, onProgress);
    // Read back our own copy (checksums verified) before it is renamed into place: another process preparing the
    // same content at the same time may replace or remove the entry at `dir` (the rm above), and this one must not
    // depend on when.
    read = await readShards(temporary, key);
    try {
      await rename(temporary, dir);
    } catch (error) {
      // Another prepare of the same content finished first: its entry is as good as ours.
      const code = (error as { code?: string }).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
    fsyncDirectory(cacheDir);
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
  if (read.status !== 'ok') {
    const why = read.status === 'damaged' ? read.reason : 'its manifest is missing';
    throw new DataError('ERR_DATA_CACHE', `the cache entry ${dir} was written but does not read back (${why}); fix: check the disk, then delete the folder and prepare again`, { file: dir });
  }
  const written = read.shards;
  written.cached = false;
  written.rebuiltBecause = found.status === 'damaged' ? found.reason : null;
  onProgress?.({ domain, phase: 'done', bytesDone: bytesTotal, bytesTotal, tokens: written.manifest.tokens });
  return { ...written, dir, cached: false };
}

/**
 * Reads a complete cache entry, or returns null when the folder is absent, incomplete or damaged
 * (see readShards for why).
 *
 * @example
 * const shards = await loadShards('/tmp/cache/byte-3f2a...', 'byte-3f2a...');
 */
export async function loadShards(dir: string, key: string): Promise<DomainShards | null> {
  const read = await readShards(dir, key);
  return read.status === 'ok' ? read.shards : null;
}

/**
 * Reads a cache entry and checks it: `absent` when there is no manifest (never written, or killed
 * before it was complete), `damaged` with the reason (naming the file) when the manifest is
 * unreadable or of another layout, or a file's size or SHA-256 disagrees with it, else `ok`.
 *
 * @example
 * const read = await readShards('/tmp/cache/byte-3f2a...', 'byte-3f2a...');
 * if (read.status === 'damaged') console.log(read.reason); // 'tokens-00000.bin: SHA-256 ... but the manifest says ...'
 */
export async function readShards(dir: string, key: string): Promise<ShardRead> {
  try {
    return await readCheckedShards(dir, key);
  } catch (error) {
    // A manifest whose counts no array can hold, or a file that vanished mid-read.
    return { status: 'damaged', reason: `the entry cannot be read (${(error as Error).message})` };
  }
}

async function readCheckedShards(dir: string, key: string): Promise<ShardRead> {
  let text: string;
  try {
    text = await readFile(path.join(dir, 'manifest.json'), 'utf8');
  } catch {
    return { status: 'absent' };
  }
  const damaged = (reason: string): ShardRead => ({ status: 'damaged', reason });
  let manifest: ShardManifest;
  try {
    manifest = JSON.parse(text) as ShardManifest;
  } catch {
    return damaged('manifest.json is not valid JSON');
  }
  if (manifest.format !== 'autoscale-lm-shards' || manifest.version !== SHARD_FORMAT_VERSION || manifest.key !== key) {
    return damaged(`manifest.json is not a version ${SHARD_FORMAT_VERSION} manifest of entry ${key}`);
  }
  if (!Array.isArray(manifest.shards) || !Number.isSafeInteger(manifest.tokens) || !Number.isSafeInteger(manifest.documents) || manifest.documents < 1) {
    return damaged('manifest.json lacks its shard list or counts');
  }
  const check = async (file: string, bytes: number, sha256: unknown): Promise<Buffer | string> => {
    let content: Buffer;
    try {
      content = await readFile(path.join(dir, file));
    } catch {
      return `${file} is missing or unreadable`;
    }
    if (content.length !== bytes) return `${file} has ${content.length} bytes but the manifest says ${bytes}`;
    const actual = createHash('sha256').update(content).digest('hex');
    if (actual !== sha256) return `${file}: its SHA-256 is ${actual.slice(0, 16)}... but the manifest says ${String(sha256).slice(0, 16)}...`;
    return content;
  };
  const tokens = new Uint16Array(manifest.tokens);
  let at = 0;
  for (const shard of manifest.shards) {
    if (!Number.isSafeInteger(shard.tokens) || shard.tokens < 0 || at + shard.tokens > manifest.tokens) return damaged(`manifest.json: shard ${shard.file} has ${shard.tokens} tokens, more than the entry holds`);
    const bytes = await check(shard.file, shard.tokens * 2, shard.sha256);
    if (typeof bytes === 'string') return damaged(bytes);
    new Uint8Array(tokens.buffer, at * 2, bytes.length).set(bytes);
    at += shard.tokens;
  }
  if (at !== manifest.tokens) return damaged(`manifest.json: its shards hold ${at} tokens but it says ${manifest.tokens}`);
  const offsetBytes = await check('documents.bin', (manifest.documents + 1) * 8, manifest.documentsSha256);
  if (typeof offsetBytes === 'string') return damaged(offsetBytes);
  const hashBytes = await check('document-hashes.bin', manifest.documents * 8, manifest.documentHashesSha256);
  if (typeof hashBytes === 'string') return damaged(hashBytes);
  const offsets = new Float64Array(manifest.documents + 1);
  new Uint8Array(offsets.buffer).set(offsetBytes);
  const documentHashes = new Uint32Array(manifest.documents * 2);
  new Uint8Array(documentHashes.buffer).set(hashBytes);
  if (offsets[manifest.documents] !== manifest.tokens) return damaged(`documents.bin ends at token ${offsets[manifest.documents]} but the entry holds ${manifest.tokens}`);
  return { status: 'ok', shards: { key, dir, manifest, tokens, offsets, documentHashes, cached: true, rebuiltBecause: null } };
}

/**
 * The SHA-256 (hex) of what a prepared domain's shards hold: the manifest's checksums of the token
 * shards and the document files, in order. Equal digests, equal tokens and documents.
 *
 * @example
 * contentDigest(shards.manifest) // '9c1e...'
 */
export function contentDigest(manifest: ShardManifest): string {
  return createHash('sha256')
    .update(JSON.stringify({ shards: manifest.shards.map((s) => [s.tokens, s.sha256]), documents: manifest.documentsSha256, hashes: manifest.documentHashesSha256 }))
    .digest('hex');
}

async function writeShards(
  domain: string,
  key: string,
  files: SourceFile[],
  tokenizer: Tokenizer,
  dir: string,
  bytesTotal: number,
  onProgress?: (progress: ShardProgress) => void,
): Promise<void> {
  const shards: ShardManifest['shards'] = [];
  let buffer = new Uint16Array(SHARD_TOKENS);
  let filled = 0;
  let tokens = 0;
  const offsets = new GrowableArray(Float64Array);
  const hashes = new GrowableArray(Uint32Array);
  offsets.push(0);
  const flush = (): void => {
    if (filled === 0) return;
    const file = `tokens-${String(shards.length).padStart(5, '0')}.bin`;
    const bytes = new Uint8Array(buffer.buffer, 0, filled * 2);
    writeFileSynced(path.join(dir, file), bytes);
    shards.push({ file, tokens: filled, sha256: createHash('sha256').update(bytes).digest('hex') });
    filled = 0;
  };
  const append = (ids: Uint16Array): void => {
    let from = 0;
    while (from < ids.length) {
      const take = Math.min(ids.length - from, SHARD_TOKENS - filled);
      buffer.set(ids.subarray(from, from + take), filled);
      filled += take;
      from += take;
      if (filled === SHARD_TOKENS) flush();
    }
    tokens += ids.length;
  };
  const endOfText = Uint16Array.of(tokenizer.endOfText);
  let bytesDone = 0;
  let lastReport = 0;
  for (const file of files) {
    for await (const doc of readDocuments(file, (bytes) => {
      bytesDone += bytes;
      const now = Date.now();
      if (now - lastReport > 100) {
        lastReport = now;
        onProgress?.({ domain, phase: 'tokenizing', bytesDone, bytesTotal, tokens });
      }
    })) {
      append(tokenizer.encode(doc));
      append(endOfText);
      offsets.push(tokens);
      const digest = createHash('sha256').update(doc).digest();
      hashes.push(digest.readUInt32LE(0));
      hashes.push(digest.readUInt32LE(4));
    }
  }
  flush();
  buffer = new Uint16Array(0);
  const documents = offsets.length - 1;
  if (documents === 0) {
    throw new DataError('ERR_DATA_EMPTY',
      `domain "${domain}" has no text: its ${files.length} file(s) hold no document with a non-space character; fix: point its sources at files with text`,
      { file: files[0]?.path });
  }
  const offsetArray = offsets.view();
  const offsetBytes = new Uint8Array(offsetArray.buffer, offsetArray.byteOffset, offsetArray.byteLength);
  writeFileSynced(path.join(dir, 'documents.bin'), offsetBytes);
  const hashArray = hashes.view();
  const hashBytes = new Uint8Array(hashArray.buffer, hashArray.byteOffset, hashArray.byteLength);
  writeFileSynced(path.join(dir, 'document-hashes.bin'), hashBytes);
  const manifest: ShardManifest = {
    format: 'autoscale-lm-shards',
    version: SHARD_FORMAT_VERSION,
    key,
    domain,
    tokenizer: tokenizer.name,
    vocabSize: tokenizer.vocabSize,
    endOfText: tokenizer.endOfText,
    tokens,
    documents,
    sourceBytes: bytesTotal,
    sources: files.map((file) => ({ path: file.path, bytes: file.bytes })),
    shards,
    documentsSha256: createHash('sha256').update(offsetBytes).digest('hex'),
    documentHashesSha256: createHash('sha256').update(hashBytes).digest('hex'),
    createdAt: new Date().toISOString(),
  };
  writeFileSynced(path.join(dir, 'manifest.json'), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
}

// Temporary folders of this key left by prepares that were killed (their process is gone).
async function removeStaleTemporaries(cacheDir: string, key: string): Promise<void> {
  const prefix = `.${key}.tmp-`;
  for (const name of await readdir(cacheDir)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) {
      await rm(path.join(cacheDir, name), { recursive: true, force: true });
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

type TypedArrayConstructor<T> = { new (length: number): T };

class GrowableArray<T extends Float64Array | Uint32Array> {
  private data: T;
  length = 0;

  constructor(private readonly kind: TypedArrayConstructor<T>) {
    this.data = new kind(1024);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new this.kind(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  view(): T {
    return this.data.subarray(0, this.length) as T;
  }
}

// The held-out split, by document, and the held-out evaluation windows cut from it.
//
// Which documents are held out depends only on the split seed and each document's content hash:
// documents are ordered by a key mixed from (seed, hash) and taken in that order until the held-out
// share is reached. So the split does not move when other documents are added or reordered, and two
// copies of one text always land on the same side: the training stream never contains held-out text
// (within a domain; text repeated across domains is not detected).
import { DataError } from './errors.js';
import type { HeldOutSpec } from './config.js';
import type { PreparedData, PreparedDomain } from './prepare.js';

/** Documents as one token array: document d is tokens[offsets[d] .. offsets[d+1]). */
export interface TokenDocuments {
  tokens: Uint16Array;
  /** documents + 1 offsets. */
  offsets: Float64Array;
  documents: number;
}

/** The training and held-out documents of one domain, each in source order. */
export interface DocumentSplit {
  train: TokenDocuments;
  heldOut: TokenDocuments;
}

/**
 * Splits a domain's documents into training and held-out documents, deterministically from the seed
 * and the documents' content. With `fraction`, documents are held out until they hold at least that
 * share of the domain's tokens; with `documents`, exactly that many. At least one document lands on
 * each side; a domain with fewer than two documents is an error.
 *
 * @example
 * const { train, heldOut } = splitDocuments('books', shards, { fraction: 0.1, documents: undefined, seed: 0 });
 */
export function splitDocuments(
  domain: string,
  all: { tokens: Uint16Array; offsets: Float64Array; documentHashes: Uint32Array },
  spec: HeldOutSpec,
): DocumentSplit {
  const documents = all.offsets.length - 1;
  if (documents < 2) {
    throw new DataError('ERR_DATA_EMPTY',
      `domain "${domain}" has ${documents} document; a held-out split by document needs at least 2; ` +
        'fix: add sources, or cut its text into documents with a "separator" on the source');
  }
  if (spec.documents !== undefined && spec.documents >= documents) {
    throw new DataError('ERR_DATA_CONFIG',
      `heldOut.documents is ${spec.documents} but domain "${domain}" has only ${documents} documents; fix: hold out fewer documents (at most ${documents - 1})`);
  }
  const keys = new Float64Array(documents);
  const seedMix = mix32(spec.seed >>> 0 ^ mix32(Math.floor(spec.seed / 4294967296)));
  for (let d = 0; d < documents; d++) {
    const a = mix32(all.documentHashes[2 * d]! ^ seedMix);
    const b = mix32(all.documentHashes[2 * d + 1]! ^ a);
    keys[d] = a * 2097152 + (b >>> 11); // 53 bits
  }
  const order = Array.from({ length: documents }, (_, d) => d).sort((x, y) => keys[x]! - keys[y]! || x - y);
  const total = all.offsets[documents]!;
  const held = new Uint8Array(documents);
  let heldDocuments = 0;
  let heldTokens = 0;
  for (const d of order) {
    const enough = spec.documents !== undefined ? heldDocuments >= spec.documents : heldTokens >= (spec.fraction ?? 0) * total;
    if ((enough && heldDocuments > 0) || heldDocuments === documents - 1) break;
    held[d] = 1;
    heldDocuments++;
    heldTokens += all.offsets[d + 1]! - all.offsets[d]!;
  }
  return { train: gather(all, held, 0), heldOut: gather(all, held, 1) };
}

/**
 * Held-out evaluation windows of one domain: up to `maxWindows` windows of contextLength + 1 tokens
 * (inputs window[0..T), targets window[1..T]), as one Uint16Array of W * (T + 1) ids. The held-out
 * stream is cut at stride T (each held-out token is a target of at most one window) and, when more
 * windows exist than asked for, W are taken evenly spread over it. The result depends only on the
 * prepared data, T and maxWindows: it is the same for every run.
 *
 * @example
 * const windows = heldOutWindows(prepared, 'books', 256, 64); // windows.length === W * 257, W <= 64
 */
export function heldOutWindows(prepared: PreparedData, domain: string, contextLength: number, maxWindows: number): Uint16Array {
  const found = findDomain(prepared, domain);
  checkWindowOptions(contextLength, maxWindows);
  const tokens = found.heldOut.tokens;
  const available = Math.floor((tokens.length - 1) / contextLength);
  if (available < 1) {
    throw new DataError('ERR_DATA_EMPTY',
      `domain "${domain}" holds out ${tokens.length} tokens, fewer than one window of ${contextLength + 1}; ` +
        'fix: hold out more (heldOut.fraction or heldOut.documents) or use a shorter context');
  }
  const count = Math.min(maxWindows, available);
  const width = contextLength + 1;
  const windows = new Uint16Array(count * width);
  for (let k = 0; k < count; k++) {
    const start = Math.floor((k * available) / count) * contextLength;
    windows.set(tokens.subarray(start, start + width), k * width);
  }
  return windows;
}

/** Held-out windows of every domain, concatenated for one batched forward pass. */
export interface HeldOutSet {
  /** Domain names, in prepared order. */
  domains: string[];
  /** All windows, domain after domain: sum(counts) * (T + 1) ids. */
  windows: Uint16Array;
  /** Windows per domain, in `domains` order. */
  counts: number[];
}

/**
 * heldOutWindows for every domain, concatenated domain after domain (the shape the trainer's
 * per-domain evaluation takes).
 *
 * @example
 * const evalSet = heldOutSet(prepared, 256, 64); // evalSet.counts[i] windows of evalSet.domains[i]
 */
export function heldOutSet(prepared: PreparedData, contextLength: number, maxWindowsPerDomain: number): HeldOutSet {
  const parts = prepared.domains.map((d) => heldOutWindows(prepared, d.name, contextLength, maxWindowsPerDomain));
  const windows = new Uint16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    windows.set(part, at);
    at += part.length;
  }
  return { domains: prepared.domains.map((d) => d.name), windows, counts: parts.map((part) => part.length / (contextLength + 1)) };
}

function findDomain(prepared: PreparedData, name: string): PreparedDomain {
  const found = prepared.domains.find((d) => d.name === name);
  if (!found) {
    throw new DataError('ERR_DATA_SAMPLER', `no domain "${name}" in the prepared data; fix: use one of ${prepared.domains.map((d) => `"${d.name}"`).join(', ')}`);
  }
  return found;
}

function checkWindowOptions(contextLength: number, maxWindows: number): void {
  if (!Number.isSafeInteger(contextLength) || contextLength < 1) {
    throw new DataError('ERR_DATA_SAMPLER', `contextLength is ${contextLength}; fix: give a whole number of tokens >= 1`);
  }
  if (!Number.isSafeInteger(maxWindows) || maxWindows < 1) {
    throw new DataError('ERR_DATA_SAMPLER', `maxWindows is ${maxWindows}; fix: give a whole number >= 1`);
  }
}

function gather(all: { tokens: Uint16Array; offsets: Float64Array }, held: Uint8Array, side: number): TokenDocuments {
  let tokens = 0;
  let documents = 0;
  for (let d = 0; d < held.length; d++) {
    if (held[d] !== side) continue;
    tokens += all.offsets[d + 1]! - all.offsets[d]!;
    documents++;
  }
  const out = new Uint16Array(tokens);
  const offsets = new Float64Array(documents + 1);
  let at = 0;
  let k = 0;
  for (let d = 0; d < held.length; d++) {
    if (held[d] !== side) continue;
    const from = all.offsets[d]!;
    const to = all.offsets[d + 1]!;
    out.set(all.tokens.subarray(from, to), at);
    at += to - from;
    offsets[++k] = at;
  }
  return { tokens: out, offsets, documents };
}

// A 32-bit integer mixer (the murmur3 finalizer).
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

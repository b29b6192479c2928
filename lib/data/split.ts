// The held-out split, by document, and the held-out evaluation windows cut from it.
//
// First, copies are dropped: a document whose text (its tokens) equals an earlier document's is
// removed from the domain, so no text is both trained on and held out, and a repeated text does not
// count twice in the supply (text repeated across domains is not detected).
//
// Then which documents are held out depends only on the split seed and each document's content
// hash: documents are ordered by a key mixed from (seed, hash) and taken in that order until the
// held-out target is reached. So the split does not move when other documents are added or
// reordered (except for a document close to the length limit below, which moves with the target).
//
// The target is in tokens as well as documents: a document longer than half the held-out token
// target is not held out (it stays in training) while shorter ones can reach the target. Without
// that rule one 50 MB document in a domain of small ones, when its key comes early, is the held-out
// set (99.9% of its tokens), and every held-out window measures that one text. With it, each held-out document is under half of a
// held-out set that reached its target, and the set overshoots the target by less than half of it.
// We keep documents whole rather than cut long ones into pieces: pieces of one text on both sides
// would put its beginning in training and its end in the held-out set, the leak the split exists to
// prevent. The token target is fraction x tokens, or, with `documents`, the larger of that many
// average documents and DEFAULT_HELD_OUT_FRACTION of the tokens (a count of documents says nothing
// about their size). Where too few documents are short enough (a domain of a few long ones), the
// shortest of the others fill the gap: with `fraction`, one document when none is short enough;
// with `documents`, as many as the count needs.
import { DataError } from './errors.js';
import { DEFAULT_HELD_OUT_FRACTION, type HeldOutSpec } from './config.js';
import type { PreparedData, PreparedDomain } from './prepare.js';

/** Documents as one token array: document d is tokens[offsets[d] .. offsets[d+1]). */
export interface TokenDocuments {
  tokens: Uint16Array;
  /** documents + 1 offsets. */
  offsets: Float64Array;
  documents: number;
}

/** Side of each input document in a split. */
export const SPLIT_TRAIN = 0;
export const SPLIT_HELD_OUT = 1;
export const SPLIT_DUPLICATE = 2;

/** The training and held-out documents of one domain, each in source order. */
export interface DocumentSplit {
  train: TokenDocuments;
  heldOut: TokenDocuments;
  /** Documents dropped before the split as copies of an earlier document (same tokens). */
  duplicateDocuments: number;
  /** Documents longer than half the held-out token target, kept in training for that reason. */
  longDocumentsKept: number;
  /** Half the held-out token target: the longest document held out while shorter ones reach it. */
  longestHeldOutTokens: number;
  /** Per input document: SPLIT_TRAIN, SPLIT_HELD_OUT or SPLIT_DUPLICATE. */
  sides: Uint8Array;
}

/**
 * Splits a domain's documents into training and held-out documents, deterministically from the seed
 * and the documents' content, after dropping copies of earlier documents. With `fraction`, documents
 * are held out until they hold at least that share of the domain's (unique) tokens; with
 * `documents`, exactly that many. No document longer than half the held-out token target is held
 * out while shorter ones can reach the target (see the top of this file). At least one document
 * lands on each side; a domain with fewer than two distinct documents is an error.
 *
 * @example
 * const { train, heldOut, duplicateDocuments } = splitDocuments('books', shards, { fraction: 0.1, documents: undefined, seed: 0 });
 */
export function splitDocuments(
  domain: string,
  all: { tokens: Uint16Array; offsets: Float64Array; documentHashes: Uint32Array },
  spec: HeldOutSpec,
): DocumentSplit {
  const documents = all.offsets.length - 1;
  const lengthOf = (d: number): number => all.offsets[d + 1]! - all.offsets[d]!;
  const sides = markDuplicates(all);
  const unique: number[] = [];
  let total = 0;
  for (let d = 0; d < documents; d++) {
    if (sides[d] === SPLIT_DUPLICATE) continue;
    unique.push(d);
    total += lengthOf(d);
  }
  const duplicateDocuments = documents - unique.length;
  const dropped = duplicateDocuments > 0 ? ` (${documents} before dropping ${duplicateDocuments} ${duplicateDocuments === 1 ? 'copy' : 'copies'} of other documents)` : '';
  if (unique.length < 2) {
    throw new DataError('ERR_DATA_EMPTY',
      `domain "${domain}" has ${unique.length} document${dropped}; a held-out split by document needs at least 2; ` +
        'fix: add sources, or cut its text into documents with a "separator" on the source');
  }
  if (spec.documents !== undefined && spec.documents >= unique.length) {
    throw new DataError('ERR_DATA_CONFIG',
      `heldOut.documents is ${spec.documents} but domain "${domain}" has only ${unique.length} documents${dropped}; fix: hold out fewer documents (at most ${unique.length - 1})`);
  }
  const keys = new Float64Array(documents);
  const seedMix = mix32(spec.seed >>> 0 ^ mix32(Math.floor(spec.seed / 4294967296)));
  for (const d of unique) {
    const a = mix32(all.documentHashes[2 * d]! ^ seedMix);
    const b = mix32(all.documentHashes[2 * d + 1]! ^ a);
    keys[d] = a * 2097152 + (b >>> 11); // 53 bits
  }
  const order = unique.slice().sort((x, y) => keys[x]! - keys[y]! || x - y);
  const targetTokens = spec.documents !== undefined
    ? Math.max((spec.documents * total) / unique.length, DEFAULT_HELD_OUT_FRACTION * total)
    : (spec.fraction ?? DEFAULT_HELD_OUT_FRACTION) * total;
  const longest = Math.floor(targetTokens / 2);
  let heldDocuments = 0;
  let heldTokens = 0;
  const enough = (): boolean => (spec.documents !== undefined ? heldDocuments >= spec.documents : heldTokens >= targetTokens);
  const full = (): boolean => (enough() && heldDocuments > 0) || heldDocuments === unique.length - 1;
  const hold = (d: number): void => {
    sides[d] = SPLIT_HELD_OUT;
    heldDocuments++;
    heldTokens += lengthOf(d);
  };
  const passedOver: number[] = [];
  for (const d of order) {
    if (full()) break;
    if (lengthOf(d) > longest) passedOver.push(d);
    else hold(d);
  }
  // Too few short documents: the shortest long ones (then the earliest in key order) fill the gap,
  // the count of documents asked for or, with a fraction, one document so the set is not empty.
  if (!full() && (spec.documents !== undefined || heldDocuments === 0)) {
    const rest = order.filter((d) => sides[d] === SPLIT_TRAIN && lengthOf(d) > longest);
    rest.sort((x, y) => lengthOf(x) - lengthOf(y) || keys[x]! - keys[y]! || x - y);
    for (const d of rest) {
      if (full() || (spec.documents === undefined && heldDocuments > 0)) break;
      hold(d);
    }
  }
  const longDocumentsKept = passedOver.filter((d) => sides[d] === SPLIT_TRAIN).length;
  return { train: gather(all, sides, SPLIT_TRAIN), heldOut: gather(all, sides, SPLIT_HELD_OUT), duplicateDocuments, longDocumentsKept, longestHeldOutTokens: longest, sides };
}

// Marks every document whose tokens equal an earlier document's as SPLIT_DUPLICATE (the rest
// SPLIT_TRAIN). Candidates are found by the stored content hash and confirmed token by token, so a
// hash collision never drops a document.
function markDuplicates(all: { tokens: Uint16Array; offsets: Float64Array; documentHashes: Uint32Array }): Uint8Array {
  const documents = all.offsets.length - 1;
  const sides = new Uint8Array(documents);
  const firstByHash = new Map<number, number[]>();
  const same = (x: number, y: number): boolean => {
    const a = all.tokens.subarray(all.offsets[x]!, all.offsets[x + 1]!);
    const b = all.tokens.subarray(all.offsets[y]!, all.offsets[y + 1]!);
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  };
  for (let d = 0; d < documents; d++) {
    const hash = all.documentHashes[2 * d]! * 2097152 + (all.documentHashes[2 * d + 1]! >>> 11);
    const candidates = firstByHash.get(hash);
    if (candidates === undefined) {
      firstByHash.set(hash, [d]);
    } else if (candidates.some((c) => same(c, d))) {
      sides[d] = SPLIT_DUPLICATE;
    } else {
      candidates.push(d);
    }
  }
  return sides;
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

function gather(all: { tokens: Uint16Array; offsets: Float64Array }, sides: Uint8Array, side: number): TokenDocuments {
  let tokens = 0;
  let documents = 0;
  for (let d = 0; d < sides.length; d++) {
    if (sides[d] !== side) continue;
    tokens += all.offsets[d + 1]! - all.offsets[d]!;
    documents++;
  }
  const out = new Uint16Array(tokens);
  const offsets = new Float64Array(documents + 1);
  let at = 0;
  let k = 0;
  for (let d = 0; d < sides.length; d++) {
    if (sides[d] !== side) continue;
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

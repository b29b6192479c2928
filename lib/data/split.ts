// The held-out split, by document (the windows cut from it are in held-out.ts).
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

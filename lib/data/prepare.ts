// Preparing the data of a config: every domain's sources read, tokenized once into the shard cache
// (or found there), and split into training and held-out documents. The result is what the sampler
// and the evaluation read.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { DataConfig, HeldOutSpec } from './config.js';
import { contentDigest, domainShards, type ShardProgress } from './shards.js';
import { resolveSources } from './sources.js';
import { splitDocuments, type TokenDocuments } from './split.js';
import { getTokenizer, type TokenizerName } from './tokenizer.js';

/** One prepared domain. Token counts include the endOfText id after every document. */
export interface PreparedDomain {
  name: string;
  /** Position in the config (and in PreparedData.domains). */
  index: number;
  /** Training documents, in source order. */
  train: TokenDocuments;
  /** Held-out documents, in source order; never part of `train`. */
  heldOut: TokenDocuments;
  /** Unique training tokens: the domain's supply before a run must repeat data. */
  trainTokens: number;
  heldOutTokens: number;
  trainDocuments: number;
  heldOutDocuments: number;
  /** Documents dropped before the split as copies of an earlier document of the domain. */
  duplicateDocuments: number;
  /** Documents kept in training because each is longer than half the held-out token target. */
  longDocumentsKept: number;
  sourceFiles: number;
  sourceBytes: number;
  /** The shard cache entry of this domain. */
  shardKey: string;
  /** True if the shards came from the cache, false if this call tokenized them. */
  cached: boolean;
  /** Why the cache entry was found damaged and tokenized again; null if it was not. */
  cacheRebuiltBecause: string | null;
  /** What a user should know about this domain's preparation, as short phrases (empty: nothing). */
  notes: string[];
}

/** The prepared data of a config. */
export interface PreparedData {
  /**
   * Identifies the data trained and evaluated on: a hash of the tokenizer and, per domain, its name,
   * the checksums of its token shards and document files, and the side of every document in the
   * split. Equal keys, equal tokens on each side; tokens that differ in any way, a different key.
   */
  key: string;
  tokenizer: TokenizerName;
  vocabSize: number;
  endOfText: number;
  heldOut: HeldOutSpec;
  domains: PreparedDomain[];
}

/** Options of prepareData. */
export interface PrepareOptions {
  /** Shard cache folder; default defaultCacheDir(). */
  cacheDir?: string;
  /** Called as each domain is hashed and tokenized (or found in the cache). */
  onProgress?: (progress: ShardProgress) => void;
}

/**
 * The default shard cache folder: $AUTOSCALE_CACHE, else $XDG_CACHE_HOME/autoscale-lm, else
 * ~/.cache/autoscale-lm.
 *
 * @example
 * defaultCacheDir() // '/home/me/.cache/autoscale-lm'
 */
export function defaultCacheDir(): string {
  if (process.env.AUTOSCALE_CACHE) return path.resolve(process.env.AUTOSCALE_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'autoscale-lm');
}

/**
 * Prepares every domain of a config: tokenizes it into the shard cache unless an entry with the same
 * content and tokenizer is there, then splits it into training and held-out documents. Throws a
 * DataError that names the file and the fix for bad input; writes nothing half-done.
 *
 * @example
 * const prepared = await prepareData(await loadDataConfig('data.json'), { cacheDir: '.cache' });
 * prepared.domains.map((d) => [d.name, d.trainTokens, d.heldOutTokens]);
 */
export async function prepareData(config: DataConfig, options: PrepareOptions = {}): Promise<PreparedData> {
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const tokenizer = getTokenizer(config.tokenizer);
  const domains: PreparedDomain[] = [];
  // The key hashes what is trained and evaluated on, not the sources: a cache rebuilt with other
  // tokens (another tokenizer build, an entry edited by hand) never matches runs of the old tokens.
  const keyHash = createHash('sha256').update(JSON.stringify({ data: 'autoscale-lm-prepared', tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, endOfText: tokenizer.endOfText }));
  for (const [index, spec] of config.domains.entries()) {
    const files = await resolveSources(spec);
    const shards = await domainShards(spec.name, files, tokenizer, cacheDir, options.onProgress);
    const { train, heldOut, duplicateDocuments, longDocumentsKept, longestHeldOutTokens, sides } = splitDocuments(spec.name, shards, config.heldOut);
    const notes: string[] = [];
    if (duplicateDocuments > 0) notes.push(`${duplicateDocuments} duplicate document${duplicateDocuments === 1 ? '' : 's'} dropped`);
    if (longDocumentsKept > 0) {
      notes.push(`${longDocumentsKept} document${longDocumentsKept === 1 ? '' : 's'} longer than half the held-out target (${longestHeldOutTokens} tokens) kept in training`);
    }
    if (shards.rebuiltBecause !== null) notes.push(`damaged cache entry tokenized again (${shards.rebuiltBecause})`);
    keyHash.update(JSON.stringify([spec.name, contentDigest(shards.manifest)]));
    keyHash.update(sides);
    domains.push({
      name: spec.name,
      index,
      train,
      heldOut,
      trainTokens: train.tokens.length,
      heldOutTokens: heldOut.tokens.length,
      trainDocuments: train.documents,
      heldOutDocuments: heldOut.documents,
      duplicateDocuments,
      longDocumentsKept,
      sourceFiles: files.length,
      sourceBytes: shards.manifest.sourceBytes,
      shardKey: shards.key,
      cached: shards.cached,
      cacheRebuiltBecause: shards.rebuiltBecause,
      notes,
    });
  }
  const key = keyHash.digest('hex').slice(0, 32);
  return { key, tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, endOfText: tokenizer.endOfText, heldOut: config.heldOut, domains };
}

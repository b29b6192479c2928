// Preparing the data of a config: every domain's sources read, tokenized once into the shard cache
// (or found there), and split into training and held-out documents. The result is what the sampler
// and the evaluation read.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { DataConfig, HeldOutSpec } from './config.js';
import { domainShards, type ShardProgress } from './shards.js';
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
  sourceFiles: number;
  sourceBytes: number;
  /** The shard cache entry of this domain. */
  shardKey: string;
  /** True if the shards came from the cache, false if this call tokenized them. */
  cached: boolean;
}

/** The prepared data of a config. */
export interface PreparedData {
  /** Identifies the data exactly (content, tokenizer, split): equal keys, equal data. */
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
  for (const [index, spec] of config.domains.entries()) {
    const files = await resolveSources(spec);
    const shards = await domainShards(spec.name, files, tokenizer, cacheDir, options.onProgress);
    const { train, heldOut } = splitDocuments(spec.name, shards, config.heldOut);
    domains.push({
      name: spec.name,
      index,
      train,
      heldOut,
      trainTokens: train.tokens.length,
      heldOutTokens: heldOut.tokens.length,
      trainDocuments: train.documents,
      heldOutDocuments: heldOut.documents,
      sourceFiles: files.length,
      sourceBytes: shards.manifest.sourceBytes,
      shardKey: shards.key,
      cached: shards.cached,
    });
  }
  const key = createHash('sha256')
    .update(JSON.stringify({ tokenizer: tokenizer.name, heldOut: config.heldOut, domains: domains.map((d) => [d.name, d.shardKey]) }))
    .digest('hex')
    .slice(0, 32);
  return { key, tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, endOfText: tokenizer.endOfText, heldOut: config.heldOut, domains };
}

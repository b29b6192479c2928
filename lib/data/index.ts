// The data layer: corpora readers, tokenizers, shard cache, held-out split, mixture sampler, demo corpus.
export { DataError, type DataErrorCode, type DataErrorLocation } from './errors.js';
export {
  DEFAULT_HELD_OUT_FRACTION,
  loadDataConfig,
  parseDataConfig,
  type DataConfig,
  type DomainSpec,
  type HeldOutSpec,
  type InvalidUtf8Policy,
  type SourceFormat,
  type SourceSpec,
} from './config.js';
export { getTokenizer, TOKENIZER_NAMES, type Tokenizer, type TokenizerName } from './tokenizer.js';
export { firstInvalidUtf8, readDocuments, readFileChunks, resolveSources, type SourceFile } from './sources.js';
export {
  contentDigest,
  domainShards,
  loadShards,
  readShards,
  shardKey,
  SHARD_FORMAT_VERSION,
  type DomainShards,
  type ShardManifest,
  type ShardProgress,
  type ShardRead,
} from './shards.js';
export { heldOutSet, heldOutWindows, type HeldOutSet } from './held-out.js';
export {
  splitDocuments,
  SPLIT_DUPLICATE,
  SPLIT_HELD_OUT,
  SPLIT_TRAIN,
  type DocumentSplit,
  type TokenDocuments,
} from './split.js';
export { defaultCacheDir, prepareData, type PrepareOptions, type PreparedData, type PreparedDomain } from './prepare.js';
export { MixtureSampler, type DomainPlan, type MixtureBatch, type MixtureOptions } from './sampler.js';
export { RandomStream } from './random.js';
export {
  DEFAULT_DEMO_BYTES_PER_DOMAIN,
  DEMO_DOMAINS,
  declarationChunks,
  demoDataConfig,
  demoDocuments,
  messageBody,
  proseChunks,
  wordnetGloss,
  type DemoDomain,
  type DemoOptions,
} from './demo.js';

// The other mixture methods compared against DDO and AutoScale on the user's own proxies: pure functions.
export type { MethodResult, SupplyLimit } from './types.js';
export { capToSupply, naturalMixture, uniformMixture, unimaxMixture } from './baselines.js';
export { randomMixtures, type RandomMixtureOptions } from './random-mixtures.js';
export { regmixOptimum, type MixtureSample, type RegmixFit, type RegmixModelKind, type RegmixOptions } from './regmix.js';
export { dmlOptimum, type DmlFit, type DmlOptions, type DomainLaw } from './dml.js';

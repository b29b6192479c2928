// Public library API of autoscale-lm: `import { ... } from 'autoscale-lm'`.
// Each module adds its exports here.
export { buildProgram } from './cli.js';
// Mathematics: DDO at one scale (lib/ddo/) and AutoScale across scales (lib/autoscale.ts); composition files.
export * from './ddo/plan.js';
export * from './ddo/fit.js';
export * from './ddo/solve.js';
export * from './ddo/results.js';
export * from './ddo/optimize.js';
export * from './autoscale.js';
export * from './composition.js';
// Data: corpora, tokenizers, shard cache, held-out split, mixture sampler, demo corpus (lib/data/).
export * from './data/index.js';

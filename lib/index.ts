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
export * from './atomic-file.js';
export { MODEL_FILE_VERSION, ModelFileError, readModelFile, writeModelFile } from './model-file.js';
export type { ModelFile, ModelFileHeader } from './model-file.js';
// Data: corpora, tokenizers, shard cache, held-out split, mixture sampler, demo corpus (lib/data/).
export * from './data/index.js';
// Native trainer: the GPT proxy model, backend discovery, the op table (lib/native.ts).
export { Model, backendInfo, opTable, opTensorSizes, runOp } from './native.js';
export type {
  BackendInfo,
  BackendName,
  CudaDevice,
  GradientsResult,
  ModelConfig,
  ModelOptions,
  NativeError,
  NativeErrorCode,
  OpDescription,
  OpTensor,
  OpTensorDescription,
  OptimizerOptions,
  OptimizerState,
  ParameterTensor,
  StepResult,
  TokenArray,
} from './native.js';
// Pipeline: one proxy run, the run registry, the runner, the report and `autoscale run` as a function.
export * from './train.js';
export * from './registry.js';
export * from './runner.js';
export * from './report.js';
export * from './pipeline-config.js';
export * from './format.js';
export { runPipeline, tokensToReach, PROXY_RUN_FORMAT } from './pipeline/run.js';
export type { PipelineHooks, PipelineOptions, PipelineResult, ProxyRunSpec } from './pipeline/run.js';

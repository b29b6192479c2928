// The public library API of autoscale-lm: `import { ... } from 'autoscale-lm'` (ESM), or
// `require('autoscale-lm')` on Node >= 20.19. Each name is exported on purpose: what a user needs to
// train proxy models, prepare data, run DDO and AutoScale, and run or inspect the pipeline; helpers
// that exist for the implementation (atomic file writes, formatting, op-level test entry points)
// stay private. This module must never import the CLI (lib/cli.ts): the CLI runs itself with a
// top-level await, and a module graph with one cannot be require()d (ERR_REQUIRE_ASYNC_MODULE).
// test/package/api.test.ts checks the list and the import graph.

// ---- The native trainer (lib/native.ts): the GPT proxy model and backend discovery.
export { Model, backendInfo } from './native.js';
export type {
  BackendInfo,
  BackendName,
  CudaDevice,
  GradientsResult,
  ModelConfig,
  ModelOptions,
  NativeError,
  NativeErrorCode,
  OptimizerOptions,
  OptimizerState,
  ParameterTensor,
  StepResult,
  TokenArray,
} from './native.js';
// Saved model parameters (`autoscale train --save`, `autoscale eval`).
export { MODEL_FILE_VERSION, ModelFileError, readModelFile, writeModelFile } from './model-file.js';
export type { ModelFile, ModelFileHeader } from './model-file.js';

// ---- Data (lib/data/): corpora, tokenizers, shard cache, held-out split, mixture sampler, demo corpus.
export {
  DataError,
  DEFAULT_HELD_OUT_FRACTION,
  loadDataConfig,
  parseDataConfig,
  getTokenizer,
  TOKENIZER_NAMES,
  readDocuments,
  resolveSources,
  defaultCacheDir,
  prepareData,
  heldOutSet,
  heldOutWindows,
  MixtureSampler,
  DEFAULT_DEMO_BYTES_PER_DOMAIN,
  DEMO_DOMAINS,
  demoDataConfig,
  demoDocuments,
} from './data/index.js';
export type {
  DataErrorCode,
  DataErrorLocation,
  DataConfig,
  DomainSpec,
  HeldOutSpec,
  InvalidUtf8Policy,
  SourceFormat,
  SourceSpec,
  Tokenizer,
  TokenizerName,
  SourceFile,
  HeldOutSet,
  PrepareOptions,
  PreparedData,
  PreparedDomain,
  DomainPlan,
  MixtureBatch,
  MixtureOptions,
  DemoDomain,
  DemoOptions,
} from './data/index.js';

// ---- The mathematics: DDO at one scale (lib/ddo/), AutoScale across scales (lib/autoscale.ts).
export { DEFAULT_DDO_MULTIPLIERS, planDdoRuns } from './ddo/plan.js';
export type { DdoPlanOptions, DdoRun } from './ddo/plan.js';
export { evalResponseCurve, fitResponseCurve, responseCurveSlope } from './ddo/fit.js';
export type { FitOptions, FitStatus, ResponseCurve, ResponseFit, ResponsePoint } from './ddo/fit.js';
export { solveComposition } from './ddo/solve.js';
export type { ActiveBound, SolveDomain, SolveResult } from './ddo/solve.js';
export { BASE_ROW, parseDdoResultsCsv } from './ddo/results.js';
export type { DdoResultRow, DdoResults } from './ddo/results.js';
export { optimizeComposition } from './ddo/optimize.js';
export type { DdoComposition, DdoDomainOutcome, DdoOptions } from './ddo/optimize.js';
export { compositionAtTotal, fitScaleTrajectory, geometricNextScale, predictComposition, supplyCaps } from './autoscale.js';
export type {
  CompositionAtTotal,
  CompositionPrediction,
  LeaveOneScaleOut,
  PredictOptions,
  ScaleOptimum,
  ScaleTrajectory,
} from './autoscale.js';
// Composition files (composition.json, composition-<N>.json) and token counts ("2e5", "200k").
export { compositionFromTokens, parseComposition, parseTokenCount, readCompositionFile } from './composition.js';
export type {
  Composition,
  CompositionFile,
  CompositionFit,
  CompositionNoise,
  DdoCompositionFile,
  ParsedComposition,
  PredictedCompositionFile,
} from './composition.js';

// ---- Statistics over seeds (lib/stats/): replicates, the noise audit, intervals, paired comparisons.
export { calibratedLevel, DEFAULT_DRAWS, DEFAULT_LEVEL, replicatedDdo } from './stats/ddo-replicates.js';
export type { CompositionDraws, CompositionIntervals, IntervalOptions, ReplicatedDdo, ReplicateRun, ScaleReplicates, SeedOptimum } from './stats/ddo-replicates.js';
export { noiseAudit, SNR_THRESHOLD } from './stats/noise-audit.js';
export type { NoiseAudit, PerturbationNoise } from './stats/noise-audit.js';
export { fitNoiseModel } from './stats/noise-model.js';
export type { NoiseModel, Observation } from './stats/noise-model.js';
export { predictWithIntervals } from './stats/predict-intervals.js';
export type { PredictionWithIntervals, ScaleWithDraws } from './stats/predict-intervals.js';
export { budgetToReach, pairedDifference, tokenSaving, verdictOf } from './stats/paired.js';
export type { PairedDifference, TokenSaving, Verdict } from './stats/paired.js';
export { parseDdoReplicatesCsv, perturbationId } from './ddo/results.js';
export type { DdoReplicateRow, DdoReplicates } from './ddo/results.js';

// ---- One proxy run (lib/train.ts): composition -> training stream -> native trainer -> losses.
export { domainLosses, evalSteps, learningRate, trainProxyRun } from './train.js';
export type {
  BatchStream,
  CurvePoint,
  EvalSet,
  ProgressEvent,
  ProxyModel,
  ProxyRunResult,
  Schedule,
  TrainOptions,
} from './train.js';

// ---- The pipeline: config, run registry, runner, report, and `autoscale run` as a function.
export { ConfigError, DEFAULT_EVAL, DEFAULT_MODEL, DEFAULT_TRAINING, DEFAULTS, parsePipelineConfig } from './pipeline-config.js';
export type {
  Backend,
  EvalSection,
  ModelSection,
  PipelineConfig,
  TrainingSection,
  ValidationSection,
} from './pipeline-config.js';
export { openRegistry, Registry, runKey } from './registry.js';
export type { RunRecord, RunStatus } from './registry.js';
export { planCapacity, runPool } from './runner.js';
export type { Capacity, PoolOptions, RunTask, TaskOutcome } from './runner.js';
export { renderReport } from './report.js';
export type {
  MixtureComparison,
  ReportedRun,
  ReportInput,
  ValidationCurve,
  ValidationSummary,
} from './report.js';
export { runPipeline, tokensToReach, PROXY_RUN_FORMAT } from './pipeline/run.js';
export type { PipelineHooks, PipelineOptions, PipelineResult, ProxyRunSpec } from './pipeline/run.js';
export { DEFAULT_MAX_RELATIVE_SD, runPilot } from './pipeline/pilot.js';
export { compareMixtures } from './pipeline/compare.js';
export type { CompareResult } from './pipeline/compare.js';

// ---- Other mixture methods (lib/methods/): pure, for the validation stage's head-to-head comparison.
export { capToSupply, dmlOptimum, naturalMixture, randomMixtures, regmixOptimum, uniformMixture, unimaxMixture } from './methods/index.js';
export type { DmlFit, DmlOptions, DomainLaw, MethodResult, MixtureSample, RandomMixtureOptions, RegmixFit, RegmixOptions, SupplyLimit } from './methods/index.js';
export type { PilotOptions, PilotRecommendation, PilotResult, PilotRow } from './pipeline/pilot.js';

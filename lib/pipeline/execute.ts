// Executing runs: executeRun trains one proxy run from its spec alone plus the environment (prepared data,
// evaluation set, registry, threads, signal, checkpoints, hooks) and records the outcome in the registry;
// runSlots decides which slots the registry already answers and trains the rest through the runner's pool.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { PreparedData } from '../data/prepare.js';
import { MixtureSampler } from '../data/sampler.js';
import { Model } from '../native.js';
import { runKey, type Registry } from '../registry.js';
import { planCapacity, runPool, type RunTask } from '../runner.js';
import { removeCheckpoint, trainProxyRun, type EvalSet, type ProxyModel, type ProxyRunResult } from '../train.js';
import type { RunSlot } from './plan.js';
import type { ProxyRunSpec } from './spec.js';

export interface PipelineHooks {
  /** Wraps every model the pipeline creates (tests inject failures here). */
  wrapModel?: (model: ProxyModel, slot: { label: string; spec: ProxyRunSpec }) => ProxyModel;
}

/** What a run needs besides its spec: the machine's side of it. */
export interface RunEnvironment {
  /** The prepared data whose key is `spec.data`. */
  prepared: PreparedData;
  /** The held-out windows `spec.windowsPerDomain` and `spec.model.contextLength` select. */
  evalSet: EvalSet;
  registry: Registry;
  /** CPU threads of the run's model. */
  threads: number;
  signal?: AbortSignal;
  /** Folder of the checkpoints: a run checkpoints into <checkpointsDir>/<key>. */
  checkpointsDir: string;
  checkpointEverySeconds: number;
  hooks?: PipelineHooks;
  /** Told why a damaged checkpoint was discarded (default: a process warning). */
  log?: (line: string) => void;
}

/** How the caller follows one run: its label (registry, progress lines) and its progress. */
export interface RunProgress {
  label: string;
  /** Cumulative training tokens and the latest training loss. */
  onProgress?: (tokens: number, loss: number) => void;
}

/**
 * The training stream of a run: exactly the spec's quantities, in windows of the spec's context length,
 * batched and ordered by its seed.
 * @example samplerOf(spec, prepared).totalWindows * spec.model.contextLength // the run's training tokens
 */
export function samplerOf(spec: ProxyRunSpec, prepared: PreparedData): MixtureSampler {
  return new MixtureSampler(prepared, spec.quantities, { contextLength: spec.model.contextLength, batchSize: spec.training.batchSize, seed: spec.seed });
}

/**
 * Trains one proxy run from its spec: the model, the optimizer, the schedule and the training stream
 * all come from `spec`, so the registry key (the spec's hash) names exactly what ran. Records the
 * start, the result or the failure in the registry, resumes from and removes its checkpoint. Rejects
 * with the run's error (an AbortError when `env.signal` stops it; the checkpoint is then kept).
 *
 * @example
 * const result = await executeRun(spec, { prepared, evalSet, registry, threads: 2, checkpointsDir, checkpointEverySeconds: 60 }, { label: 'N=300k base' });
 * result.losses // { books: 2.9, code: 2.1, ... }
 */
export async function executeRun(spec: ProxyRunSpec, env: RunEnvironment, run: RunProgress): Promise<ProxyRunResult> {
  const key = runKey(spec);
  const sampler = samplerOf(spec, env.prepared);
  const t = spec.training;
  env.registry.start(spec, run.label);
  const t0 = Date.now();
  const checkpointDir = path.join(env.checkpointsDir, key);
  let model: ProxyModel | undefined;
  try {
    const native = new Model(
      { vocabSize: spec.vocabSize, ...spec.model },
      {
        backend: spec.backend,
        threads: env.threads,
        seed: spec.seed,
        batchSize: t.batchSize,
        optimizer: { beta1: t.beta1, beta2: t.beta2, eps: t.eps, weightDecay: t.weightDecay, gradClip: t.gradClip },
      },
    );
    model = env.hooks?.wrapModel ? env.hooks.wrapModel(native, { label: run.label, spec }) : native;
    const result = await trainProxyRun({
      model,
      stream: sampler,
      evalSet: env.evalSet,
      schedule: { lr: t.lr, minLr: t.minLr, warmupSteps: Math.max(1, Math.round(t.warmupFraction * sampler.steps)) },
      contextLength: spec.model.contextLength,
      evalPoints: spec.evalPoints,
      checkpointDir,
      checkpointEverySeconds: env.checkpointEverySeconds,
      onProgress: (e) => run.onProgress?.(e.tokens, e.loss),
      signal: env.signal,
      log: env.log,
    });
    env.registry.finish(key, result, (Date.now() - t0) / 1000);
    removeCheckpoint(checkpointDir);
    return result;
  } catch (error) {
    if ((error as Error)?.name !== 'AbortError') {
      const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : null;
      env.registry.fail(key, (error as Error)?.message ?? String(error), code, (Date.now() - t0) / 1000);
      if (code === 'ERR_NON_FINITE') removeCheckpoint(checkpointDir);
    }
    throw error;
  } finally {
    model?.dispose();
  }
}

/** What runSlots needs: the run environment less the threads (it plans those), and how to schedule. */
export interface SlotsEnvironment extends Omit<RunEnvironment, 'threads'> {
  log: (line: string) => void;
  /** config.threadsPerRun and config.concurrency: 'auto' lets the runner plan them from the cores. */
  threadsPerRun: number | 'auto';
  concurrency: number | 'auto';
  /** Train again the runs that failed with a deterministic error (NaN) instead of reusing the failure. */
  retryFailed: boolean;
  progressEverySeconds: number;
}

/** What runSlots did: runs trained now, keys answered by the registry, failures (reused ones included). */
export interface SlotsOutcome {
  trained: number;
  reused: Set<string>;
  failed: number;
  diagnostics: string[];
}

/**
 * Trains the slots that have no usable record (each key once) and reuses the rest: a finished run, or one
 * that failed deterministically (ERR_NON_FINITE) unless `retryFailed`. Returns which were reused and what failed.
 */
export async function runSlots(slots: RunSlot[], env: SlotsEnvironment): Promise<SlotsOutcome> {
  const { registry, log } = env;
  const reused = new Set<string>();
  const todo: RunSlot[] = [];
  const seen = new Set<string>();
  for (const slot of slots) {
    if (seen.has(slot.key)) continue;
    seen.add(slot.key);
    const record = registry.get(slot.key);
    const deterministicFailure = record?.status === 'failed' && record.errorCode === 'ERR_NON_FINITE' && !env.retryFailed;
    if (record?.status === 'finished' || deterministicFailure) reused.add(slot.key);
    else todo.push(slot);
  }
  const diagnostics: string[] = [];
  let failed = 0;
  for (const key of reused) {
    const record = registry.get(key);
    if (record?.status === 'failed') {
      failed += 1;
      diagnostics.push(`run ${record.label} failed before with ${record.errorCode} (deterministic): its failure is reused; \`autoscale run --retry-failed\` trains it again`);
    }
  }
  if (todo.length === 0) {
    log(`[runs] all ${seen.size} runs found in the registry; nothing to train`);
    return { trained: 0, reused, failed, diagnostics };
  }
  const capacity = planCapacity({
    backend: todo[0]!.spec.backend,
    runs: todo.length,
    cores: availableParallelism(),
    threadsPerRun: env.threadsPerRun === 'auto' ? undefined : env.threadsPerRun,
    concurrency: env.concurrency === 'auto' ? undefined : env.concurrency,
  });
  log(`[runs] ${todo.length} to train, ${reused.size} reused from the registry; ${capacity.reason}`);

  const runEnv: RunEnvironment = { ...env, threads: capacity.threadsPerRun };
  const tasks: RunTask<ProxyRunResult>[] = todo.map((slot) => ({
    key: slot.key,
    label: slot.label,
    // Built here as well as in executeRun so that a spec the sampler rejects fails the stage before any run starts.
    tokens: samplerOf(slot.spec, env.prepared).totalWindows * slot.spec.model.contextLength,
    run: (progress) => executeRun(slot.spec, runEnv, { label: slot.label, onProgress: progress }),
  }));
  const outcomes = await runPool(tasks, { concurrency: capacity.concurrency, log, signal: env.signal, progressEverySeconds: env.progressEverySeconds });
  for (const o of outcomes) if (o.status === 'failed') failed += 1;
  return { trained: todo.length, reused, failed, diagnostics };
}

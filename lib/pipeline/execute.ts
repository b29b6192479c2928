// Executing runs: executeRun trains one proxy run from its spec alone plus the environment (prepared data,
// evaluation set, registry, threads, signal, checkpoints, hooks) and records the outcome in the registry;
// runSlots decides which slots the registry already answers and trains the rest through the runner's pool.
// Several processes may share the registry: a run is trained only under its lease (lib/registry.ts), which
// its holder renews while it trains; only the holder touches the run's checkpoint folder, and a process that
// finds a run leased trains other runs first, then waits for the holder and reuses its result.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { PreparedData } from '../data/prepare.js';
import { MixtureSampler } from '../data/sampler.js';
import { Model } from '../native.js';
import { LeaseLostError, leaseIsLive, leaseOwnerId, runKey, type Registry, type RunRecord } from '../registry.js';
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
  /** Lease timings; DEFAULT_LEASE for what is left out. */
  lease?: Partial<LeaseSettings>;
}

/** How long a run's lease lasts without a heartbeat, how often its holder renews it, how often a waiter looks again. */
export interface LeaseSettings {
  ttlMs: number;
  heartbeatMs: number;
  pollMs: number;
}

/**
 * 30 s: a lease left by a killed process on another machine lapses within half a minute (on the same machine,
 * as soon as its process is gone); a holder renews every 5 s, so six heartbeats in a row must be missed.
 */
export const DEFAULT_LEASE: LeaseSettings = { ttlMs: 30_000, heartbeatMs: 5_000, pollMs: 1_000 };

function leaseSettings(given: Partial<LeaseSettings> | undefined): LeaseSettings {
  return { ...DEFAULT_LEASE, ...given };
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

/** The lease of a run this process holds: the run's key and the owner id it was taken with. */
export interface HeldLease {
  key: string;
  owner: string;
}

/** Thrown by executeRun when another live process holds the run's lease. */
export class RunLeasedError extends Error {
  readonly code = 'ERR_RUN_LEASED';
  constructor(record: RunRecord) {
    super(
      `run ${record.key.slice(0, 12)} (${record.label}) is being trained by ${record.leaseOwner ?? 'another process'} (lease until ${record.leaseExpiresAt ?? '?'}); ` +
        'wait for it and reuse its result from the registry',
    );
    this.name = 'RunLeasedError';
  }
}

/**
 * Renews a lease every `heartbeatMs` while a run trains; check() (between steps) throws LeaseLostError once
 * another process holds it, renewing first when the last renewal is older than half the expiry (a stalled timer).
 */
function leaseHeartbeat(registry: Registry, lease: HeldLease, label: string, settings: LeaseSettings): { check(): void; stop(): void } {
  let confirmed = Date.now();
  let lost = false;
  const renew = (): void => {
    try {
      if (registry.renew(lease.key, lease.owner, settings.ttlMs)) confirmed = Date.now();
      else lost = true;
    } catch {
      // the registry stayed busy past its timeout: try again at the next beat (the lease lasts ttlMs)
    }
  };
  const timer = setInterval(renew, settings.heartbeatMs);
  timer.unref();
  return {
    check: () => {
      if (!lost && Date.now() - confirmed > settings.ttlMs / 2) renew();
      if (lost) throw new LeaseLostError(lease.key, label, lease.owner);
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Trains one proxy run from its spec: the model, the optimizer, the schedule and the training stream
 * all come from `spec`, so the registry key (the spec's hash) names exactly what ran. Takes the run's
 * lease (or uses `held`, one the caller took with Registry.acquire), renews it while training, records the
 * result or the failure in the registry, resumes from and removes its checkpoint. Returns the recorded result
 * when another process finished the run first; rejects with RunLeasedError when another process holds it,
 * with LeaseLostError when one took it over meanwhile (nothing recorded, the checkpoint left to it), with an
 * AbortError when `env.signal` stops it (the checkpoint is kept, the lease given up), or with the run's error.
 *
 * @example
 * const result = await executeRun(spec, { prepared, evalSet, registry, threads: 2, checkpointsDir, checkpointEverySeconds: 60 }, { label: 'N=300k base' });
 * result.losses // { books: 2.9, code: 2.1, ... }
 */
export async function executeRun(spec: ProxyRunSpec, env: RunEnvironment, run: RunProgress, held?: HeldLease): Promise<ProxyRunResult> {
  const settings = leaseSettings(env.lease);
  const key = runKey(spec);
  const sampler = samplerOf(spec, env.prepared);
  const t = spec.training;
  let lease: HeldLease;
  if (held) {
    lease = held;
  } else {
    const owner = leaseOwnerId();
    const claim = env.registry.acquire<ProxyRunResult>(spec, run.label, { owner, ttlMs: settings.ttlMs });
    if (claim.status === 'finished' && claim.record.result) return claim.record.result;
    if (claim.status !== 'acquired') throw new RunLeasedError(claim.record);
    lease = { key, owner };
  }
  const heartbeat = leaseHeartbeat(env.registry, lease, run.label, settings);
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
        initStd: t.initStd,
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
      // Between steps, before any checkpoint write: stop at once if the lease is no longer ours.
      onProgress: (e) => {
        heartbeat.check();
        run.onProgress?.(e.tokens, e.loss);
      },
      signal: env.signal,
      log: env.log,
    });
    env.registry.finish(key, result, (Date.now() - t0) / 1000, new Date(), lease.owner);
    removeCheckpoint(checkpointDir);
    return result;
  } catch (error) {
    if (error instanceof LeaseLostError) throw error;
    if ((error as Error)?.name === 'AbortError') {
      env.registry.release(key, lease.owner);
    } else {
      const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : null;
      if (code === 'ERR_NON_FINITE') {
        heartbeat.check(); // the checkpoint is removed only while the lease is ours
        removeCheckpoint(checkpointDir);
      }
      env.registry.fail(key, (error as Error)?.message ?? String(error), code, (Date.now() - t0) / 1000, new Date(), lease.owner);
    }
    throw error;
  } finally {
    heartbeat.stop();
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

/** True for a failure a rerun reuses instead of training again: deterministic (ERR_NON_FINITE), unless `retryFailed`. */
export function isReusableFailure(record: RunRecord, retryFailed: boolean): boolean {
  return record.status === 'failed' && record.errorCode === 'ERR_NON_FINITE' && !retryFailed;
}

/** Which runs of a stage the registry answers and which must be trained, for a runner that plans them all at once. */
export interface SlotPartition {
  /** Keys answered by the registry: a finished run, or a reusable failure. */
  reused: Set<string>;
  /** One slot per key still to train, in slot order. */
  todo: RunSlot[];
  /** Runs of `todo` whose lease another live process holds (it trains them now). */
  leased: { slot: RunSlot; record: RunRecord }[];
  /** Distinct keys among the slots. */
  runs: number;
  /** Reused failures, and a sentence on each. */
  failed: number;
  diagnostics: string[];
}

/**
 * Splits the slots (each key once) into those the registry answers, by runSlots' rules (a finished run, or a
 * failure isReusableFailure reuses), and those to train; names the ones another live process holds the lease of.
 * The queue runner (lib/queue) plans with it.
 */
export function partitionSlots(slots: RunSlot[], registry: Registry, retryFailed: boolean): SlotPartition {
  const reused = new Set<string>();
  const todo: RunSlot[] = [];
  const leased: SlotPartition['leased'] = [];
  const diagnostics: string[] = [];
  let failed = 0;
  const seen = new Set<string>();
  for (const slot of slots) {
    if (seen.has(slot.key)) continue;
    seen.add(slot.key);
    const record = registry.get(slot.key);
    if (record?.status === 'finished') {
      reused.add(slot.key);
    } else if (record && isReusableFailure(record, retryFailed)) {
      reused.add(slot.key);
      failed += 1;
      diagnostics.push(`run ${record.label} failed before with ${record.errorCode} (deterministic): its failure is reused; \`autoscale run --retry-failed\` trains it again`);
    } else {
      todo.push(slot);
      if (record?.status === 'running' && leaseIsLive(record)) leased.push({ slot, record });
    }
  }
  return { reused, todo, leased, runs: seen.size, failed, diagnostics };
}

/** Resolves after `ms`, or rejects with an AbortError as soon as `signal` stops the pipeline. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const stopped = (): void => {
      clearTimeout(timer);
      const error = new Error('stopped: the finished runs are recorded and the running ones checkpointed; run again to resume');
      error.name = 'AbortError';
      reject(error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stopped);
      resolve();
    }, ms);
    if (signal?.aborted) stopped();
    else signal?.addEventListener('abort', stopped, { once: true });
  });
}

/**
 * Trains the slots that have no usable record (each key once) and reuses the rest: a finished run, or one
 * that failed deterministically (ERR_NON_FINITE) unless `retryFailed`. A run another live process holds the
 * lease of is left to it: the free runs are trained first, then this process polls the registry until the
 * holder finishes (its result is reused), fails, or its lease lapses (the run is taken over and resumed
 * from its checkpoint). Returns which were reused and what failed.
 */
export async function runSlots(slots: RunSlot[], env: SlotsEnvironment): Promise<SlotsOutcome> {
  const { registry, log } = env;
  const settings = leaseSettings(env.lease);
  const reused = new Set<string>();
  const diagnostics: string[] = [];
  let failed = 0;
  const reusableFailure = (record: RunRecord): boolean => isReusableFailure(record, env.retryFailed);
  /** Reuses what the registry answers now; the rest is free to train, or busy (leased by a live process). */
  const sortSlots = (pending: RunSlot[]): { free: RunSlot[]; busy: { slot: RunSlot; record: RunRecord }[] } => {
    const free: RunSlot[] = [];
    const busy: { slot: RunSlot; record: RunRecord }[] = [];
    for (const slot of pending) {
      const record = registry.get(slot.key);
      if (record?.status === 'finished') {
        reused.add(slot.key);
      } else if (record && reusableFailure(record)) {
        reused.add(slot.key);
        failed += 1;
        diagnostics.push(`run ${record.label} failed before with ${record.errorCode} (deterministic): its failure is reused; \`autoscale run --retry-failed\` trains it again`);
      } else if (record?.status === 'running' && leaseIsLive(record)) {
        busy.push({ slot, record });
      } else {
        free.push(slot);
      }
    }
    return { free, busy };
  };

  const seen = new Set<string>();
  const unique = slots.filter((slot) => !seen.has(slot.key) && seen.add(slot.key));
  let { free, busy } = sortSlots(unique);
  if (free.length === 0 && busy.length === 0) {
    log(`[runs] all ${seen.size} runs found in the registry; nothing to train`);
    return { trained: 0, reused, failed, diagnostics };
  }
  const todo = free.length + busy.length;
  const capacity = planCapacity({
    backend: (free[0] ?? busy[0]!.slot).spec.backend,
    runs: todo,
    cores: availableParallelism(),
    threadsPerRun: env.threadsPerRun === 'auto' ? undefined : env.threadsPerRun,
    concurrency: env.concurrency === 'auto' ? undefined : env.concurrency,
  });
  const others = busy.length > 0 ? `, ${busy.length} being trained by another process (this one reuses their results)` : '';
  log(`[runs] ${free.length} to train, ${reused.size} reused from the registry${others}; ${capacity.reason}`);

  const runEnv: RunEnvironment = { ...env, threads: capacity.threadsPerRun };
  const retakeFailed = (record: RunRecord): boolean => !reusableFailure(record);
  let trained = 0;
  let waitingFor = '';
  for (;;) {
    if (free.length > 0) {
      const owners = new Map<string, string>();
      const tasks: RunTask<ProxyRunResult>[] = free.map((slot) => ({
        key: slot.key,
        label: slot.label,
        // Built here as well as in executeRun so that a spec the sampler rejects fails the stage before any run starts.
        tokens: samplerOf(slot.spec, env.prepared).totalWindows * slot.spec.model.contextLength,
        claim: () => {
          const owner = leaseOwnerId();
          let status: string;
          try {
            status = registry.acquire(slot.spec, slot.label, { owner, ttlMs: settings.ttlMs }, { retakeFailed }).status;
          } catch (error) {
            // Another process kept the registry locked past the busy timeout: pass the run over and look again.
            if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return false;
            throw error;
          }
          if (status === 'acquired') owners.set(slot.key, owner);
          return status === 'acquired';
        },
        run: (progress) => executeRun(slot.spec, runEnv, { label: slot.label, onProgress: progress }, { key: slot.key, owner: owners.get(slot.key)! }),
      }));
      const outcomes = await runPool(tasks, { concurrency: capacity.concurrency, log, signal: env.signal, progressEverySeconds: env.progressEverySeconds });
      // Passed over (another process took the run first) or taken over: sorted again with the busy ones.
      const again: RunSlot[] = busy.map((b) => b.slot);
      outcomes.forEach((o, i) => {
        if (o.status === 'skipped' || (o.status === 'failed' && o.code === 'ERR_LEASE_LOST')) again.push(free[i]!);
        else {
          trained += 1;
          if (o.status === 'failed') failed += 1;
        }
      });
      // Every run passed over (another process took each first): look again after a pause, not in a tight loop.
      if (outcomes.every((o) => o.status === 'skipped')) await pause(settings.pollMs, env.signal);
      ({ free, busy } = sortSlots(again));
      continue;
    }
    if (busy.length === 0) break;
    const line = busy.map((b) => `${b.slot.label} (${b.record.leaseOwner})`).join(', ');
    if (line !== waitingFor) {
      log(`[runs] waiting for ${busy.length} run(s) that another process is training: ${line}; polling the registry every ${settings.pollMs / 1000} s`);
      waitingFor = line;
    }
    await pause(settings.pollMs, env.signal);
    ({ free, busy } = sortSlots(busy.map((b) => b.slot)));
  }
  return { trained, reused, failed, diagnostics };
}

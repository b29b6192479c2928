// `autoscale worker`: takes proxy runs from the queue of its backend and trains each with executeRun, the
// code path of a local run, so the spec alone decides the result. Before training it checks that the spec
// is for this build (package version and addon binary) and that the data it prepares from the job's data
// config has the key the spec names; a mismatch fails the job with both keys, never a silent run on other
// data. Training runs off the event loop (the native model's own thread), so BullMQ keeps renewing the
// job's lock during a long run; a worker that dies loses its lock and BullMQ's stalled-job check hands the
// run to another worker, which resumes from the checkpoint when the checkpoint folder is shared.
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import { prepareData, type PreparedData } from '../data/prepare.js';
import { heldOutSet } from '../data/held-out.js';
import { formatCount, formatDuration } from '../format.js';
import { backendInfo } from '../native.js';
import { executeRun, samplerOf, type PipelineHooks } from '../pipeline/execute.js';
import { nativeResultId, parseNativeResultId } from '../pipeline/spec.js';
import { canonicalJson, openRegistry, runKey } from '../registry.js';
import { planCapacity } from '../runner.js';
import type { EvalSet, ProxyRunResult } from '../train.js';
import { backendQueue, closeRedis, connectRedis, probeRedis, throttledLog } from './connection.js';
import { DEFAULT_QUEUE, redactRedisUrl } from './redis-url.js';
import { failureReason, parseQueuedRun, PROXY_RUN_JOB, type QueuedRun, type QueuedRunProgress } from './job.js';

export interface QueueWorkerOptions {
  /** redis:// or rediss:// URL (checked by the caller; never printed with its password). */
  redis: string;
  /** Queue name shared with the coordinators (default "autoscale"); this worker takes from "<queue>-<backend>". */
  queue?: string;
  /** The backend this worker trains with: it serves the runs whose spec says it. */
  backend: 'cpu' | 'cuda';
  /** Runs at once (default: the runner's capacity plan for this machine: one per core on CPU, 4 per GPU). */
  concurrency?: number;
  /** CPU threads per run (default: cores / concurrency). */
  threads?: number;
  /** Shown in the coordinator's progress and recorded in its registry (default "<hostname>:<pid>"). */
  name?: string;
  /**
   * The shared cache folder as this machine sees it, when it is not mounted at the coordinator's path:
   * the worker reads shards from <cache>/data and checkpoints into <cache>/checkpoints.
   */
  cacheDir?: string;
  /** BullMQ lock of a running job, in seconds (default 30): a dead worker's job is retried after about this long. */
  lockSeconds?: number;
  /** Seconds between progress reports to the queue (default 1). */
  progressEverySeconds?: number;
  log?: (line: string) => void;
  /** Test hooks for the runs (fault injection). */
  hooks?: PipelineHooks;
}

/** A running worker. */
export interface QueueWorker {
  name: string;
  /** The BullMQ queue it takes from. */
  queue: string;
  concurrency: number;
  threadsPerRun: number;
  /** Resolves once BullMQ is connected and taking jobs. */
  ready: Promise<void>;
  /**
   * Stops: running runs checkpoint and go back to the queue (no attempt counted), then the connection closes.
   * Resolves when the worker has stopped.
   */
  close(): Promise<void>;
}

/** The prepared data and evaluation sets one worker process keeps, by data config and cache folder. */
class DataCache {
  private readonly prepared = new Map<string, Promise<PreparedData>>();
  private readonly evalSets = new Map<string, EvalSet>();

  /** The prepared data of a job's data config, read from (or, when absent, tokenized into) `cacheDir`. */
  async preparedData(run: QueuedRun, cacheDir: string): Promise<PreparedData> {
    const id = `${canonicalJson(run.data.config)}\0${cacheDir}`;
    let entry = this.prepared.get(id);
    if (!entry) {
      entry = prepareData(run.data.config, { cacheDir });
      // Keep the latest two data sets: a pipeline has one, and its successor may have another.
      if (this.prepared.size >= 2) this.prepared.delete(this.prepared.keys().next().value as string);
      this.prepared.set(id, entry);
      entry.catch(() => this.prepared.delete(id));
    }
    return entry;
  }

  evalSet(prepared: PreparedData, contextLength: number, windowsPerDomain: number): EvalSet {
    const id = `${prepared.key}/${contextLength}/${windowsPerDomain}`;
    let set = this.evalSets.get(id);
    if (!set) {
      set = heldOutSet(prepared, contextLength, windowsPerDomain);
      if (this.evalSets.size >= 4) this.evalSets.delete(this.evalSets.keys().next().value as string);
      this.evalSets.set(id, set);
    }
    return set;
  }
}

function codeOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

/**
 * Starts a worker on `<queue>-<backend>` once Redis answers (rejecting at once if it refuses the password);
 * `ready` resolves once BullMQ is taking jobs.
 *
 * @example
 * const worker = await startQueueWorker({ redis: 'redis://10.0.0.5:6379', backend: 'cpu', log: console.error });
 * process.on('SIGTERM', () => void worker.close());
 */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const log = options.log ?? (() => undefined);
  const backend = options.backend;
  const info = backendInfo();
  if (backend === 'cuda' && !info.backends.cuda.available) {
    throw new Error(`--backend cuda: CUDA is unavailable here (${info.backends.cuda.reason ?? 'no device'}); start this worker with --backend cpu, or on a machine with a GPU`);
  }
  const cores = availableParallelism();
  const capacity = planCapacity({
    backend,
    runs: options.concurrency ?? (backend === 'cuda' ? 4 : cores),
    cores,
    threadsPerRun: options.threads,
    concurrency: options.concurrency,
  });
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const queue = backendQueue(options.queue ?? DEFAULT_QUEUE, backend);
  const shown = redactRedisUrl(options.redis);
  const version = info.version;
  const native = nativeResultId(backend);
  const warn = throttledLog(log, options.redis);
  // Rejects at once on a refused password; otherwise waits for Redis as long as it takes.
  await probeRedis(options.redis, { onError: warn });
  const data = new DataCache();
  // This process's record of its own runs: executeRun records into it, and a job delivered again to the
  // worker that finished it is answered from it. The coordinator keeps the real registry.
  const registry = openRegistry(':memory:');
  const stopping = new AbortController();
  const progressMs = (options.progressEverySeconds ?? 1) * 1000;

  const trainJob = async (job: Job, token?: string): Promise<ProxyRunResult> => {
    let run: QueuedRun;
    try {
      run = parseQueuedRun(job.data);
    } catch (error) {
      throw new UnrecoverableError(failureReason((error as Error).message, codeOf(error)));
    }
    const { spec, label } = run;
    const key = runKey(spec);
    // A deterministic refusal fails the job at once (UnrecoverableError): every worker runs the same build
    // on the same data, so a mismatch is a setup error to fix, not something another attempt can mend.
    const refuse = (code: string, message: string): never => {
      throw new UnrecoverableError(failureReason(`worker ${name}: ${message}`, code));
    };
    if (job.id !== key) refuse('ERR_JOB_DATA', `job ${job.id} carries a spec whose key is ${key}; the job id must be the run key`);
    if (spec.backend !== backend) refuse('ERR_JOB_DATA', `run ${label} is for backend ${spec.backend} but this worker trains with ${backend}`);
    const planned = parseNativeResultId(spec.native);
    const own = parseNativeResultId(native);
    if (spec.version === version && planned.build === own.build && planned.kc !== own.kc) {
      refuse(
        'ERR_WORKER_BUILD',
        `run ${label} was planned where the CPU GEMM sums in panels of KC ${planned.kc}, this worker's are KC ${own.kc} ` +
          `(${info.backends.cpu.gemm}): the same addon trains to other bits here. Start this worker with ` +
          `AUTOSCALE_GEMM_KC=${planned.kc} (or AUTOSCALE_GEMM_CACHES set to the coordinator's L1d and L2 in KB), or give such ` +
          'machines a coordinator of their own',
      );
    }
    if (spec.version !== version || spec.native !== native) {
      refuse(
        'ERR_WORKER_BUILD',
        `run ${label} was planned by autoscale-lm ${spec.version} with addon ${spec.native}, this worker is ${version} with addon ${native}; ` +
          'a run key names the exact trainer, so every machine must run the same build: install the same version and copy the ' +
          "coordinator's build-cmake/Release/autoscale.node (or run all of them from one install on shared storage)",
      );
    }
    const shardCache = options.cacheDir ? path.join(options.cacheDir, 'data') : run.data.cacheDir;
    const checkpointsDir = options.cacheDir ? path.join(options.cacheDir, 'checkpoints') : run.checkpoints.dir;
    let prepared: PreparedData;
    try {
      prepared = await data.preparedData(run, shardCache);
    } catch (error) {
      return refuse(codeOf(error) ?? 'ERR_DATA', `cannot prepare the data of run ${label} from the shard cache ${shardCache}: ${(error as Error).message}`);
    }
    if (prepared.key !== spec.data) {
      refuse(
        'ERR_DATA_MISMATCH',
        `run ${label} names the data ${spec.data}, but its data config prepares to ${prepared.key} here (shard cache ${shardCache}); ` +
          'the sources differ from the ones the coordinator prepared: give every machine the same corpus files at the same paths (shared storage)',
      );
    }
    const done = registry.get<ProxyRunResult>(key);
    if (done?.status === 'finished' && done.result) {
      log(`[job] ${label}: already trained by this worker; answering from its record`);
      return done.result;
    }

    const evalSet = data.evalSet(prepared, spec.model.contextLength, spec.windowsPerDomain);
    const totalTokens = samplerOf(spec, prepared).totalWindows * spec.model.contextLength;
    let lastReport = 0;
    let firstStep = true;
    const stepTokens = spec.training.batchSize * spec.model.contextLength;
    const report = (tokens: number, loss: number | null): void => {
      const progress: QueuedRunProgress = { worker: name, tokens, totalTokens, loss: loss !== null && Number.isFinite(loss) ? loss : null };
      job.updateProgress(progress as unknown as Record<string, unknown>).catch((error: Error) => warn(`[job] ${label}: progress not sent (${error.message})`));
    };
    report(0, null);
    log(`[job] start ${label} (${formatCount(totalTokens)} tokens, attempt ${job.attemptsStarted})`);
    const started = Date.now();
    try {
      const result = await executeRun(
        spec,
        {
          prepared,
          evalSet,
          registry,
          threads: capacity.threadsPerRun,
          signal: stopping.signal,
          checkpointsDir,
          checkpointEverySeconds: run.checkpoints.everySeconds,
          hooks: options.hooks,
          log: (line) => log(`[job] ${label}: ${line}`),
        },
        {
          label,
          onProgress: (tokens, loss) => {
            if (firstStep) {
              firstStep = false;
              // More than one step's tokens after the first step: the run started from a checkpoint.
              if (tokens > stepTokens) log(`[job] ${label}: resumed from its checkpoint at ${formatCount(tokens - stepTokens)} tokens`);
            }
            const now = Date.now();
            if (now - lastReport < progressMs) return;
            lastReport = now;
            report(tokens, loss);
          },
        },
      );
      report(result.tokens, result.trainLoss);
      const seconds = (Date.now() - started) / 1000;
      log(`[job] done ${label} in ${formatDuration(seconds)} (${formatCount(seconds > 0 ? totalTokens / seconds : 0)} tok/s)`);
      return result;
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      if ((error as Error)?.name === 'AbortError' && stopping.signal.aborted) {
        // Stopping: the run has checkpointed; hand the job back without counting an attempt.
        log(`[job] ${label}: checkpointed and handed back to the queue`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const code = codeOf(error);
      log(`[job] FAILED ${label}: ${message}${code ? ` [${code}]` : ''}`);
      // A NaN loss recurs on every attempt (the spec decides the run): no retry.
      if (code === 'ERR_NON_FINITE') throw new UnrecoverableError(failureReason(message, code));
      throw new Error(failureReason(message, code));
    }
  };

  const lockDuration = Math.max(1, options.lockSeconds ?? 30) * 1000;
  const connection = connectRedis(options.redis, warn);
  const worker = new Worker(queue, trainJob, {
    connection,
    name,
    concurrency: capacity.concurrency,
    lockDuration,
    stalledInterval: lockDuration,
    // A run whose worker is lost twice more (three deliveries in all) is failed rather than retried forever.
    maxStalledCount: 2,
    autorun: true,
  });
  worker.on('error', (error: Error) => warn(`[worker] ${error.message}`));
  const ready = worker.waitUntilReady().then(() => {
    log(
      `[worker] ${name} takes ${PROXY_RUN_JOB} jobs from queue ${queue} at ${shown}: ${capacity.concurrency} run(s) at once x ${capacity.threadsPerRun} thread(s); ` +
        `autoscale-lm ${version}, addon ${native}`,
    );
  });
  ready.catch(() => undefined);

  let closed: Promise<void> | undefined;
  return {
    name,
    queue,
    concurrency: capacity.concurrency,
    threadsPerRun: capacity.threadsPerRun,
    ready,
    close: () => {
      closed ??= (async () => {
        stopping.abort();
        // Running runs checkpoint and hand their jobs back within seconds; a Redis that is gone cannot take them
        // back, and then their locks lapse and BullMQ retries them elsewhere.
        await closeRedis([worker], [connection], 60);
        registry.close();
      })();
      return closed;
    },
  };
}

// The queue runner's coordinator: the runs of a stage that the registry lacks go into the BullMQ queue of
// their backend (job id = run key, so a run is enqueued once however often the coordinator starts), and
// each result is recorded in the SQLite registry as it arrives, with the worker that trained it. Redis
// holds only what is in flight: the coordinator removes a job once its registry has the outcome, so a
// coordinator killed at any moment and started again finds every run either in its registry or in the
// queue (waiting, running, or finished and waiting to be collected) and trains nothing twice.
//
// A run whose lease another live process holds (a local pipeline on the same cache, lib/registry.ts) is not
// enqueued: its outcome is reused once recorded, and it is enqueued if that process lets go of it. The
// coordinator itself takes no leases (BullMQ's job lock is what keeps a queued run on one worker), so a
// local pipeline started on the same cache while the queue trains may train a queued run too.
//
// Events (QueueEvents) make the progress prompt; a periodic reconciliation that reads each job's state
// makes it correct, since events published before the listener connected or while Redis was unreachable
// are never delivered.
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DataConfig } from '../data/config.js';
import { formatCount, formatDuration } from '../format.js';
import { isReusableFailure, partitionSlots, samplerOf, type SlotsEnvironment, type SlotsOutcome } from '../pipeline/execute.js';
import { leaseIsLive } from '../registry.js';
import type { RunSlot } from '../pipeline/plan.js';
import { overallProgressLine, runProgressLine, type LiveRun } from '../runner.js';
import { backendQueue, closeRedis, connectRedis, probeRedis, throttledLog } from './connection.js';
import { jobOptions, parseFailureReason, parseRunResult, PROXY_RUN_JOB, QUEUED_RUN_FORMAT, type QueuedRun, type QueuedRunProgress } from './job.js';
import { redactRedisUrl, redactSecrets } from './redis-url.js';

/** Where the coordinator enqueues. */
export interface QueueTarget {
  /** redis:// or rediss:// URL (never printed with its password). */
  redis: string;
  /** Queue name shared with the workers; runs of backend b go to "<queue>-<b>". */
  queue: string;
  /** Seconds to wait for Redis before giving up (default 15). */
  connectSeconds?: number;
  /** Seconds between reconciliations with the jobs' states in Redis (default 5). */
  reconcileEverySeconds?: number;
}

/** What queueSlots needs: runSlots' environment, where workers find the data, and the queue. */
export interface QueueSlotsEnvironment extends SlotsEnvironment {
  /** The data config the coordinator prepared and its shard cache folder (absolute). */
  data: { config: DataConfig; cacheDir: string };
  queue: QueueTarget;
}

/** elsewhere: another live process holds the run's lease (a local pipeline on this cache trains it); not enqueued. */
type Phase = 'elsewhere' | 'waiting' | 'running' | 'settled';

/** The coordinator's view of one queued run. */
interface Tracked {
  slot: RunSlot;
  queue: Queue;
  tokens: number;
  phase: Phase;
  /** BullMQ's attemptsStarted of the latest attempt recorded in the registry (0: none yet). */
  attempt: number;
  worker: string | undefined;
  live: LiveRun;
  /** Serialises the handling of this run's events and reconciliations. */
  chain: Promise<void>;
}

function abortError(message: string): Error {
  const error = new Error(message);
  error.name = 'AbortError';
  return error;
}

/**
 * The queue runner: trains the slots the registry cannot answer through `autoscale worker` processes and
 * records each outcome in the registry as it arrives. Reuse is decided as the local runner decides it
 * (partitionSlots). Resolves when every run has finished or failed; rejects with an AbortError when
 * `env.signal` stops it (the queued runs stay queued and the workers keep training them: the next
 * coordinator collects their results) and with an Error naming the (redacted) URL when Redis cannot be
 * reached. Concurrency is the workers' (their --concurrency and --threads); env.threadsPerRun,
 * env.concurrency and env.hooks do not apply.
 *
 * @example
 * const outcome = await queueSlots(slots, { ...env, data: { config: setup.dataConfig, cacheDir }, queue: { redis: 'redis://10.0.0.5:6379', queue: 'autoscale' } });
 */
export async function queueSlots(slots: RunSlot[], env: QueueSlotsEnvironment): Promise<SlotsOutcome> {
  const { registry, log } = env;
  const { reused, todo, leased, runs, diagnostics, failed: reusedFailures } = partitionSlots(slots, registry, env.retryFailed);
  let failed = reusedFailures;
  if (todo.length === 0) {
    log(`[runs] all ${runs} runs found in the registry; nothing to train`);
    return { trained: 0, reused, failed, diagnostics };
  }
  if (env.signal?.aborted) throw abortError('stopped before any run was enqueued');
  const url = env.queue.redis;
  const shown = redactRedisUrl(url);
  const redacted = (text: string): string => redactSecrets(text, url);
  const warn = throttledLog(log, url);

  // Built before anything is enqueued so that a spec the sampler rejects fails the stage before any run starts.
  const tokensOf = new Map(todo.map((slot) => [slot.key, samplerOf(slot.spec, env.prepared).totalWindows * slot.spec.model.contextLength]));

  const queues = new Map<string, { queue: Queue; events: QueueEvents }>();
  const connections: Redis[] = [];
  const connect = (): Redis => {
    const connection = connectRedis(url, warn);
    connections.push(connection);
    return connection;
  };
  const closeAll = (): Promise<void> => closeRedis([...queues.values()].flatMap(({ queue, events }) => [events, queue]), connections, 10);
  const tracked = new Map<string, Tracked>();
  const started = Date.now();
  let doneTokens = 0;
  let completed = 0;
  let settledFailures = 0;
  let settle: () => void = () => undefined;
  const allSettled = new Promise<void>((resolve) => {
    settle = resolve;
  });

  const counts = (): { running: number; waiting: number; tokens: number } => {
    let running = 0;
    let waiting = 0;
    let tokens = doneTokens;
    for (const t of tracked.values()) {
      if (t.phase === 'running') {
        running += 1;
        tokens += t.live.done;
      } else if (t.phase === 'waiting') waiting += 1;
    }
    return { running, waiting, tokens };
  };
  const overall = (): string => {
    const c = counts();
    return overallProgressLine({
      completed,
      runs: todo.length,
      failed: settledFailures,
      running: c.running,
      waiting: c.waiting,
      tokens: c.tokens,
      totalTokens: [...tokensOf.values()].reduce((a, b) => a + b, 0),
      elapsedS: (Date.now() - started) / 1000,
    });
  };

  /** Marks a run as running on its job's worker; records each new attempt (a worker took it) in the registry once. */
  const noteAttempt = (t: Tracked, job: Job): void => {
    const attempt = Math.max(1, job.attemptsStarted ?? 1);
    const worker = job.processedBy ?? undefined;
    const where = worker ? ` on ${worker}` : '';
    if (attempt > t.attempt) {
      const previous = t.worker;
      t.attempt = attempt;
      registry.start(t.slot.spec, t.slot.label, new Date(), worker ?? null);
      if (attempt > 1 && previous !== undefined) {
        const why = (job.stalledCounter ?? 0) > 0 ? `its worker ${previous} was lost` : `the attempt on ${previous} failed: ${job.failedReason ?? 'no reason given'}`;
        log(redacted(`[run] retry ${t.slot.label}${where} (attempt ${attempt}; ${why})`));
      } else {
        log(`[run] start ${t.slot.label}${where} (${formatCount(t.tokens)} tokens)`);
      }
    } else if (t.phase !== 'running') {
      log(`[run] ${t.slot.label} runs${where} (attempt ${attempt}, started before this coordinator)`);
    } else {
      return;
    }
    t.worker = worker;
    t.phase = 'running';
    // The coordinator's clock, not the worker's (machines' clocks differ): the rate is over what it saw.
    t.live = { label: t.slot.label, tokens: t.tokens, done: 0, loss: Number.NaN, started: Date.now(), where: worker ?? '?' };
  };

  /** The registry needs a started record before finish() or fail(). */
  const ensureStarted = (t: Tracked, job: Job): void => {
    if (registry.get(t.slot.key)?.status === 'running') return;
    registry.start(t.slot.spec, t.slot.label, new Date(), job.processedBy ?? null);
  };

  const finishRun = async (t: Tracked, job: Job, outcome: 'finished' | 'failed'): Promise<void> => {
    if (Math.max(1, job.attemptsStarted ?? 1) > t.attempt) noteAttempt(t, job); // an attempt seen only now that it ended
    ensureStarted(t, job);
    const durationS = job.finishedOn && job.processedOn ? (job.finishedOn - job.processedOn) / 1000 : 0;
    const where = job.processedBy ? ` on ${job.processedBy}` : '';
    t.phase = 'settled';
    doneTokens += t.tokens;
    completed += 1;
    if (outcome === 'finished') {
      let result;
      try {
        result = parseRunResult(job.returnvalue, t.slot.label);
      } catch (error) {
        registry.fail(t.slot.key, (error as Error).message, 'ERR_JOB_DATA', durationS);
        settledFailures += 1;
        log(`[run] FAILED ${t.slot.label}${where}: ${(error as Error).message} [ERR_JOB_DATA]; ${overall()}`);
        await removeJob(job);
        return;
      }
      registry.finish(t.slot.key, result, durationS);
      const rate = durationS > 0 ? t.tokens / durationS : 0;
      log(`[run] done ${t.slot.label}${where} in ${formatDuration(durationS)} (${formatCount(rate)} tok/s); ${overall()}`);
    } else {
      const { error, code } = parseFailureReason(job.failedReason);
      registry.fail(t.slot.key, redacted(error), code, durationS);
      settledFailures += 1;
      log(redacted(`[run] FAILED ${t.slot.label}${where}: ${error}${code ? ` [${code}]` : ''}; ${overall()}`));
    }
    await removeJob(job);
  };

  // The registry has the outcome: the job is no longer needed (a failure left in Redis would block re-enqueueing it).
  const removeJob = async (job: Job): Promise<void> => {
    try {
      await job.remove();
    } catch (error) {
      warn(`[queue] job ${String(job.id).slice(0, 12)} stays in Redis (${(error as Error).message}); its outcome is in the registry`);
    }
  };

  let answeredElsewhere = 0;
  /** A run another process trains: reused once it is recorded, enqueued if that process lets go of it. */
  const syncElsewhere = async (t: Tracked): Promise<void> => {
    const record = registry.get(t.slot.key);
    if (record?.status === 'running' && leaseIsLive(record)) return;
    if (record?.status === 'finished' || (record && isReusableFailure(record, env.retryFailed))) {
      t.phase = 'settled';
      reused.add(t.slot.key);
      answeredElsewhere += 1;
      doneTokens += t.tokens;
      completed += 1;
      if (record.status === 'failed') {
        settledFailures += 1;
        diagnostics.push(`run ${record.label} failed in another process with ${record.errorCode} (deterministic): its failure is reused`);
      }
      log(`[run] ${t.slot.label} was ${record.status} by another process (${record.leaseOwner ?? 'its lease holder'}); its outcome is reused; ${overall()}`);
      return;
    }
    log(`[run] ${t.slot.label} was let go by the process that trained it; enqueued`);
    await t.queue.add(PROXY_RUN_JOB, jobData(t.slot), jobOptions(t.slot.key));
    t.phase = 'waiting';
  };

  /** Brings the registry and the progress up to date with the job's state in Redis. */
  const sync = async (t: Tracked): Promise<void> => {
    if (t.phase === 'settled') return;
    if (t.phase === 'elsewhere') {
      await syncElsewhere(t);
      if (completed === todo.length) settle();
      return;
    }
    // The state first, then the job: the job read is then at least as new as the state (its worker set once active).
    const state = await t.queue.getJobState(t.slot.key);
    const job = (await t.queue.getJob(t.slot.key)) as Job | undefined;
    if (!job || state === 'unknown') {
      // Removed behind our back (an obliterated queue, or another coordinator collected it): enqueue it again.
      warn(`[queue] ${t.slot.label} is no longer in the queue; enqueueing it again`);
      await t.queue.add(PROXY_RUN_JOB, jobData(t.slot), jobOptions(t.slot.key));
      t.phase = 'waiting';
      return;
    }
    if (state === 'completed') await finishRun(t, job, 'finished');
    else if (state === 'failed') await finishRun(t, job, 'failed');
    else if (state === 'active') noteAttempt(t, job);
    else if (t.phase === 'running') {
      // Back in the queue: its worker was lost (stalled) or its attempt failed and a retry waits.
      t.phase = 'waiting';
      const why = (job.stalledCounter ?? 0) > 0 ? `its worker ${t.worker ?? '?'} was lost` : `attempt ${t.attempt} failed: ${job.failedReason ?? 'no reason given'}`;
      log(redacted(`[run] ${t.slot.label} is back in the queue (${why}); BullMQ retries it`));
    }
    if (completed === todo.length) settle();
  };

  const schedule = (key: string): void => {
    const t = tracked.get(key);
    if (!t) return;
    t.chain = t.chain.then(
      () => sync(t),
      () => sync(t),
    ).catch((error: Error) => warn(`[queue] ${t.slot.label}: cannot read its job (${error.message}); trying again`));
  };

  const jobData = (slot: RunSlot): QueuedRun => ({
    format: QUEUED_RUN_FORMAT,
    spec: slot.spec,
    label: slot.label,
    data: { config: env.data.config, cacheDir: env.data.cacheDir },
    checkpoints: { dir: env.checkpointsDir, everySeconds: env.checkpointEverySeconds },
  });

  let reconcileTimer: NodeJS.Timeout | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await probeRedis(url, { seconds: env.queue.connectSeconds ?? 15 });
    // Connect: one queue (and its event listener) per backend among the runs.
    for (const backend of new Set(todo.map((slot) => slot.spec.backend))) {
      const name = backendQueue(env.queue.queue, backend);
      const queue = new Queue(name, { connection: connect() });
      const events = new QueueEvents(name, { connection: connect() });
      queue.on('error', (error: Error) => warn(`[queue] ${name}: ${error.message}`));
      events.on('error', (error: Error) => warn(`[queue] ${name} events: ${error.message}`));
      queues.set(backend, { queue, events });
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
      const onJob = ({ jobId }: { jobId: string }): void => schedule(jobId);
      for (const event of ['active', 'completed', 'failed', 'waiting', 'delayed'] as const) events.on(event, onJob);
      events.on('stalled', ({ jobId }: { jobId: string }) => {
        const t = tracked.get(jobId);
        if (t) log(`[run] ${t.slot.label} stalled on ${t.worker ?? '?'} (its worker stopped renewing the lock: killed, or its machine lost); BullMQ hands it to another worker`);
        schedule(jobId);
      });
      events.on('progress', ({ jobId, data }: { jobId: string; data: unknown }) => {
        const t = tracked.get(jobId);
        const p = data as Partial<QueuedRunProgress> | null;
        if (!t || t.phase !== 'running' || !p || typeof p.tokens !== 'number') return;
        if (p.worker !== undefined && t.worker !== undefined && p.worker !== t.worker) return; // a late report of an earlier attempt
        t.live.done = p.tokens;
        t.live.loss = typeof p.loss === 'number' ? p.loss : Number.NaN;
      });
    }

    const queueNames = [...queues.values()].map(({ queue }) => queue.name).join(', ');
    const others = leased.length > 0 ? `, ${leased.length} being trained by another process (this one reuses their results)` : '';
    log(`[runs] ${todo.length - leased.length} to train, ${reused.size} reused from the registry${others}; queue ${queueNames} at ${shown}: the workers decide how many run at once`);
    const leasedKeys = new Set(leased.map((l) => l.slot.key));
    // Enqueue what the queue does not hold yet; collect what finished while no coordinator listened.
    let alreadyQueued = 0;
    for (const slot of todo) {
      const { queue } = queues.get(slot.spec.backend)!;
      const t: Tracked = {
        slot,
        queue,
        tokens: tokensOf.get(slot.key)!,
        phase: 'waiting',
        attempt: 0,
        worker: undefined,
        live: { label: slot.label, tokens: tokensOf.get(slot.key)!, done: 0, loss: Number.NaN, started: Date.now() },
        chain: Promise.resolve(),
      };
      const existing = (await queue.getJob(slot.key)) as Job | undefined;
      if (!existing && leasedKeys.has(slot.key)) {
        t.phase = 'elsewhere';
        tracked.set(slot.key, t);
        continue;
      }
      let enqueue = existing === undefined;
      if (existing && (await existing.getState()) === 'failed') {
        // A failure this registry does not reuse (not deterministic, or --retry-failed): a fresh job, as a local rerun would retry it.
        await existing.remove();
        enqueue = true;
      } else if (existing) {
        alreadyQueued += 1;
        // The registry's last record of this run may already count the attempt running now (a coordinator restarted).
        const record = registry.get(slot.key);
        if (record?.status === 'running' && record.worker !== null && record.worker === existing.processedBy) {
          t.attempt = existing.attemptsStarted ?? 0;
          t.worker = record.worker;
        }
      }
      tracked.set(slot.key, t);
      if (enqueue) await queue.add(PROXY_RUN_JOB, jobData(slot), jobOptions(slot.key));
    }
    if (alreadyQueued > 0) log(`[queue] ${alreadyQueued} of them were already in the queue (enqueued by an earlier coordinator)`);
    for (const key of tracked.keys()) schedule(key);

    reconcileTimer = setInterval(() => {
      for (const key of tracked.keys()) schedule(key);
    }, (env.queue.reconcileEverySeconds ?? 5) * 1000);
    const lastWorkers = new Map<string, number>();
    progressTimer = setInterval(() => {
      log(`[runs] ${overall()}`);
      for (const t of tracked.values()) if (t.phase === 'running') log(runProgressLine(t.live, Date.now()));
      for (const { queue } of queues.values()) {
        queue
          .getWorkersCount()
          .then((workers) => {
            const { waiting } = counts();
            if (workers === 0 && waiting > 0) {
              log(`[queue] no worker takes from ${queue.name}: start one with \`autoscale worker --redis URL --queue ${env.queue.queue} --backend ${queue.name.slice(env.queue.queue.length + 1)}\``);
            } else if (workers !== lastWorkers.get(queue.name)) log(`[queue] ${workers} worker(s) on ${queue.name}`);
            lastWorkers.set(queue.name, workers);
          })
          .catch((error: Error) => warn(`[queue] cannot count the workers of ${queue.name} (${error.message})`));
      }
    }, env.progressEverySeconds * 1000);
    progressTimer.unref();

    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortError(`stopped: the ${todo.length - completed} unfinished runs stay in the queue and the workers keep training them; run the same command again to collect their results`));
      if (env.signal?.aborted) onAbort();
      env.signal?.addEventListener('abort', onAbort, { once: true });
    });
    await Promise.race([allSettled, stopped]);
  } finally {
    if (reconcileTimer) clearInterval(reconcileTimer);
    if (progressTimer) clearInterval(progressTimer);
    if (onAbort) env.signal?.removeEventListener('abort', onAbort);
    // The handlers still holding a run finish (their Redis calls fail fast once closed) before the caller closes the registry.
    await closeAll();
    await Promise.allSettled([...tracked.values()].map((t) => t.chain));
  }
  failed += settledFailures;
  return { trained: todo.length - answeredElsewhere, reused, failed, diagnostics };
}

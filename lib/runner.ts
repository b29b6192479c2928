// The runner: runs proxy runs concurrently up to the machine's capacity, reports per-run and
// overall progress (tokens/s, loss, ETA), and turns a failing run into a recorded outcome instead
// of an exception. With lib/queue/ (the same runs spread over machines through BullMQ on Redis,
// which plans its workers' capacity and prints its progress with the functions here), the only
// place that knows about concurrency.
import { availableParallelism } from 'node:os';
import { formatCount, formatDuration } from './format.js';

/** One unit of work: a proxy run the pool can start. */
export interface RunTask<Result> {
  key: string;
  /** Shown in progress lines, e.g. "N=2e5 books x3". */
  label: string;
  /** Training tokens the run will process (for throughput and ETA). */
  tokens: number;
  /** Does the work, reporting cumulative tokens and the latest training loss as it goes. */
  run(progress: (tokensDone: number, loss: number) => void): Promise<Result>;
  /**
   * Called when a worker reaches the task, before it starts: false passes the task over (another process
   * holds it), with a 'skipped' outcome and no progress line. None: always start.
   */
  claim?(): boolean;
}

export type TaskOutcome<Result> =
  | { key: string; label: string; status: 'finished'; result: Result; durationS: number }
  | { key: string; label: string; status: 'failed'; error: string; code: string | null; durationS: number }
  | { key: string; label: string; status: 'skipped'; durationS: 0 };

/** How many runs at once, and with how many CPU threads each. */
export interface Capacity {
  concurrency: number;
  threadsPerRun: number;
  /** One line saying why, for the log. */
  reason: string;
}

/**
 * The machine's capacity for proxy runs. CPU: threads per run x runs <= cores (one thread per run
 * when there are at least as many runs as cores, since small models scale poorly across threads).
 * CUDA: `runsPerGpu` runs per device, each with one host thread.
 *
 * @example planCapacity({ backend: 'cpu', cores: 8, runs: 11 }) // { concurrency: 8, threadsPerRun: 1, ... }
 */
export function planCapacity(options: {
  backend: 'cpu' | 'cuda';
  runs: number;
  cores?: number;
  threadsPerRun?: number;
  concurrency?: number;
  gpus?: number;
  runsPerGpu?: number;
}): Capacity {
  const cores = Math.max(1, options.cores ?? availableParallelism());
  const runs = Math.max(1, options.runs);
  if (options.backend === 'cuda') {
    const gpus = Math.max(1, options.gpus ?? 1);
    const concurrency = options.concurrency ?? Math.min(runs, gpus * Math.max(1, options.runsPerGpu ?? 4));
    return { concurrency, threadsPerRun: options.threadsPerRun ?? 1, reason: `${gpus} GPU(s), ${concurrency} run(s) at once` };
  }
  const threadsPerRun = Math.max(1, Math.min(cores, options.threadsPerRun ?? (runs >= cores ? 1 : Math.floor(cores / runs))));
  const concurrency = Math.max(1, Math.min(runs, options.concurrency ?? Math.floor(cores / threadsPerRun)));
  return { concurrency, threadsPerRun, reason: `${cores} core(s): ${concurrency} run(s) at once x ${threadsPerRun} thread(s)` };
}

export interface PoolOptions {
  concurrency: number;
  /** Progress lines go here (the CLI passes stderr). None: silent. */
  log?: (line: string) => void;
  /** Seconds between overall progress lines (default 10). */
  progressEverySeconds?: number;
  /** Tells the runs to stop (they checkpoint and reject); the pool starts nothing new. */
  signal?: AbortSignal;
  /** Called once per finished or failed task, in completion order (the pipeline records it here). */
  onOutcome?: (outcome: TaskOutcome<unknown>) => void;
  now?: () => number;
}

/** A run in flight, as the progress lines show it. */
export interface LiveRun {
  label: string;
  /** Training tokens of the whole run, and done so far. */
  tokens: number;
  done: number;
  /** The latest training loss (NaN before the first step). */
  loss: number;
  /** When it started (ms, the clock of `now`). */
  started: number;
  /** Where it runs, when that is not this process (a queue worker's name). */
  where?: string;
}

/**
 * The overall progress line of a stage: runs done, failed, running (and waiting for a worker, when given),
 * share of tokens, throughput and ETA.
 *
 * @example overallProgressLine({ completed: 3, runs: 7, failed: 0, running: 2, tokens: 5e4, totalTokens: 1e5, elapsedS: 10 })
 * // '3/7 runs done, 2 running, 50% of tokens, 5.0k tok/s, ETA 0:10'
 */
export function overallProgressLine(p: {
  completed: number;
  runs: number;
  failed: number;
  running: number;
  waiting?: number;
  /** Tokens of the completed runs plus those done by the running ones. */
  tokens: number;
  totalTokens: number;
  elapsedS: number;
}): string {
  const rate = p.elapsedS > 0 ? p.tokens / p.elapsedS : 0;
  const eta = rate > 0 ? (p.totalTokens - p.tokens) / rate : Number.NaN;
  const pct = p.totalTokens > 0 ? Math.floor((100 * p.tokens) / p.totalTokens) : 100;
  const waiting = p.waiting === undefined ? '' : `, ${p.waiting} waiting`;
  return `${p.completed}/${p.runs} runs done${p.failed ? ` (${p.failed} failed)` : ''}, ${p.running} running${waiting}, ${pct}% of tokens, ${formatCount(rate)} tok/s, ETA ${formatDuration(eta)}`;
}

/**
 * The progress line of one running run (indented under the overall line).
 *
 * @example runProgressLine({ label: 'N=3k base', tokens: 3000, done: 1500, loss: 2.5, started: 0, where: 'gpu1:4242' }, 10_000)
 * // '  N=3k base: 50% loss 2.500 150 tok/s ETA 0:10 on gpu1:4242'
 */
export function runProgressLine(run: LiveRun, now: number): string {
  const seconds = (now - run.started) / 1000;
  const rate = seconds > 0 ? run.done / seconds : 0;
  const eta = rate > 0 ? (run.tokens - run.done) / rate : Number.NaN;
  const where = run.where === undefined ? '' : ` on ${run.where}`;
  return `  ${run.label}: ${Math.floor((100 * run.done) / Math.max(1, run.tokens))}% loss ${Number.isFinite(run.loss) ? run.loss.toFixed(3) : '-'} ${formatCount(rate)} tok/s ETA ${formatDuration(eta)}${where}`;
}

/**
 * Runs the tasks, at most `concurrency` at once, and returns one outcome per task in task order.
 * A task that throws becomes a 'failed' outcome with its message and `.code`; one whose claim() says no,
 * a 'skipped' outcome; an abort (the signal)
 * rejects the whole pool once the running tasks have stopped.
 *
 * @example
 * const outcomes = await runPool(tasks, { concurrency: 2, log: (line) => process.stderr.write(line + '\n') });
 */
export async function runPool<Result>(tasks: RunTask<Result>[], options: PoolOptions): Promise<TaskOutcome<Result>[]> {
  const now = options.now ?? Date.now;
  const log = options.log;
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const outcomes: TaskOutcome<Result>[] = new Array(tasks.length);
  const live = new Map<number, LiveRun>();
  let totalTokens = tasks.reduce((sum, task) => sum + task.tokens, 0);
  const started = now();
  let doneTokens = 0; // of completed tasks
  let completed = 0;
  let failed = 0;
  let skipped = 0;
  let next = 0;
  let aborted: unknown;

  const overall = (): string => {
    let tokens = doneTokens;
    for (const run of live.values()) tokens += run.done;
    return overallProgressLine({ completed, runs: tasks.length - skipped, failed, running: live.size, tokens, totalTokens, elapsedS: (now() - started) / 1000 });
  };

  const timer =
    log && tasks.length > 0
      ? setInterval(() => {
          log(`[runs] ${overall()}`);
          for (const run of live.values()) log(runProgressLine(run, now()));
        }, (options.progressEverySeconds ?? 10) * 1000)
      : undefined;
  timer?.unref();

  const worker = async (): Promise<void> => {
    while (next < tasks.length && aborted === undefined && !options.signal?.aborted) {
      const index = next++;
      const task = tasks[index] as RunTask<Result>;
      if (task.claim && !task.claim()) {
        outcomes[index] = { key: task.key, label: task.label, status: 'skipped', durationS: 0 };
        skipped += 1;
        totalTokens -= task.tokens;
        continue;
      }
      const run: LiveRun = { label: task.label, tokens: task.tokens, done: 0, loss: Number.NaN, started: now() };
      live.set(index, run);
      log?.(`[run] start ${task.label} (${formatCount(task.tokens)} tokens)`);
      let outcome: TaskOutcome<Result>;
      try {
        const result = await task.run((tokensDone, loss) => {
          run.done = tokensDone;
          run.loss = loss;
        });
        outcome = { key: task.key, label: task.label, status: 'finished', result, durationS: (now() - run.started) / 1000 };
      } catch (error) {
        if (options.signal?.aborted || (error as Error)?.name === 'AbortError') {
          aborted ??= error;
          live.delete(index);
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        const code = typeof (error as { code?: unknown })?.code === 'string' ? ((error as { code: string }).code) : null;
        outcome = { key: task.key, label: task.label, status: 'failed', error: message, code, durationS: (now() - run.started) / 1000 };
      }
      live.delete(index);
      doneTokens += task.tokens;
      completed += 1;
      if (outcome.status === 'failed') failed += 1;
      outcomes[index] = outcome;
      if (outcome.status === 'finished') {
        const rate = outcome.durationS > 0 ? task.tokens / outcome.durationS : 0;
        log?.(`[run] done ${task.label} in ${formatDuration(outcome.durationS)} (${formatCount(rate)} tok/s); ${overall()}`);
      } else {
        log?.(`[run] FAILED ${task.label}: ${outcome.error}${outcome.code ? ` [${outcome.code}]` : ''}; ${overall()}`);
      }
      options.onOutcome?.(outcome as TaskOutcome<unknown>);
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, () => worker()));
  } finally {
    if (timer) clearInterval(timer);
  }
  if (aborted !== undefined || options.signal?.aborted) {
    const error = new Error('stopped: the finished runs are recorded and the running ones checkpointed; run again to resume');
    error.name = 'AbortError';
    throw error;
  }
  return outcomes;
}

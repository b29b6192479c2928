// What travels through the queue: the job a coordinator enqueues for one proxy run (its spec and where a
// worker finds the data and the checkpoints), the progress a worker reports, and how a failure's error
// code rides in BullMQ's failedReason. The job id is the run's registry key, so a run is enqueued once.
import type { JobsOptions } from 'bullmq';
import { parseDataConfig, type DataConfig } from '../data/config.js';
import { PROXY_RUN_FORMAT, type ProxyRunSpec } from '../pipeline/spec.js';
import type { ProxyRunResult } from '../train.js';

/** Bumped whenever the job data below changes shape: a worker refuses jobs of another format. */
export const QUEUED_RUN_FORMAT = 1;

/** BullMQ job name of a proxy run. */
export const PROXY_RUN_JOB = 'proxy-run';

/**
 * The data of a queued proxy run. The spec alone decides the result; the rest says where the worker
 * finds what the spec names.
 */
export interface QueuedRun {
  format: number;
  spec: ProxyRunSpec;
  /** The coordinator's label of the run (progress lines). */
  label: string;
  data: {
    /** The validated data config the coordinator prepared (absolute source paths). */
    config: DataConfig;
    /** The coordinator's shard cache folder (absolute); shared storage lets workers read it instead of tokenizing. */
    cacheDir: string;
  };
  checkpoints: {
    /** The coordinator's checkpoint folder (absolute); a run checkpoints into <dir>/<key>. On shared storage a retried run resumes there. */
    dir: string;
    everySeconds: number;
  };
}

/** What a worker reports through job.updateProgress while it trains a run. */
export interface QueuedRunProgress {
  worker: string;
  /** Training tokens done and the run's total. */
  tokens: number;
  totalTokens: number;
  /** The latest training loss (null before the first step). */
  loss: number | null;
}

/**
 * How the coordinator enqueues a run: the run key as the job id; three attempts with exponential backoff
 * for errors that may pass (a lost GPU, out of memory on a busy machine); a deterministic failure ends the
 * job at once (the worker throws UnrecoverableError). Finished and failed jobs stay until the coordinator
 * has recorded them in its registry and removes them.
 */
export function jobOptions(key: string): JobsOptions {
  return { jobId: key, attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: false, removeOnFail: false };
}

/**
 * The failedReason a worker gives BullMQ: the error's message with its stable code appended in brackets,
 * e.g. "loss is NaN at step 12 [ERR_NON_FINITE]", so that the coordinator can record the code.
 */
export function failureReason(message: string, code: string | null): string {
  return code ? `${message} [${code}]` : message;
}

/**
 * The message and code of a failedReason written by failureReason. BullMQ's own reasons have no code;
 * a job that stalled too often is given ERR_STALLED.
 *
 * @example parseFailureReason('loss is NaN at step 12 [ERR_NON_FINITE]') // { error: 'loss is NaN at step 12', code: 'ERR_NON_FINITE' }
 */
export function parseFailureReason(reason: string | undefined): { error: string; code: string | null } {
  const text = reason && reason.length > 0 ? reason : 'the job failed without a reason';
  const match = / \[(ERR_[A-Z0-9_]+)\]$/.exec(text);
  if (match) return { error: text.slice(0, match.index), code: match[1]! };
  if (/stalled more than allowable limit/i.test(text)) {
    return { error: `${text}: its workers were lost (killed, out of memory, machine down) more often than the stall limit allows`, code: 'ERR_STALLED' };
  }
  return { error: text, code: null };
}

/** A job whose data is not a queued run of this format (from another version, or not ours). */
export class JobDataError extends Error {
  readonly code = 'ERR_JOB_DATA';
  constructor(message: string) {
    super(message);
    this.name = 'JobDataError';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the data of a job as a QueuedRun (the shape; the spec's content is the worker's to check against
 * its own build and data) and returns it. Throws JobDataError naming the field.
 */
export function parseQueuedRun(value: unknown): QueuedRun {
  const fail = (field: string, what: string): never => {
    throw new JobDataError(`job data: ${field} ${what}; the job was not enqueued by this version of autoscale-lm (queued-run format ${QUEUED_RUN_FORMAT})`);
  };
  if (!isObject(value)) return fail('(root)', 'is not an object');
  if (value.format !== QUEUED_RUN_FORMAT) fail('format', `is ${JSON.stringify(value.format)}, not ${QUEUED_RUN_FORMAT}`);
  const spec = value.spec;
  if (!isObject(spec) || spec.kind !== 'proxy-run') return fail('spec', 'is not a proxy-run spec');
  if (spec.format !== PROXY_RUN_FORMAT) fail('spec.format', `is ${JSON.stringify(spec.format)}, not ${PROXY_RUN_FORMAT}`);
  if (typeof spec.data !== 'string') fail('spec.data', 'is not a data key');
  if (spec.backend !== 'cpu' && spec.backend !== 'cuda') fail('spec.backend', `is ${JSON.stringify(spec.backend)}`);
  if (typeof value.label !== 'string') fail('label', 'is not a string');
  const data = value.data;
  if (!isObject(data) || typeof data.cacheDir !== 'string') return fail('data', 'is not { config, cacheDir }');
  let config: DataConfig;
  try {
    config = parseDataConfig(data.config, '/', 'data.config.');
  } catch (error) {
    return fail('data.config', `is not a valid data config (${(error as Error).message})`);
  }
  const checkpoints = value.checkpoints;
  if (!isObject(checkpoints) || typeof checkpoints.dir !== 'string' || typeof checkpoints.everySeconds !== 'number' || !(checkpoints.everySeconds >= 0)) {
    return fail('checkpoints', 'is not { dir, everySeconds }');
  }
  return {
    format: QUEUED_RUN_FORMAT,
    spec: spec as unknown as ProxyRunSpec,
    label: value.label as string,
    data: { config, cacheDir: data.cacheDir },
    checkpoints: { dir: checkpoints.dir, everySeconds: checkpoints.everySeconds },
  };
}

/** Checks a job's return value as a proxy run result (what the registry will store). */
export function parseRunResult(value: unknown, label: string): ProxyRunResult {
  if (!isObject(value) || !isObject(value.losses) || !Array.isArray(value.curve) || typeof value.steps !== 'number' || typeof value.tokens !== 'number') {
    throw new JobDataError(`the result of run ${label} from the queue is not a proxy run result (losses, curve, steps, tokens); was it trained by another version of autoscale-lm?`);
  }
  return value as unknown as ProxyRunResult;
}

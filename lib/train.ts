// One proxy run: a composition (tokens per domain) -> a training stream -> the native trainer ->
// per-domain held-out losses along the way and at the end. Learning rate: linear warmup, then
// cosine decay to a floor. Checkpoints (parameters, optimizer state, step, curve so far) are
// written atomically every K steps or S seconds, and a run started again from its checkpoint
// continues exactly where it stopped: its final losses equal an uninterrupted run's, bit for bit.
// A checkpoint that fails its checksum, holds a non-finite number or does not fit the run is
// discarded with the reason logged, and the run trains from the start: no result is ever computed
// from a damaged checkpoint, and a damaged one does not fail its run on every rerun.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { readTensorFile, TensorFileError, writeTensorFile, type Tensor } from './tensor-file.js';

/** The trainer surface a proxy run needs (lib/native.ts's Model satisfies it; tests pass fakes). */
export interface ProxyModel {
  trainStep(tokens: Uint16Array, lr: number): Promise<{ loss: number; gradNorm: number; step: number }>;
  evalLoss(windows: Uint16Array): Promise<Float64Array>;
  getParameters(): Float32Array;
  setParameters(parameters: Float32Array): void;
  getOptimizerState(): { m: Float32Array; v: Float32Array; step: number };
  setOptimizerState(state: { m: Float32Array; v: Float32Array; step: number }): void;
  dispose(): void;
}

/** The training stream of a run, addressed by batch index so that a resumed run sees the same batches. */
export interface BatchStream {
  /** Number of optimizer steps the run takes (ceil(total tokens / (B * T))). */
  readonly steps: number;
  /** The token windows of step `index` (0-based): n * (T + 1) ids, n <= batch size. */
  batch(index: number): Uint16Array;
}

/** Held-out evaluation windows: one set per domain, concatenated into one forward pass. */
export interface EvalSet {
  /** Domain names in order. */
  domains: string[];
  /** All windows, domain after domain: sum(counts) * (T + 1) ids. */
  windows: Uint16Array;
  /** Windows per domain, in `domains` order. */
  counts: number[];
}

/** Learning-rate schedule: linear warmup from 0 to `lr` over `warmupSteps`, then cosine decay to `minLr`. */
export interface Schedule {
  lr: number;
  minLr: number;
  warmupSteps: number;
  steps: number;
}

/**
 * The learning rate of optimizer step `step` (0-based).
 *
 * @example learningRate({ lr: 1e-3, minLr: 1e-4, warmupSteps: 10, steps: 100 }, 0) // 1e-4 (1/10 of the way up)
 */
export function learningRate(schedule: Schedule, step: number): number {
  const { lr, minLr, warmupSteps, steps } = schedule;
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const decaySteps = Math.max(1, steps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
}

/**
 * The steps at which held-out losses are measured: `points` steps spread evenly, always ending at `steps`
 * (the final losses). Step s means "after s optimizer steps".
 *
 * @example evalSteps(100, 4) // [25, 50, 75, 100]
 */
export function evalSteps(steps: number, points: number): number[] {
  const out = new Set<number>();
  const n = Math.max(1, Math.min(points, steps));
  for (let i = 1; i <= n; i++) out.add(Math.max(1, Math.round((steps * i) / n)));
  return [...out].sort((a, b) => a - b);
}

/** Per-domain held-out losses at one point of a run. */
export interface CurvePoint {
  step: number;
  /** Training tokens seen so far (targets, B*T per full step). */
  tokens: number;
  losses: Record<string, number>;
}

/** What a finished proxy run reports. Deterministic: no wall times (those live in the registry). */
export interface ProxyRunResult {
  /** Final mean held-out loss per domain. */
  losses: Record<string, number>;
  /** Held-out losses along the run, ending with the final ones. */
  curve: CurvePoint[];
  steps: number;
  /** Training tokens seen (target positions). */
  tokens: number;
  /** Mean training loss over the last tenth of the steps. */
  trainLoss: number;
}

export interface ProgressEvent {
  step: number;
  steps: number;
  tokens: number;
  totalTokens: number;
  /** Training loss of the latest step. */
  loss: number;
}

export interface TrainOptions {
  model: ProxyModel;
  stream: BatchStream;
  evalSet: EvalSet;
  schedule: Omit<Schedule, 'steps'>;
  /** Target positions per window (the context length T). */
  contextLength: number;
  /** Number of curve points (held-out evaluations), the last at the end of training. */
  evalPoints: number;
  /** Folder for this run's checkpoint; none when undefined. */
  checkpointDir?: string;
  /** Checkpoint every this many steps (0: never by count). */
  checkpointEverySteps?: number;
  /** Checkpoint when this many seconds passed since the last one (0: never by time). */
  checkpointEverySeconds?: number;
  onProgress?: (event: ProgressEvent) => void;
  /** Stops between steps (after writing a checkpoint) with an AbortError. */
  signal?: AbortSignal;
  /**
   * Told why a checkpoint was discarded (the run then trains from the start). Default: a process
   * warning (code AUTOSCALE_CHECKPOINT_DISCARDED), which Node prints on stderr.
   */
  log?: (line: string) => void;
}

/** Per-domain mean loss from per-window losses. */
export function domainLosses(evalSet: EvalSet, windowLosses: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  let offset = 0;
  evalSet.domains.forEach((domain, d) => {
    const count = evalSet.counts[d] ?? 0;
    let sum = 0;
    for (let i = 0; i < count; i++) sum += windowLosses[offset + i] ?? Number.NaN;
    out[domain] = sum / count;
    offset += count;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: a tensor file (lib/tensor-file.ts: safetensors layout, checksummed) with tensors
// "parameters", "optimizer.m" and "optimizer.v" (float32, [n] each) and the metadata
// "autoscale.kind": "checkpoint" and "autoscale.checkpoint": the CheckpointHeader as JSON.

/** Where a checkpoint stands in its run (the tensors hold the rest). */
export interface CheckpointHeader {
  /** Optimizer steps done. */
  step: number;
  /** Training tokens seen in those steps. */
  tokens: number;
  optimizerStep: number;
  /** Number of parameters (the length of each tensor). */
  parameters: number;
  curve: CurvePoint[];
  /** Training loss of every step done. */
  trainLosses: number[];
}

/** A run's checkpoint: where it stands, its parameters and its AdamW moments. */
export interface Checkpoint {
  header: CheckpointHeader;
  parameters: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** What is in a run's checkpoint folder: nothing, a checkpoint to resume from, or one to discard (and why). */
export type CheckpointRead = { status: 'none' } | { status: 'ok'; checkpoint: Checkpoint } | { status: 'discarded'; file: string; reason: string };

/** The checkpoint's file name inside a run's checkpoint folder. */
export const CHECKPOINT_FILE = 'checkpoint.bin';

function writeCheckpoint(dir: string, checkpoint: Checkpoint): void {
  const n = checkpoint.parameters.length;
  const tensor = (name: string, data: Float32Array): Tensor => ({ name, dtype: 'F32', shape: [n], data });
  writeTensorFile(path.join(dir, CHECKPOINT_FILE), {
    metadata: { 'autoscale.kind': 'checkpoint', 'autoscale.checkpoint': JSON.stringify(checkpoint.header) },
    tensors: [tensor('parameters', checkpoint.parameters), tensor('optimizer.m', checkpoint.m), tensor('optimizer.v', checkpoint.v)],
  });
}

/**
 * Reads and checks a run's checkpoint: the tensor file's checksum, its header, three float32
 * tensors of the header's length, finite values and v >= 0.
 *
 * @example
 * const read = inspectCheckpoint('cache/checkpoints/<key>');
 * if (read.status === 'discarded') console.log(read.reason);
 */
export function inspectCheckpoint(dir: string): CheckpointRead {
  const file = path.join(dir, CHECKPOINT_FILE);
  const discard = (reason: string): CheckpointRead => ({ status: 'discarded', file, reason });
  let contents;
  try {
    contents = readTensorFile(file);
  } catch (error) {
    if (!(error instanceof TensorFileError)) throw error;
    if (error.problem === 'missing') return { status: 'none' };
    return discard(error.detail);
  }
  if (contents.metadata['autoscale.kind'] !== 'checkpoint') return discard(`"autoscale.kind" is ${JSON.stringify(contents.metadata['autoscale.kind'])}, not "checkpoint"`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(contents.metadata['autoscale.checkpoint'] ?? '') as CheckpointHeader;
  } catch {
    return discard('its "autoscale.checkpoint" metadata is not JSON');
  }
  const whole = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (typeof header !== 'object' || header === null || !whole(header.step) || header.step < 1 || !whole(header.tokens) || !whole(header.optimizerStep) ||
    !whole(header.parameters) || !Array.isArray(header.curve) || !Array.isArray(header.trainLosses) || header.trainLosses.length !== header.step ||
    !header.trainLosses.every((loss) => typeof loss === 'number' && Number.isFinite(loss))) {
    return discard('its header lacks the step, tokens, curve or training losses of a run');
  }
  const names = contents.tensors.map((t) => t.name).join(', ');
  if (names !== 'parameters, optimizer.m, optimizer.v' || contents.tensors.some((t) => t.dtype !== 'F32' || t.data.length !== header.parameters)) {
    return discard(`it holds tensors [${names}], not parameters, optimizer.m and optimizer.v of ${header.parameters} float32 each`);
  }
  const [p, m, v] = contents.tensors.map((t) => t.data as Float32Array) as [Float32Array, Float32Array, Float32Array];
  for (const [name, values, nonnegative] of [['parameters', p, false], ['optimizer.m', m, false], ['optimizer.v', v, true]] as const) {
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (!Number.isFinite(x) || (nonnegative && x < 0)) return discard(`${name}[${i}] is ${x}`);
    }
  }
  return { status: 'ok', checkpoint: { header, parameters: p, m, v } };
}

/** Reads a run's checkpoint, or undefined when there is none or it must be discarded (see inspectCheckpoint). */
export function readCheckpoint(dir: string): Checkpoint | undefined {
  const read = inspectCheckpoint(dir);
  return read.status === 'ok' ? read.checkpoint : undefined;
}

/** Deletes a run's checkpoint folder (once its result is in the registry). */
export function removeCheckpoint(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

/**
 * Trains one proxy run to the end (resuming from its checkpoint when there is one) and returns
 * its per-domain held-out losses. Does not dispose the model.
 *
 * @example
 * const result = await trainProxyRun({ model, stream, evalSet, schedule: { lr: 3e-3, minLr: 3e-4, warmupSteps: 10 },
 *   contextLength: 64, evalPoints: 4, checkpointDir: 'cache/checkpoints/<key>' });
 * result.losses // { books: 2.91, code: 2.12, ... }
 */
export async function trainProxyRun(options: TrainOptions): Promise<ProxyRunResult> {
  const { model, stream, evalSet, contextLength, checkpointDir } = options;
  const steps = stream.steps;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`trainProxyRun: the stream has ${steps} steps; a run needs at least one`);
  const schedule: Schedule = { ...options.schedule, steps };
  const evalAt = new Set(evalSteps(steps, options.evalPoints));
  const everySteps = options.checkpointEverySteps ?? 0;
  const everyMs = (options.checkpointEverySeconds ?? 0) * 1000;

  let step = 0;
  let tokens = 0;
  let curve: CurvePoint[] = [];
  let trainLosses: number[] = [];
  const resumed = checkpointDir ? resumableCheckpoint(checkpointDir, model, steps, options.log) : undefined;
  if (resumed) {
    model.setParameters(resumed.parameters);
    model.setOptimizerState({ m: resumed.m, v: resumed.v, step: resumed.header.optimizerStep });
    step = resumed.header.step;
    curve = resumed.header.curve;
    trainLosses = resumed.header.trainLosses;
    tokens = resumed.header.tokens;
  }

  const checkpoint = (): void => {
    if (!checkpointDir) return;
    const state = model.getOptimizerState();
    const parameters = model.getParameters();
    writeCheckpoint(checkpointDir, {
      header: { step, tokens, optimizerStep: state.step, parameters: parameters.length, curve, trainLosses },
      parameters,
      m: state.m,
      v: state.v,
    });
  };

  const totalTokens = countTokens(stream, contextLength);
  let lastCheckpoint = Date.now();
  while (step < steps) {
    if (options.signal?.aborted) {
      checkpoint();
      throw abortError(options.signal);
    }
    const batch = stream.batch(step);
    const { loss } = await model.trainStep(batch, learningRate(schedule, step));
    step += 1;
    tokens += windowsIn(batch, contextLength) * contextLength;
    trainLosses.push(loss);
    if (evalAt.has(step)) {
      const losses = domainLosses(evalSet, await model.evalLoss(evalSet.windows));
      curve.push({ step, tokens, losses });
    }
    options.onProgress?.({ step, steps, tokens, totalTokens, loss });
    if (step < steps && ((everySteps > 0 && step % everySteps === 0) || (everyMs > 0 && Date.now() - lastCheckpoint >= everyMs))) {
      checkpoint();
      lastCheckpoint = Date.now();
    }
  }
  const final = curve[curve.length - 1];
  if (!final || final.step !== steps) throw new Error('trainProxyRun: internal error, no evaluation at the last step');
  const tail = trainLosses.slice(-Math.max(1, Math.ceil(trainLosses.length / 10)));
  return {
    losses: final.losses,
    curve,
    steps,
    tokens,
    trainLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
  };
}

// The run's checkpoint if it can be resumed from; a damaged one, or one that does not fit this run
// and model, is deleted with its reason logged (the run then trains from the start).
function resumableCheckpoint(dir: string, model: ProxyModel, steps: number, log: ((line: string) => void) | undefined): Checkpoint | undefined {
  let read = inspectCheckpoint(dir);
  if (read.status === 'none') return undefined;
  if (read.status === 'ok') {
    const parameters = model.getParameters().length;
    if (read.checkpoint.header.parameters !== parameters) read = { status: 'discarded', file: path.join(dir, CHECKPOINT_FILE), reason: `it holds ${read.checkpoint.header.parameters} parameters but the model has ${parameters}` };
    else if (read.checkpoint.header.step > steps) read = { status: 'discarded', file: path.join(dir, CHECKPOINT_FILE), reason: `it is at step ${read.checkpoint.header.step} but the run has ${steps} steps` };
    else return read.checkpoint;
  }
  const line = `${read.file}: checkpoint discarded (${read.reason}); the run trains from the start`;
  if (log) log(line);
  else process.emitWarning(line, { code: 'AUTOSCALE_CHECKPOINT_DISCARDED' });
  rmSync(read.file, { force: true });
  return undefined;
}

function windowsIn(batch: Uint16Array, contextLength: number): number {
  return Math.floor(batch.length / (contextLength + 1));
}

function countTokens(stream: BatchStream, contextLength: number): number {
  // Every step but possibly the last is full; ask the stream for the last one only.
  if (stream.steps <= 1) return windowsIn(stream.batch(0), contextLength) * contextLength;
  const full = windowsIn(stream.batch(0), contextLength) * contextLength;
  return full * (stream.steps - 1) + windowsIn(stream.batch(stream.steps - 1), contextLength) * contextLength;
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('the run was stopped; it resumes from its checkpoint', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

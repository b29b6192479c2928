// The typed binding to the native addon (native/addon): loads it, picks the backend, validates
// every argument with a message that names it and the fix (before anything reaches C++, which
// checks again for memory safety), and exposes the proxy GPT trainer as `Model`.
//
// Errors are ordinary Error / TypeError / RangeError objects with a stable `code`:
//   wrong JS type                              -> TypeError  ERR_INVALID_ARGUMENT
//   value out of range (token >= vocab, NaN)   -> RangeError ERR_INVALID_ARGUMENT
//   sizes that do not agree (array lengths)    -> RangeError ERR_INVALID_SHAPE
//   ERR_BACKEND_UNAVAILABLE, ERR_DISPOSED, ERR_BUSY, ERR_OUT_OF_MEMORY, ERR_NON_FINITE,
//   ERR_RESOURCES (the OS refused a thread), ERR_CUDA, ERR_INTERNAL  -> Error
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { firstIssue, jsonPath, type Issue, type RawIssue } from './schema-issues.js';

// ---------------------------------------------------------------------------------------------
// Public types

/** Stable error codes carried by every error this module (and the addon) throws. */
export type NativeErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_SHAPE'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_CUDA'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_DISPOSED'
  | 'ERR_BUSY'
  | 'ERR_NON_FINITE'
  | 'ERR_RESOURCES'
  | 'ERR_INTERNAL';

/** An Error with a stable `code` (see NativeErrorCode). */
export type NativeError = Error & { code: NativeErrorCode };

/** Token ids, read zero-copy by the addon. */
export type TokenArray = Uint16Array | Uint32Array | Int32Array;

/** The GPT-2 style proxy model's shape (V, T, C, L, NH); see modelConfigSchema. */
export type ModelConfig = z.output<typeof modelConfigSchema>;

/** AdamW and clipping settings; see optimizerSchema. */
export type OptimizerOptions = z.output<typeof optimizerSchema>;

export type BackendName = 'cpu' | 'cuda';

/** How a Model is created: backend, threads, seed, batch size, precision, optimizer; see modelOptionsSchema. */
export type ModelOptions = z.output<typeof modelOptionsSchema>;

export interface StepResult {
  /** Mean cross-entropy over all target positions, before the update. */
  loss: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Optimizer steps taken so far (1 after the first). */
  step: number;
}

export interface GradientsResult {
  loss: number;
  /** d loss / d parameters, unclipped, in the parameter layout (numParameters floats). */
  gradients: Float32Array;
}

export interface OptimizerState {
  m: Float32Array;
  v: Float32Array;
  step: number;
}

/** One named tensor inside the flat parameter vector. */
export interface ParameterTensor {
  name: string;
  shape: readonly number[];
  /** In floats from the start of the parameter vector. */
  offset: number;
  size: number;
  weightDecay: boolean;
}

export interface CudaDevice {
  index: number;
  name: string;
  /** Bytes. */
  totalMemory: number;
  /** "major.minor", e.g. "9.0". */
  computeCapability: string;
}

export interface BackendInfo {
  version: string;
  backends: {
    /**
     * gemm: the CPU GEMM's blocking, chosen from this machine's cache sizes and the build's vector width. gemmKc: its
     * panel depth, which fixes the order of the GEMM's sums: one addon binary trains to other bits where it differs
     * (a machine with another L1d size), so CPU run keys include it.
     */
    cpu: { available: true; threads: number; gemm: string; gemmKc: number };
    cuda: { compiled: boolean; available: boolean; devices: CudaDevice[]; reason?: string };
  };
}

export interface OpTensorDescription {
  name: string;
  /** 'in' read, 'out' overwritten, 'inout' accumulated into (+=). */
  kind: 'in' | 'out' | 'inout';
  type: 'float32' | 'int32';
  nullable: boolean;
}

export interface OpDescription {
  name: string;
  tensors: OpTensorDescription[];
  ints: string[];
  floats: string[];
}

export type OpTensor = Float32Array | Int32Array | null;

// ---------------------------------------------------------------------------------------------
// The addon

interface NativeModel {
  trainStep(tokens: TokenArray, lr: number): Promise<StepResult>;
  evalLoss(windows: TokenArray, mask?: Float32Array | null): Promise<Float64Array>;
  computeGradients(tokens: TokenArray): Promise<GradientsResult>;
  getParameters(): Float32Array;
  setParameters(parameters: Float32Array): void;
  getGradients(): Float32Array;
  getOptimizerState(): OptimizerState;
  setOptimizerState(m: Float32Array, v: Float32Array, step: number): void;
  dispose(): void;
  readonly parameterLayout: ParameterTensor[];
  readonly numParameters: number;
  readonly memoryBytes: number;
  readonly step: number;
  readonly backend: BackendName;
  readonly disposed: boolean;
}

interface NativeAddon {
  Model: new (config: ModelConfig, options: Record<string, unknown>) => NativeModel;
  backendInfo(): BackendInfo['backends'];
  runOp(
    backend: string,
    name: string,
    tensors: OpTensor[],
    ints: number[],
    floats: number[],
    options?: { threads?: number; device?: number },
  ): number;
  opTable(): OpDescription[];
  opTensorSizes(name: string, ints: number[]): number[];
}

function makeError<E extends Error>(
  ErrorClass: new (message: string) => E,
  code: NativeErrorCode,
  message: string,
): E & { code: NativeErrorCode } {
  return Object.assign(new ErrorClass(message), { code });
}

const typeError = (message: string) => makeError(TypeError, 'ERR_INVALID_ARGUMENT', message);
const rangeError = (message: string) => makeError(RangeError, 'ERR_INVALID_ARGUMENT', message);
const shapeError = (message: string) => makeError(RangeError, 'ERR_INVALID_SHAPE', message);

/** The package root: the nearest folder above this file whose package.json is autoscale-lm's
 * (lib/native.ts when run through tsx, dist/native.js when compiled). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'autoscale-lm') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('autoscale-lm: cannot find the package root (package.json) above lib/native');
    dir = parent;
  }
}

let addon: NativeAddon | undefined;
let addonPath: string | undefined;

/** Where the addon is looked for, in order: $AUTOSCALE_ADDON alone when set, else the cmake-js
 * build, then the node-gyp build. */
export function addonCandidates(): string[] {
  const fromEnv = process.env.AUTOSCALE_ADDON;
  if (fromEnv) return [path.resolve(fromEnv)];
  const root = packageRoot();
  return [path.join(root, 'build-cmake', 'Release', 'autoscale.node'), path.join(root, 'build', 'Release', 'autoscale.node')];
}

function loadAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const candidate of addonCandidates()) {
    if (!existsSync(candidate)) {
      failures.push(`${candidate}: not found`);
      continue;
    }
    try {
      addon = require(candidate) as NativeAddon;
      addonPath = candidate;
      return addon;
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message}`);
    }
  }
  throw makeError(
    Error,
    'ERR_BACKEND_UNAVAILABLE',
    'the autoscale-lm native addon could not be loaded. Build it with `npm run build:native` ' +
      '(cmake-js, falling back to node-gyp; needs a C++17 compiler), or point AUTOSCALE_ADDON at a built ' +
      `autoscale.node. Tried:\n  ${failures.join('\n  ')}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Argument checks (TypeScript first, for messages a user can act on)

const MAX_INT32 = 2 ** 31 - 1;

function checkInteger(value: unknown, name: string, min: number, max = MAX_INT32): number {
  if (typeof value !== 'number') throw typeError(`${name} must be an integer number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function checkNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw rangeError(`${name} must be a finite number in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function checkKeys(value: object, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw rangeError(`${name} has an unknown field '${key}'; the fields are ${allowed.join(', ')}`);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (Array.isArray(value)) return 'an Array';
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/**
 * The smallest vocabulary a Model takes: next-token prediction over one token has nothing to learn. The one
 * rule of it: the addon reads the config's types and the core checks sizes only for memory safety (>= 1).
 */
export const MIN_VOCAB_SIZE = 2;

/** An integer argument in [min, max]: TypeError when not a number, RangeError otherwise (as checkInteger). */
function integer(min: number, max = MAX_INT32) {
  const error = {
    error: (issue: RawIssue) =>
      typeof issue.input === 'number' ? `must be an integer in [${min}, ${max}], got ${issue.input}` : `must be an integer number, got ${describe(issue.input)}`,
  };
  return z.number(error).int(error).min(min, error).max(max, error);
}

/** A number argument in [min, max]: TypeError when not a number, RangeError otherwise (as checkNumber). */
function finite(min: number, max: number) {
  const error = {
    error: (issue: RawIssue) =>
      typeof issue.input === 'number' ? `must be a finite number in [${min}, ${max}], got ${issue.input}` : `must be a number, got ${describe(issue.input)}`,
  };
  return z.number(error).min(min, error).max(max, error);
}

/** A plain object of exactly these fields (not an array or a typed array); `expected` names it for anything else. */
function argumentObject<Shape extends z.ZodRawShape>(shape: Shape, expected: string) {
  const fields = Object.keys(shape).join(', ');
  return z
    .custom<Record<string, unknown>>(isPlainObject, { error: (issue) => `must be ${expected}, got ${describe(issue.input)}`, params: { code: 'ERR_WRONG_TYPE' } })
    .pipe(z.strictObject(shape, { error: (issue) => `has an unknown field '${(issue as { keys?: string[] }).keys?.[0]}'; the fields are ${fields}` }));
}

/** One of `names`: RangeError otherwise. */
function oneOf<const Names extends readonly [string, ...string[]]>(names: Names) {
  return z.enum(names, { error: (issue) => `must be ${names.map((n) => `'${n}'`).join(', ').replace(/, ([^,]*)$/, ' or $1')}, got ${JSON.stringify(issue.input)}` });
}

export const modelConfigSchema = argumentObject(
  {
    /** V: token ids are in [0, vocabSize). */
    vocabSize: integer(MIN_VOCAB_SIZE),
    /** T: tokens per window; a window holds T + 1 ids (inputs [0, T), targets [1, T]). */
    contextLength: integer(1),
    /** C: channels; must be a multiple of heads. */
    width: integer(1),
    /** L: transformer blocks. */
    layers: integer(1),
    /** NH: attention heads. */
    heads: integer(1),
  },
  'an object {vocabSize, contextLength, width, layers, heads}',
).check((ctx) => {
  const { width, heads } = ctx.value;
  if (width % heads !== 0) {
    ctx.issues.push({
      code: 'custom',
      input: heads,
      path: ['heads'],
      params: { code: 'ERR_INVALID_SHAPE' },
      message:
        `config.heads = ${heads} does not divide config.width = ${width}: choose a width that is a multiple of heads ` +
        `(e.g. width = ${Math.max(1, Math.round(width / heads)) * heads})`,
    });
  }
});

export const optimizerSchema = argumentObject(
  {
    beta1: finite(0, 0.999999).optional(),
    beta2: finite(0, 0.999999).optional(),
    eps: finite(1e-30, 1).optional(),
    /** Decoupled weight decay, applied to the matrices only. */
    weightDecay: finite(0, 1e6).optional(),
    /** Maximum global L2 norm of the gradient; <= 0 disables clipping. */
    gradClip: finite(-1e30, 1e30).optional(),
  },
  'an object',
);

export const modelOptionsSchema = argumentObject(
  {
    /** 'auto' (default) = 'cuda' when a CUDA device is available, else 'cpu' (resolveBackend). */
    backend: oneOf(['auto', 'cpu', 'cuda']).optional(),
    /** CUDA device index (default 0). */
    device: integer(0, 65536).optional(),
    /** CPU worker threads; 0 (default) = all hardware threads. More than the OS allows is ERR_RESOURCES at the first operation. */
    threads: integer(0, 65536).optional(),
    /** Initialisation seed (default 1337): same seed, same parameters. */
    seed: integer(0, Number.MAX_SAFE_INTEGER).optional(),
    /**
     * SD of the normal initialisation of the weight matrices (default 0.02, GPT-2's; the residual projections get
     * initStd / sqrt(2 layers)). 0.02 was tuned for width 768: narrow proxies learn faster and more reproducibly
     * with a width-scaled SD such as sqrt(2 / (5 width)) (0.079 at width 64; docs/noise.md).
     */
    initStd: finite(1e-6, 10).optional(),
    /** Most windows per trainStep / computeGradients call; activations are sized for it (default 8). */
    batchSize: integer(1).optional(),
    /** CUDA matmul precision (default 'fp32'; the CPU backend is always fp32). */
    matmulPrecision: oneOf(['fp32', 'tf32', 'bf16']).optional(),
    optimizer: optimizerSchema.optional(),
  },
  'an object',
);

/**
 * The error of an argument's first issue, as the other checks here throw them: `name` (config, options) and the
 * path lead the message; a value that is not a number or an object is a TypeError, anything else a RangeError.
 */
function argumentError(name: string, issues: readonly Issue[]): NativeError {
  const { issue } = firstIssue(issues);
  const where = jsonPath([name, ...issue.path]);
  if (issue.code === 'custom') {
    // Set by this module's checks: sizes that do not agree, or a value of the wrong type.
    const code = (issue.params as { code?: 'ERR_INVALID_SHAPE' | 'ERR_WRONG_TYPE' } | undefined)?.code;
    if (code === 'ERR_INVALID_SHAPE') return shapeError(issue.message);
    return (code === 'ERR_WRONG_TYPE' ? typeError : rangeError)(`${where} ${issue.message}`);
  }
  // NaN, Infinity or 1.5 where an integer goes is a number out of range; a string there, or 5 for an object, the wrong type.
  const numberGiven = typeof issue.input === 'number' && issue.code === 'invalid_type' && (issue.expected === 'number' || issue.expected === 'int');
  return (issue.code === 'invalid_type' && !numberGiven ? typeError : rangeError)(`${where} ${issue.message}`);
}

function checkConfig(config: unknown): ModelConfig {
  const result = modelConfigSchema.safeParse(config, { reportInput: true });
  if (!result.success) throw argumentError('config', result.error.issues);
  return result.data;
}

function checkOptions(options: unknown): ModelOptions {
  if (options === undefined) return {};
  const result = modelOptionsSchema.safeParse(options, { reportInput: true });
  if (!result.success) throw argumentError('options', result.error.issues);
  return result.data;
}

function isTokenArray(value: unknown): value is TokenArray {
  return value instanceof Uint16Array || value instanceof Uint32Array || value instanceof Int32Array;
}

/** Checks a window array: type, whole windows, count (the addon checks the ids' range). Returns the window count. */
function checkWindows(
  value: unknown,
  name: string,
  config: ModelConfig,
  maxWindows: number | undefined,
): number {
  if (!isTokenArray(value)) {
    throw typeError(
      `${name} must be a Uint16Array, Uint32Array or Int32Array of token ids, got ${describe(value)}` +
        (value instanceof Float32Array || value instanceof Float64Array || Array.isArray(value)
          ? ` (convert it, e.g. Uint32Array.from(${name}))`
          : ''),
    );
  }
  const window = config.contextLength + 1;
  const windows = value.length / window;
  if (value.length === 0 || !Number.isInteger(windows)) {
    throw shapeError(
      `${name} has ${value.length} ids, which is not a positive whole number of windows of contextLength + 1 = ` +
        `${window} ids; pass n * ${window} ids (each window: ${config.contextLength} inputs and the next id as target)`,
    );
  }
  if (maxWindows !== undefined && windows > maxWindows) {
    throw shapeError(
      `${name} holds ${windows} windows but the model was created with batchSize = ${maxWindows}: ` +
        `split the batch, or create the Model with a larger options.batchSize`,
    );
  }
  // The ids' range ([0, vocabSize)) is checked once, by the addon, synchronously and with the same name
  // ("trainStep(tokens)[i] = id is not a token id..."); the core checks it again while copying, for memory safety.
  return windows;
}

function checkFloat32Array(value: unknown, name: string, length: number, check?: 'finite' | 'nonnegative'): Float32Array {
  if (!(value instanceof Float32Array)) throw typeError(`${name} must be a Float32Array, got ${describe(value)}`);
  if (value.length !== length) {
    throw shapeError(`${name} has ${value.length} elements; expected ${length}`);
  }
  if (check) {
    for (let i = 0; i < value.length; i++) {
      const x = value[i]!;
      if (!Number.isFinite(x) || (check === 'nonnegative' && x < 0)) {
        throw rangeError(`${name}[${i}] = ${x}; every element must be ${check === 'finite' ? 'finite' : 'finite and >= 0'}`);
      }
    }
  }
  return value;
}

/**
 * The promise, its rejection carrying the caller's stack: the addon settles its promises from the event loop, so
 * a native error's own stack names no JS frame. `callSite` is an Error made when the call was made (as sharp
 * does); its frames are appended to the error's stack, below its message.
 *
 * @example return withCallerStack(this.#native.trainStep(tokens, lr), new Error());
 */
function withCallerStack<T>(promise: Promise<T>, callSite: Error): Promise<T> {
  return promise.catch((error: unknown) => {
    const frames = callSite.stack?.split('\n').slice(1).join('\n');
    if (error instanceof Error && frames) error.stack = `${error.stack ?? `${error.name}: ${error.message}`}\n${frames}`;
    throw error;
  });
}

// ---------------------------------------------------------------------------------------------
// Model

/**
 * A GPT-2 style proxy model in native memory (CPU or CUDA), with its AdamW state.
 * One operation at a time: trainStep / evalLoss / computeGradients run off the event loop and
 * return Promises; calling anything else while one is in flight throws ERR_BUSY.
 * Free the native memory with dispose() (or `using`); a finalizer frees it otherwise.
 *
 * @example
 * const model = new Model({ vocabSize: 256, contextLength: 64, width: 64, layers: 2, heads: 4 }, { seed: 1 });
 * const batch = new Uint16Array(8 * 65);          // 8 windows of contextLength + 1 ids
 * const { loss } = await model.trainStep(batch, 1e-3);
 * const perWindow = await model.evalLoss(heldOut); // Float64Array, one mean loss per window
 * model.dispose();
 */
export class Model implements Disposable {
  /** The model's shape. */
  readonly config: Readonly<ModelConfig>;
  /** The backend actually in use ('auto' resolved). */
  readonly backend: BackendName;
  /** Most windows per trainStep / computeGradients call. */
  readonly batchSize: number;
  readonly #native: NativeModel;
  #layout: readonly ParameterTensor[] | undefined;

  /**
   * Creates the model and initialises its parameters from options.seed (GPT-2 scheme, SD options.initStd).
   * @example
   * const model = new Model({ vocabSize: 11, contextLength: 5, width: 8, layers: 2, heads: 2 }, { backend: 'cpu', batchSize: 4 });
   */
  constructor(config: ModelConfig, options: ModelOptions = {}) {
    const checkedConfig = checkConfig(config);
    const checkedOptions = checkOptions(options);
    const native = loadAddon();
    const backend = resolveBackend(checkedOptions.backend ?? 'auto');
    if (backend === 'cuda') {
      const cuda = cudaStatus(native);
      if (!cuda.available) {
        throw makeError(
          Error,
          'ERR_BACKEND_UNAVAILABLE',
          `options.backend is 'cuda' but CUDA is unavailable (${cuda.reason ?? 'no device'}); ` +
            `use backend 'cpu' or 'auto' (auto picks CUDA when a device is present)`,
        );
      }
    }
    this.config = Object.freeze(checkedConfig);
    this.batchSize = checkedOptions.batchSize ?? 8;
    this.#native = new native.Model(checkedConfig, { ...checkedOptions, backend, batchSize: this.batchSize });
    this.backend = this.#native.backend;
  }

  #requireLive(method: string): void {
    if (this.#native.disposed) {
      throw makeError(Error, 'ERR_DISPOSED', `Model.${method}(): the model has been disposed; create a new Model`);
    }
  }

  /**
   * One AdamW step (with global-norm clipping) on 1..batchSize windows of contextLength + 1 ids.
   * Resolves with the loss before the update. Rejects with ERR_NON_FINITE (parameters untouched)
   * when the loss or gradient is not finite, and with ERR_RESOURCES when the OS refuses the threads
   * of the model's first operation (its own thread and its options.threads CPU threads; the
   * message names the limit: RLIMIT_NPROC, threads-max, the cgroup's pids.max).
   * @example
   * const { loss, gradNorm, step } = await model.trainStep(batch, 3e-4);
   */
  trainStep(tokens: TokenArray, lr: number): Promise<StepResult> {
    this.#requireLive('trainStep');
    checkWindows(tokens, 'trainStep(tokens)', this.config, this.batchSize);
    if (typeof lr !== 'number') throw typeError(`trainStep(tokens, lr): lr must be a number, got ${describe(lr)}`);
    if (!Number.isFinite(lr) || lr < 0 || lr > 3.4e38) {
      throw rangeError(`trainStep(tokens, lr): lr must be a finite number >= 0, got ${lr}`);
    }
    return withCallerStack(this.#native.trainStep(tokens, lr), new Error());
  }

  /**
   * Mean loss of each window (any number of windows; processed batchSize at a time), without
   * touching parameters or gradients. With options.mask (one weight per target position,
   * n_windows * contextLength), a window's loss is sum(mask * loss) / sum(mask), NaN where its
   * mask sums to 0.
   * @example
   * const losses = await model.evalLoss(windows);                    // Float64Array(n)
   * const lastOnly = await model.evalLoss(windows, { mask });        // weighted by mask
   */
  evalLoss(windows: TokenArray, options: { mask?: Float32Array } = {}): Promise<Float64Array> {
    this.#requireLive('evalLoss');
    const n = checkWindows(windows, 'evalLoss(windows)', this.config, undefined);
    if (!isPlainObject(options)) throw typeError(`evalLoss(windows, options): options must be an object, got ${describe(options)}`);
    checkKeys(options, ['mask'], 'evalLoss options');
    let mask: Float32Array | undefined;
    if (options.mask !== undefined) {
      mask = checkFloat32Array(options.mask, 'evalLoss options.mask', n * this.config.contextLength, 'nonnegative');
    }
    return withCallerStack(this.#native.evalLoss(windows, mask ?? null), new Error());
  }

  /**
   * Forward and backward without an update: the mean loss and its (unclipped) gradient.
   * @example
   * const { loss, gradients } = await model.computeGradients(batch);
   */
  computeGradients(tokens: TokenArray): Promise<GradientsResult> {
    this.#requireLive('computeGradients');
    checkWindows(tokens, 'computeGradients(tokens)', this.config, this.batchSize);
    return withCallerStack(this.#native.computeGradients(tokens), new Error());
  }

  /**
   * A copy of all parameters (numParameters floats, laid out as parameterLayout says).
   * @example
   * const wte = model.getParameters().subarray(layout[0].offset, layout[0].offset + layout[0].size);
   */
  getParameters(): Float32Array {
    this.#requireLive('getParameters');
    return this.#native.getParameters();
  }

  /**
   * Replaces all parameters (numParameters finite floats).
   * @example
   * model.setParameters(checkpoint.parameters);
   */
  setParameters(parameters: Float32Array): void {
    this.#requireLive('setParameters');
    checkFloat32Array(parameters, 'setParameters(parameters)', this.numParameters, 'finite');
    this.#native.setParameters(parameters);
  }

  /**
   * A copy of the gradient left by the last trainStep (unclipped) or computeGradients.
   * @example
   * const g = model.getGradients();
   */
  getGradients(): Float32Array {
    this.#requireLive('getGradients');
    return this.#native.getGradients();
  }

  /**
   * Copies of AdamW's first and second moments and its step count, for checkpoints.
   * @example
   * const { m, v, step } = model.getOptimizerState();
   */
  getOptimizerState(): OptimizerState {
    this.#requireLive('getOptimizerState');
    return this.#native.getOptimizerState();
  }

  /**
   * Restores AdamW's state; with setParameters, a restored checkpoint continues exactly.
   * @example
   * model.setParameters(saved.parameters);
   * model.setOptimizerState({ m: saved.m, v: saved.v, step: saved.step });
   */
  setOptimizerState(state: OptimizerState): void {
    this.#requireLive('setOptimizerState');
    if (!isPlainObject(state)) {
      throw typeError(`setOptimizerState(state): state must be an object {m, v, step}, got ${describe(state)}`);
    }
    checkFloat32Array(state.m, 'setOptimizerState(state): state.m', this.numParameters, 'finite');
    checkFloat32Array(state.v, 'setOptimizerState(state): state.v', this.numParameters, 'nonnegative');
    checkInteger(state.step, 'setOptimizerState(state): state.step', 0);
    this.#native.setOptimizerState(state.m, state.v, state.step);
  }

  /** The named tensors inside the parameter vector, in order. */
  get parameterLayout(): readonly ParameterTensor[] {
    this.#layout ??= Object.freeze(
      this.#native.parameterLayout.map((p) => Object.freeze({ ...p, shape: Object.freeze([...p.shape]) })),
    );
    return this.#layout;
  }

  get numParameters(): number {
    return this.#native.numParameters;
  }

  /** Bytes of native (host or device) memory the model holds; 0 after dispose(). */
  get memoryBytes(): number {
    return this.#native.memoryBytes;
  }

  /** Optimizer steps taken (restored by setOptimizerState). */
  get step(): number {
    return this.#native.step;
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /**
   * Frees the native memory now. Idempotent; later calls on the model throw ERR_DISPOSED;
   * throws ERR_BUSY while an operation is in flight.
   * @example
   * await model.trainStep(batch, 1e-3);
   * model.dispose();
   */
  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Backend discovery and the op table

/**
 * Why the loaded addon has no CUDA when it is the node-gyp build that scripts/build-native.mjs fell
 * back to (it records the CMake failure in build/autoscale-fallback.json), else undefined.
 */
function fallbackNote(): string | undefined {
  if (!addonPath) return undefined;
  const file = path.join(path.dirname(path.dirname(addonPath)), 'autoscale-fallback.json');
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as { cmakeFailed?: string; cudaLost?: boolean; nvcc?: string };
    return (
      `this is the node-gyp build (CPU only) that the install fell back to because ${record.cmakeFailed ?? 'the CMake build failed'}` +
      (record.cudaLost
        ? `; nvcc was found (${record.nvcc ?? 'on PATH'}), so the CMake build would have compiled CUDA: fix it, then \`npm rebuild autoscale-lm\``
        : '')
    );
  } catch {
    return undefined;
  }
}

/** The addon's CUDA status, with the reason of a fallback build when there is one. */
function cudaStatus(native: NativeAddon): BackendInfo['backends']['cuda'] {
  const cuda = native.backendInfo().cuda;
  const note = cuda.compiled ? undefined : fallbackNote();
  return note ? { ...cuda, reason: `${cuda.reason ?? 'not compiled in'}: ${note}` } : cuda;
}

/**
 * The backend that 'auto' means here: 'cuda' when this build has CUDA and the machine a device, else 'cpu';
 * 'cpu' and 'cuda' stay as they are (whether CUDA is available is the caller's to check). The one place
 * 'auto' is resolved: the Model, the pipeline's run specs and `autoscale worker` ask it; the addon takes
 * only 'cpu' or 'cuda'.
 *
 * @example new Model(config, { backend: resolveBackend('auto') }).backend === resolveBackend('auto') // true
 */
export function resolveBackend(requested: 'auto' | BackendName): BackendName {
  if (requested !== 'auto') return requested;
  return cudaStatus(loadAddon()).available ? 'cuda' : 'cpu';
}

/**
 * The package version and the compute backends this build and machine offer.
 * @example
 * const info = backendInfo();
 * if (info.backends.cuda.available) console.log(info.backends.cuda.devices[0].name);
 */
export function backendInfo(): BackendInfo {
  const native = loadAddon();
  const backends = { ...native.backendInfo(), cuda: cudaStatus(native) };
  const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return { version: pkg.version, backends };
}

let opTableCache: readonly OpDescription[] | undefined;

/**
 * Every backend op with its argument signature (tensors in call order, integer and float
 * arguments), for table-driven tests and diagnostics.
 * @example
 * for (const op of opTable()) console.log(op.name, op.tensors.map((t) => t.name), op.ints);
 */
export function opTable(): readonly OpDescription[] {
  opTableCache ??= Object.freeze(loadAddon().opTable());
  return opTableCache;
}

function findOp(name: unknown): OpDescription {
  if (typeof name !== 'string') throw typeError(`op name must be a string, got ${describe(name)}`);
  const op = opTable().find((o) => o.name === name);
  if (!op) throw rangeError(`unknown op '${name}'; the ops are ${opTable().map((o) => o.name).join(', ')}`);
  return op;
}

function checkOpInts(op: OpDescription, ints: unknown): number[] {
  if (!Array.isArray(ints) || ints.length !== op.ints.length) {
    throw rangeError(`${op.name} takes ints [${op.ints.join(', ')}], got ${Array.isArray(ints) ? ints.length : describe(ints)}`);
  }
  return ints.map((x, i) => checkInteger(x, `${op.name} int ${op.ints[i]}`, -MAX_INT32 - 1));
}

/**
 * The element count each of an op's tensors must have for the given integer arguments.
 * @example
 * opTensorSizes('matmul_forward', [7, 13, 5]); // sizes of out, inp, weight, bias
 */
export function opTensorSizes(name: string, ints: number[]): number[] {
  const op = findOp(name);
  return loadAddon().opTensorSizes(op.name, checkOpInts(op, ints));
}

/**
 * Runs one backend op synchronously on host typed arrays (Float32Array for float tensors,
 * Int32Array for int tensors, null for an absent nullable tensor). Out tensors are overwritten,
 * InOut tensors accumulated into. Returns the op's scalar result (sum_squares), else 0.
 * @example
 * const out = new Float32Array(7 * 5);
 * runOp('cpu', 'matmul_forward', [out, inp, weight, bias], [7, 13, 5], []);
 */
export function runOp(
  backend: BackendName,
  name: string,
  tensors: OpTensor[],
  ints: number[],
  floats: number[],
  options?: { threads?: number; device?: number; matmulPrecision?: 'fp32' | 'tf32' | 'bf16' },
): number {
  const op = findOp(name);
  if (backend !== 'cpu' && backend !== 'cuda') {
    throw rangeError(`runOp backend must be 'cpu' or 'cuda', got ${JSON.stringify(backend)}`);
  }
  const checkedInts = checkOpInts(op, ints);
  if (!Array.isArray(floats) || floats.length !== op.floats.length) {
    throw rangeError(`${op.name} takes floats [${op.floats.join(', ')}], got ${Array.isArray(floats) ? floats.length : describe(floats)}`);
  }
  floats.forEach((x, i) => checkNumber(x, `${op.name} float ${op.floats[i]}`, -Number.MAX_VALUE, Number.MAX_VALUE));
  if (!Array.isArray(tensors) || tensors.length !== op.tensors.length) {
    throw rangeError(
      `${op.name} takes tensors [${op.tensors.map((t) => t.name).join(', ')}], got ` +
        `${Array.isArray(tensors) ? tensors.length : describe(tensors)}`,
    );
  }
  const sizes = loadAddon().opTensorSizes(op.name, checkedInts);
  op.tensors.forEach((arg, i) => {
    const t = tensors[i];
    const what = `${op.name} tensor ${arg.name}`;
    if (t === null || t === undefined) {
      if (!arg.nullable) throw typeError(`${what} is required (only nullable tensors may be null)`);
      return;
    }
    const Wanted = arg.type === 'float32' ? Float32Array : Int32Array;
    if (!(t instanceof Wanted)) throw typeError(`${what} must be a ${Wanted.name}, got ${describe(t)}`);
    if (t.length !== sizes[i]) throw shapeError(`${what} has ${t.length} elements; expected ${sizes[i]}`);
  });
  return loadAddon().runOp(backend, op.name, tensors, checkedInts, floats, options);
}

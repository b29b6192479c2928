// Training and evaluation throughput of the native trainer on fixed model presets: the measuring
// loop behind `autoscale bench train` and bench/cpu/side_by_side.py (which runs PyTorch on the same
// presets in the same run).
import { Model, backendInfo, type BackendName, type ModelConfig } from './native.js';

/** A model shape and batch used to measure throughput. */
export interface BenchPreset {
  name: string;
  config: ModelConfig;
  /** Windows per training step (and per evaluation pass). */
  batchSize: number;
}

/**
 * The benchmark presets: cpu-a/b/c are proxy models sized for a laptop CPU, gpt2-124m is GPT-2 small,
 * demo is the model and batch of `autoscale run --demo` (byte vocabulary; the pipeline runs its
 * proxies in parallel, one thread each, so measure it with threads 1).
 */
export const BENCH_PRESETS: Readonly<Record<string, BenchPreset>> = Object.freeze({
  'cpu-a': { name: 'cpu-a', config: { vocabSize: 256, contextLength: 256, width: 128, layers: 4, heads: 4 }, batchSize: 16 },
  'cpu-b': { name: 'cpu-b', config: { vocabSize: 256, contextLength: 256, width: 256, layers: 6, heads: 8 }, batchSize: 16 },
  'cpu-c': { name: 'cpu-c', config: { vocabSize: 4096, contextLength: 256, width: 384, layers: 6, heads: 6 }, batchSize: 8 },
  'gpt2-124m': {
    name: 'gpt2-124m',
    config: { vocabSize: 50257, contextLength: 1024, width: 768, layers: 12, heads: 12 },
    batchSize: 4,
  },
  demo: { name: 'demo', config: { vocabSize: 256, contextLength: 64, width: 64, layers: 2, heads: 4 }, batchSize: 16 },
});

/**
 * FLOPs of one training step per token (forward + backward, causal attention):
 * 6 * (12 L d^2) + 6 V d + 6 L T d. Evaluation (forward only) is a third of it.
 *
 * @example flopsPerToken(BENCH_PRESETS['cpu-a'].config) // 5,701,632
 */
export function flopsPerToken(config: ModelConfig): number {
  const { layers: L, width: d, vocabSize: V, contextLength: T } = config;
  return 6 * (12 * L * d * d) + 6 * V * d + 6 * L * T * d;
}

export interface TrainBenchOptions {
  /** A key of BENCH_PRESETS. */
  preset: string;
  backend?: BackendName;
  /** CPU worker threads; 0 or undefined = all hardware threads. */
  threads?: number;
  /** Untimed training steps and evaluations before measuring (default 2). */
  warmup?: number;
  /** Timed repeats; the result is their median (default 5). */
  repeats?: number;
  /** Training steps per timed repeat (default 1). */
  stepsPerRepeat?: number;
}

export interface TrainBenchResult {
  model: string;
  backend: BackendName;
  threads: number;
  config: ModelConfig;
  batchSize: number;
  /** Target tokens per training step (batchSize * contextLength). */
  tokensPerStep: number;
  /** Median over repeats of training tokens per second (trainStep: forward, backward, AdamW). */
  trainTokensPerSecond: number;
  /** Median over repeats of evaluated tokens per second (evalLoss: forward and loss, no gradient). */
  evalTokensPerSecond: number;
  flopsPerToken: number;
  /** Achieved training GFLOP/s: trainTokensPerSecond * flopsPerToken / 1e9. */
  trainGflops: number;
  /** Achieved evaluation GFLOP/s (a forward pass is a third of the training FLOPs). */
  evalGflops: number;
  warmup: number;
  repeats: number;
  /** Seconds of each timed repeat, in order. */
  trainSeconds: number[];
  evalSeconds: number[];
  /**
   * Median over repeats of tokens per second of process CPU time (user + system, every thread):
   * with threads 1 the rate of the thread that ran, steady on a machine that others load.
   */
  trainTokensPerCpuSecond: number;
  evalTokensPerCpuSecond: number;
  /** Process CPU seconds of each timed repeat, in order. */
  trainCpuSeconds: number[];
  evalCpuSeconds: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Deterministic token ids in [0, vocab) (a 32-bit LCG), so every run measures the same work. */
function benchTokens(count: number, vocab: number): Int32Array {
  const out = new Int32Array(count);
  let state = 12345;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state % vocab;
  }
  return out;
}

/**
 * Measures training and evaluation throughput on a preset after warm-up, as the median of repeats.
 *
 * @example
 * const r = await benchTrain({ preset: 'cpu-a', backend: 'cpu', threads: 2 });
 * console.log(r.trainTokensPerSecond, r.evalTokensPerSecond);
 */
export async function benchTrain(options: TrainBenchOptions): Promise<TrainBenchResult> {
  const preset = BENCH_PRESETS[options.preset];
  if (!preset) {
    throw new Error(`unknown model preset "${options.preset}": use one of ${Object.keys(BENCH_PRESETS).join(', ')}`);
  }
  const warmup = options.warmup ?? 2;
  const repeats = options.repeats ?? 5;
  const stepsPerRepeat = options.stepsPerRepeat ?? 1;
  for (const [name, value, min] of [['warmup', warmup, 0], ['repeats', repeats, 1], ['stepsPerRepeat', stepsPerRepeat, 1]] as const) {
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} (${value}) must be an integer >= ${min}`);
  }
  const backend = options.backend ?? 'cpu';
  const { config, batchSize } = preset;
  const model = new Model(config, { backend, threads: options.threads ?? 0, batchSize, seed: 1 });
  try {
    const windows = benchTokens(batchSize * (config.contextLength + 1), config.vocabSize);
    const lr = 1e-4;  // small: the parameters stay finite over any number of steps on one batch
    for (let i = 0; i < warmup; i++) {
      await model.trainStep(windows, lr);
      await model.evalLoss(windows);
    }
    const trainSeconds: number[] = [];
    const evalSeconds: number[] = [];
    const trainCpuSeconds: number[] = [];
    const evalCpuSeconds: number[] = [];
    const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
    for (let r = 0; r < repeats; r++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let s = 0; s < stepsPerRepeat; s++) await model.trainStep(windows, lr);
      const t1 = process.hrtime.bigint();
      const c1 = process.cpuUsage();
      for (let s = 0; s < stepsPerRepeat; s++) await model.evalLoss(windows);
      const t2 = process.hrtime.bigint();
      const c2 = process.cpuUsage();
      trainSeconds.push(Number(t1 - t0) / 1e9);
      evalSeconds.push(Number(t2 - t1) / 1e9);
      trainCpuSeconds.push(cpuSeconds(c1) - cpuSeconds(c0));
      evalCpuSeconds.push(cpuSeconds(c2) - cpuSeconds(c1));
    }
    const tokensPerStep = batchSize * config.contextLength;
    const trainTokensPerSecond = (tokensPerStep * stepsPerRepeat) / median(trainSeconds);
    const evalTokensPerSecond = (tokensPerStep * stepsPerRepeat) / median(evalSeconds);
    const fpt = flopsPerToken(config);
    return {
      model: preset.name,
      backend,
      threads: backend === 'cpu' ? options.threads || backendInfo().backends.cpu.threads : 1,
      config,
      batchSize,
      tokensPerStep,
      trainTokensPerSecond,
      evalTokensPerSecond,
      flopsPerToken: fpt,
      trainGflops: (trainTokensPerSecond * fpt) / 1e9,
      evalGflops: (evalTokensPerSecond * fpt) / 3e9,
      warmup,
      repeats,
      trainSeconds,
      evalSeconds,
      trainTokensPerCpuSecond: (tokensPerStep * stepsPerRepeat) / median(trainCpuSeconds),
      evalTokensPerCpuSecond: (tokensPerStep * stepsPerRepeat) / median(evalCpuSeconds),
      trainCpuSeconds,
      evalCpuSeconds,
    };
  } finally {
    model.dispose();
  }
}

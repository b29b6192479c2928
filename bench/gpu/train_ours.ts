// autoscale-lm's native trainer on CUDA: training tokens/s for one preset and matmul precision
// (the peer of gpt2_torch.py; run_bench.py runs both and computes MFU and ratios).
//
//   node --import tsx bench/gpu/train_ours.ts --preset gpt2-124m --precision bf16 [--batch 16] [--steps 10]
// prints one JSON object: {"impl": "autoscale-cuda", "preset", "precision", "batch", "tokens_per_s", ...}
import { parseArgs } from 'node:util';

import { backendInfo, Model } from '../../lib/native.js';

// name: [vocab, context, width, layers, heads, GPU batch] (the same as presets.py)
const PRESETS: Record<string, [number, number, number, number, number, number]> = {
  'cpu-a': [256, 256, 128, 4, 4, 16],
  'cpu-b': [256, 256, 256, 6, 8, 16],
  'cpu-c': [4096, 256, 384, 6, 6, 8],
  'gpt2-124m': [50257, 1024, 768, 12, 12, 16],
};

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'gpt2-124m' },
    precision: { type: 'string', default: 'bf16' },
    batch: { type: 'string', default: '0' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'cuda' },
  },
});
const preset = PRESETS[values.preset!];
if (!preset) throw new Error(`unknown preset ${values.preset}; one of ${Object.keys(PRESETS).join(', ')}`);
const [vocabSize, contextLength, width, layers, heads, defaultBatch] = preset;
const batch = Number(values.batch) || defaultBatch;
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const precision = values.precision as 'fp32' | 'tf32' | 'bf16';

const model = new Model(
  { vocabSize, contextLength, width, layers, heads },
  { backend: values.backend as 'cuda' | 'cpu', batchSize: batch, matmulPrecision: precision, seed: 1 },
);
// Random windows (ids < vocab); a fresh batch each step as in training.
let state = 12345;
const nextBatch = () => {
  const tokens = new Uint32Array(batch * (contextLength + 1));
  for (let i = 0; i < tokens.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    tokens[i] = state % vocabSize;
  }
  return tokens;
};
const batches = Array.from({ length: 4 }, nextBatch);

let t0 = performance.now();
for (let i = 0; i < warmup; i++) await model.trainStep(batches[i % batches.length]!, 3e-4);
const warmupMs = performance.now() - t0;
let loss = 0;
t0 = performance.now();
for (let i = 0; i < steps; i++) loss = (await model.trainStep(batches[i % batches.length]!, 3e-4)).loss;
const elapsed = (performance.now() - t0) / 1000;
const device = backendInfo().backends.cuda.devices[0]?.name ?? 'none';
process.stdout.write(
  `${JSON.stringify({
    impl: `autoscale-${model.backend}`,
    preset: values.preset,
    precision,
    batch,
    context: contextLength,
    steps,
    ms_per_step: (1000 * elapsed) / steps,
    tokens_per_s: (batch * contextLength * steps) / elapsed,
    warmup_s: warmupMs / 1000,
    loss,
    memory_bytes: model.memoryBytes,
    device,
  })}\n`,
);
model.dispose();

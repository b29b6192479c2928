// A short CUDA training run for compute-sanitizer (scripts/device-check.sh): tiny models that
// take the fast kernels (head sizes 16 and 64, aligned) and the fallbacks (vocab not a multiple of
// 4, head size 3), two training steps and a batched evaluation each, in every matmul precision.
//
//   compute-sanitizer --tool memcheck node --import tsx bench/gpu/sanitize_run.ts
import { Model, type ModelConfig } from '../../lib/native.js';

const CONFIGS: ModelConfig[] = [
  { vocabSize: 97, contextLength: 33, width: 64, layers: 2, heads: 4 },
  { vocabSize: 256, contextLength: 70, width: 128, layers: 1, heads: 2 },
  { vocabSize: 50, contextLength: 9, width: 12, layers: 1, heads: 4 },
];
const precisions = (process.argv[2] ?? 'fp32,tf32,bf16').split(',') as ('fp32' | 'tf32' | 'bf16')[];

for (const config of CONFIGS) {
  for (const matmulPrecision of precisions) {
    const model = new Model(config, { backend: 'cuda', batchSize: 3, matmulPrecision, seed: 2 });
    const windows = new Uint16Array(5 * (config.contextLength + 1)).map((_, i) => (i * 7919) % config.vocabSize);
    const batch = windows.subarray(0, 3 * (config.contextLength + 1));
    const s1 = await model.trainStep(batch, 1e-3);
    const s2 = await model.trainStep(batch, 1e-3);
    const losses = await model.evalLoss(windows);
    console.log(
      JSON.stringify({ config, matmulPrecision, losses: [s1.loss, s2.loss], eval: Array.from(losses) }),
    );
    model.dispose();
  }
}

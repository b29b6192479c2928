// Token windows for the model tests: a window is contextLength + 1 ids (inputs, then targets
// shifted by one), windows are laid end to end in one typed array.
import { makeRng } from './reference.js';

export interface TinyShape {
  vocabSize: number;
  contextLength: number;
}

/** n windows of uniformly random ids in [0, vocabSize). */
export function randomWindows(shape: TinyShape, n: number, seed: number): Uint16Array {
  const rng = makeRng(seed);
  const out = new Uint16Array(n * (shape.contextLength + 1));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rng() * shape.vocabSize);
  return out;
}

/** n windows cut at offsets 0, 1, 2... from the endless repetition of `cycle`: every next id is
 * determined by the current one, so a model can drive the loss to 0. */
export function cyclicWindows(cycle: readonly number[], contextLength: number, n: number): Uint16Array {
  const out = new Uint16Array(n * (contextLength + 1));
  for (let w = 0; w < n; w++) {
    for (let i = 0; i <= contextLength; i++) out[w * (contextLength + 1) + i] = cycle[(w + i) % cycle.length]!;
  }
  return out;
}

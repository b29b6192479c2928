// Intervals on the AutoScale prediction: the DDO draws of every scale carried through the prediction.
//
// Draw b of the prediction is AutoScale applied to draw b of every scale. The scales' draws come from different
// proxy runs, so they are independent and pairing them by index is a valid joint draw. The interval is the central
// `level` range of the predicted weights, widened to contain the point prediction (see ddo-replicates.ts).
// This interval is on what AutoScale predicts from these scales: the error of the geometric rule itself (a loss
// that is not a sum of power laws) is not in it; leave-one-scale-out error, with three or more scales, measures that.
import { predictComposition, type CompositionPrediction, type PredictOptions, type ScaleOptimum } from '../autoscale.js';
import { calibratedLevel, checkLevel, DEFAULT_LEVEL, type CompositionDraws, type CompositionIntervals } from './ddo-replicates.js';
import { quantile } from './sampling.js';

/** A scale's optimum with its bootstrap draws (null when it has none) and the seeds behind them. */
export interface ScaleWithDraws extends ScaleOptimum {
  draws: CompositionDraws | null;
  seeds: number;
}

export interface PredictionWithIntervals {
  prediction: CompositionPrediction;
  intervals: CompositionIntervals | null;
  draws: CompositionDraws | null;
  /** Why there is no interval, or what limits it. */
  intervalNote: string | null;
}

export const PREDICT_INTERVAL_METHOD = 'the DDO bootstrap draws of every scale, paired by index, through the AutoScale prediction, level calibrated by simulation';

/**
 * Predicts the composition at `target` and, when every scale carries draws, intervals on it.
 *
 * @example
 * const { prediction, intervals } = predictWithIntervals([s1, s2], 9e6, { level: 0.9 });
 * intervals?.weights.code // [0.21, 0.35]
 */
export function predictWithIntervals(scales: readonly ScaleWithDraws[], target: number, options: PredictOptions & { level?: number } = {}): PredictionWithIntervals {
  const level = checkLevel(options.level ?? DEFAULT_LEVEL);
  const predictOptions: PredictOptions = options.supply ? { supply: options.supply } : {};
  const prediction = predictComposition(scales.map((s) => ({ scale: s.scale, tokens: s.tokens })), target, predictOptions);
  const without = scales.filter((s) => !s.draws || s.draws.tokens.length === 0);
  if (without.length > 0) {
    return {
      prediction, intervals: null, draws: null,
      intervalNote: `no interval: the composition${without.length > 1 ? 's' : ''} at ${without.map((s) => s.scale).join(', ')} carr${without.length > 1 ? 'y' : 'ies'} no bootstrap draws ` +
        '(one seed, or written by a tool that keeps no replicates)',
    };
  }
  const domains = Object.keys(prediction.tokens);
  const count = Math.min(...scales.map((s) => s.draws!.tokens.length));
  const columns = scales.map((s) => domains.map((d) => {
    const i = s.draws!.domains.indexOf(d);
    if (i < 0) throw new RangeError(`the draws of the composition at ${s.scale} have no domain "${d}"`);
    return i;
  }));
  const weightSamples: number[][] = [];
  const tokenSamples: number[][] = [];
  let failed = 0;
  for (let b = 0; b < count; b++) {
    const optima: ScaleOptimum[] = scales.map((s, k) => ({
      scale: s.scale,
      tokens: Object.fromEntries(domains.map((d, i) => [d, s.draws!.tokens[b]![columns[k]![i]!]!])),
    }));
    try {
      const p = predictComposition(optima, target, predictOptions);
      weightSamples.push(domains.map((d) => p.weights[d]!));
      tokenSamples.push(domains.map((d) => p.tokens[d]!));
    } catch {
      failed += 1;
    }
  }
  if (weightSamples.length < 20) {
    return { prediction, intervals: null, draws: null, intervalNote: `no interval: only ${weightSamples.length} of ${count} draws could be predicted` };
  }
  const seeds = Math.min(...scales.map((s) => s.seeds));
  // The same calibrated central probability as the scales' intervals (see calibratedLevel).
  const lo = (1 - calibratedLevel(level, seeds)) / 2;
  const interval = (samples: number[][], point: Record<string, number>): Record<string, [number, number]> =>
    Object.fromEntries(domains.map((d, i) => {
      const values = samples.map((s) => s[i]!);
      return [d, [Math.min(quantile(values, lo), point[d]!), Math.max(quantile(values, 1 - lo), point[d]!)] as [number, number]];
    }));
  return {
    prediction,
    intervals: { level, method: PREDICT_INTERVAL_METHOD, seeds, draws: weightSamples.length, weights: interval(weightSamples, prediction.weights), tokens: interval(tokenSamples, prediction.tokens) },
    draws: { domains, tokens: tokenSamples },
    intervalNote: failed > 0 ? `${failed} of ${count} draws could not be predicted and are left out` : null,
  };
}

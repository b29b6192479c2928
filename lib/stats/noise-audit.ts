// The noise audit of one DDO scale: does each perturbation stand out of the seed-to-seed noise?
//
// For the base run, the seed SD of its response R_s0. For each perturbation run j, the per-seed
// base-normalised response R_sj / R_s0, its mean over seeds, its seed SD, and the signal-to-noise ratio
// SNR_j = |mean - 1| / SD: how many seed SDs the perturbation moved the response. These are the quantities of
// ../shared/measurements/noise_audit.py, so its numbers can be checked against ours.
//
// A perturbation with SNR below 3 is named: one seed's fit through it could be dominated by noise. The remedies, in
// order of cost: more seeds (the SD of the mean falls as 1/sqrt(k), though SNR as defined here does not, it
// only gets measured better), a larger scale (past the unstable phase where seeds escape a plateau at different
// times), another learning rate (`autoscale pilot` measures the base response's seed SD across scales and rates).
import { mean, sampleSd } from './sampling.js';
import type { Observation } from './noise-model.js';

/** SNR below this names a perturbation as not standing out of the noise. */
export const SNR_THRESHOLD = 3;

export interface PerturbationNoise {
  /** Seeds with both this run and the base run. */
  n: number;
  /** Mean over seeds of R_sj / R_s0. */
  meanRatio: number;
  /** Seed SD of R_sj / R_s0; null with fewer than two seeds. */
  sd: number | null;
  /** |meanRatio - 1| / sd; null with fewer than two seeds (Infinity when sd is 0). */
  snr: number | null;
}

export interface NoiseAudit {
  /** Seeds with a base run. */
  seeds: number;
  /** Mean and seed SD of the base response (SD null with one seed). */
  baseMean: number;
  baseSd: number | null;
  /** SNR per perturbation run id ("<domain>@<multiplier>"), null where it cannot be measured. */
  snr: Record<string, number | null>;
  perturbations: Record<string, PerturbationNoise>;
  /** The smallest SNR; null when none could be measured. */
  minSnr: number | null;
  /** Runs with SNR below SNR_THRESHOLD. */
  belowThreshold: string[];
  /** "ok" (every SNR >= 3), "noisy" (some below), "unmeasured" (one seed). */
  verdict: 'ok' | 'noisy' | 'unmeasured';
  /** What the verdict means and what to do, in words. */
  advice: string;
}

/**
 * Audits one scale's replicates. `runs` lists the perturbation run ids; observations of run "base" are the
 * base runs.
 *
 * @example
 * noiseAudit(['web@3'], [{ run: 'base', seed: 0, response: 3 }, { run: 'web@3', seed: 0, response: 2.9 },
 *                        { run: 'base', seed: 1, response: 3.1 }, { run: 'web@3', seed: 1, response: 2.98 }])
 * // { seeds: 2, baseSd: 0.0707, snr: { 'web@3': 22.6 }, verdict: 'ok', ... }
 */
export function noiseAudit(runs: readonly string[], observations: readonly Observation[]): NoiseAudit {
  const base = new Map<number, number>();
  for (const o of observations) if (o.run === 'base') base.set(o.seed, o.response);
  const baseValues = [...base.values()];
  const perturbations: Record<string, PerturbationNoise> = {};
  const snr: Record<string, number | null> = {};
  for (const run of runs) {
    const ratios = observations.filter((o) => o.run === run && base.has(o.seed)).map((o) => o.response / base.get(o.seed)!);
    const m = ratios.length ? mean(ratios) : Number.NaN;
    const sd = ratios.length >= 2 ? sampleSd(ratios) : null;
    const s = sd === null ? null : sd === 0 ? Infinity : Math.abs(m - 1) / sd;
    perturbations[run] = { n: ratios.length, meanRatio: m, sd, snr: s };
    snr[run] = s;
  }
  const measured = Object.values(snr).filter((v): v is number => v !== null);
  const minSnr = measured.length ? Math.min(...measured) : null;
  const belowThreshold = runs.filter((r) => snr[r] !== null && snr[r]! < SNR_THRESHOLD);
  const seeds = base.size;
  let verdict: NoiseAudit['verdict'];
  let advice: string;
  if (seeds < 2 || measured.length === 0) {
    verdict = 'unmeasured';
    advice = `${seeds} seed${seeds === 1 ? '' : 's'} with a base run: the seed-to-seed noise cannot be measured, so nothing says whether ` +
      'the perturbations stand out of it; train at least 3 seeds (config "seeds", or --seeds 0,1,2)';
  } else if (belowThreshold.length > 0) {
    verdict = 'noisy';
    advice = `${belowThreshold.length} of ${runs.length} perturbations move the response by less than ${SNR_THRESHOLD} seed SDs ` +
      `(${belowThreshold.map((r) => `${r} ${fmt(snr[r]!)}`).join(', ')}): their fits rest on noise. Remedies: more seeds (the mean's SD falls as ` +
      '1/sqrt(seeds)); a larger scale, past the unstable phase where seeds escape a plateau at different times; another learning rate ' +
      '(`autoscale pilot` measures the seed SD of the base run across scales)';
  } else {
    verdict = 'ok';
    advice = `every perturbation moves the response by at least ${SNR_THRESHOLD} seed SDs (smallest ${fmt(minSnr!)})`;
  }
  return { seeds, baseMean: baseValues.length ? mean(baseValues) : Number.NaN, baseSd: baseValues.length >= 2 ? sampleSd(baseValues) : null, snr, perturbations, minSnr, belowThreshold, verdict, advice };
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(1) : String(v);
}

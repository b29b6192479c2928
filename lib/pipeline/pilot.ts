// `autoscale pilot`: before the expensive DDO stage, train only the base composition at candidate scales
// for a few seeds (and learning rates), measure the seed-to-seed spread of its response, and recommend the
// smallest scales where the proxies are stable. A DDO scale inside the unstable phase (seeds escape a loss
// plateau at different times) measures noise: issue 10 found perturbation SNRs of 0.7-2.8 at 300k on the
// demo, 2.6-35 at 900k.
//
// The pilot's runs are the DDO stage's own base runs: the same spec (planDdo's base composition, seed and
// evaluation points, the config's training with only the learning rate varied), trained through runSlots.
// So they are reused from the registry, and `autoscale run` with the recommended scales, seeds and lr
// reuses them in turn.
import path from 'node:path';
import { formatTokens } from '../format.js';
import type { PipelineConfig } from '../pipeline-config.js';
import { openRegistry } from '../registry.js';
import { mean, sampleSd } from '../stats/sampling.js';
import type { ProxyRunResult } from '../train.js';
import { response } from './analyse.js';
import { budgetSupply, checkRuns } from './budget.js';
import { runSlots } from './execute.js';
import { planDdo, setUp, type RunSlot } from './plan.js';
import { slotsEnvironment, type PipelineOptions } from './run.js';
import { sharedSpec } from './spec.js';

/**
 * Default largest relative seed SD (SD / mean of the base response) that counts as stable: 0.5%.
 * Measured on the demo model (width 64, 2 layers, context 64; base runs, 4 seeds; docs/noise.md), the scales
 * wholly before or after the escape from the plateau had 0.15-0.47% (lr 3e-3 batch 8 at 900k: 0.2-0.4%; lr 1e-3
 * batch 8 at 300k: 0.17%; lr 6e-3 batch 8 at 300k: 0.3%; lr 1e-3 batch 16 at 300k and 900k: 0.25% and 0.28%),
 * and the ones during it 0.8-7% (lr 3e-3 batch 8 at 300k: 2-3%; lr 1e-3 batch 8 at 900k: 1.2%; lr 6e-3 at 900k:
 * 5.4%; lr 1e-2 at 300k and 900k: 1.4% and 7.3%; lr 3e-3 batch 4 at 300k and 450k: 1.1% and 0.78%). 0.5% sits in
 * the gap, at the top of the stable group; lr 3e-3 batch 4 at 600k (0.51%, on its way down from 1.1% at 300k)
 * falls just outside.
 */
export const DEFAULT_MAX_RELATIVE_SD = 0.005;

export interface PilotOptions extends PipelineOptions {
  /** Candidate scales: total training tokens of the base run, whole numbers (sorted and checked here). */
  scales: readonly number[];
  /** Seeds of every candidate; two or more measure a seed SD. */
  seeds: readonly number[];
  /** Peak learning rates to try (default: the config's training.lr); each >= training.minLr. */
  lrs?: readonly number[];
  /** Largest relative seed SD counted as stable (default DEFAULT_MAX_RELATIVE_SD). */
  maxRelativeSd?: number;
}

/** The base response at one learning rate and scale, over the seeds. */
export interface PilotRow {
  lr: number;
  scale: number;
  /** Seeds whose base run finished, in the order of PilotOptions.seeds; `perSeed` holds their responses. */
  seeds: number[];
  /** The response (eval-weighted mean held-out loss, as DDO uses) of each seed in `seeds`. */
  perSeed: number[];
  /** Seeds whose run failed, with the error: a NaN loss makes the row unstable, any other failure only removes the seed. */
  failed: { seed: number; error: string; code: string | null }[];
  /** Mean of perSeed; null when no seed finished. */
  mean: number | null;
  /** Seed SD (n - 1) of perSeed; null with fewer than two seeds. */
  sd: number | null;
  /** sd / mean; null with fewer than two seeds. */
  relativeSd: number | null;
  /** "stable": relativeSd <= the threshold; "unstable": above it, or a seed's loss went NaN; "unmeasured": fewer than two seeds. */
  verdict: 'stable' | 'unstable' | 'unmeasured';
  /** Why, in words, when the verdict is not plain from the numbers (NaN seeds, failed runs, one seed). */
  note: string | null;
  /** Registry keys of the runs, one per seed of PilotOptions.seeds. */
  keys: string[];
}

/**
 * A change of regime between candidate scales: the response falls faster per doubling of the tokens above
 * `around` than below it. A loss that follows a power law in the tokens (L = c + A N^-alpha) falls *less* per
 * doubling as N grows; falling more means the proxies are learning something new (on the demo model: to use
 * their context), and a DDO scale whose perturbation runs span it measures the change, not the data. Its
 * responses come out not convex (more of any domain speeds the change up), as the round-2 demo's did at 600k-900k
 * (docs/noise.md).
 */
export interface RegimeChange {
  lr: number;
  /** The three candidates the drops are measured on: scales[0] < scales[1] < scales[2]. */
  scales: [number, number, number];
  /** Mean response drop per doubling of the tokens from scales[0] to scales[1], and from scales[1] to scales[2]. */
  dropBefore: number;
  dropAfter: number;
  /** Standard error of dropAfter - dropBefore, from the seed SDs. */
  standardError: number;
  /** Where the slope steepens: between the geometric midpoints of the two intervals. */
  from: number;
  to: number;
  text: string;
}

/** dropAfter must exceed dropBefore by this fraction (and by 2 standard errors) to count as a change of regime. */
export const REGIME_CHANGE_MARGIN = 0.1;

/**
 * The changes of regime along one learning rate's rows (scales increasing): consecutive triples of measured
 * candidates whose drop per doubling grows by more than REGIME_CHANGE_MARGIN and by more than 2 standard errors.
 *
 * @example
 * // the demo model (init 0.08, lr 1e-3): drops 0.154 per doubling from 300k to 600k, 0.275 from 600k to 1.2M
 * regimeChanges(rows)[0]?.from // 424264 (the slope steepens between about 424k and 849k)
 */
export function regimeChanges(rows: readonly PilotRow[]): RegimeChange[] {
  const measured = rows.filter((r) => r.mean !== null && r.sd !== null && r.perSeed.length >= 2);
  const changes: RegimeChange[] = [];
  for (let k = 0; k + 2 < measured.length; k++) {
    const [a, b, c] = [measured[k]!, measured[k + 1]!, measured[k + 2]!];
    const l1 = Math.log2(b.scale / a.scale);
    const l2 = Math.log2(c.scale / b.scale);
    const before = (a.mean! - b.mean!) / l1;
    const after = (b.mean! - c.mean!) / l2;
    const se2 = (r: PilotRow): number => (r.sd! * r.sd!) / r.perSeed.length;
    const standardError = Math.sqrt(se2(a) / (l1 * l1) + se2(b) * (1 / l1 + 1 / l2) ** 2 + se2(c) / (l2 * l2));
    if (!(after > 0 && after > (1 + REGIME_CHANGE_MARGIN) * Math.max(before, 0) && after - before > 2 * standardError)) continue;
    const from = Math.sqrt(a.scale * b.scale);
    const to = Math.sqrt(b.scale * c.scale);
    changes.push({
      lr: a.lr, scales: [a.scale, b.scale, c.scale], dropBefore: before, dropAfter: after, standardError, from, to,
      text: `lr ${a.lr}: the response falls faster per doubling of the tokens above about ${formatTokens(from)}-${formatTokens(to)} ` +
        `(${before.toFixed(4)} from ${formatTokens(a.scale)} to ${formatTokens(b.scale)}, ${after.toFixed(4)} from ${formatTokens(b.scale)} to ${formatTokens(c.scale)}; ` +
        `standard error of the difference ${standardError.toFixed(4)}): a change of regime (a power law falls less per doubling as it goes). ` +
        'Keep the DDO scales, their perturbation runs and the target on one side of it: DDO responses that span it come out not convex, ' +
        'and AutoScale\'s geometric rule does not extrapolate across it.',
    });
  }
  return changes;
}

/** What the pilot recommends at one learning rate. */
export interface PilotRecommendation {
  lr: number;
  /** The smallest two stable scales at least 2x apart (both stable down to the perturbation runs' span), or null. */
  scales: [number, number] | null;
  /** The recommendation, or why none qualifies and what to try, in sentences. */
  text: string;
}

export interface PilotResult {
  maxRelativeSd: number;
  scales: number[];
  seeds: number[];
  lrs: number[];
  /**
   * Total tokens of a DDO scale N's perturbation runs, as fractions of N: from `low` N (the largest domain times
   * the smallest multiplier) to `high` N. A DDO scale needs the response stable over that span.
   */
  perturbationSpan: { low: number; high: number };
  /** One row per learning rate and scale, lr after lr, scales increasing. */
  rows: PilotRow[];
  /** Changes of regime found along each learning rate's rows (see RegimeChange). */
  regimeChanges: RegimeChange[];
  recommendations: PilotRecommendation[];
  trained: number;
  reused: number;
  failed: number;
  diagnostics: string[];
}

const percent = (x: number): string => `${(100 * x).toFixed(2)}%`;

/** The config as it would run at learning rate `lr` (minLr, warmup and the rest unchanged, so specs match a config edited to that lr). */
function configAtLr(config: PipelineConfig, lr: number): PipelineConfig {
  return { ...config, training: { ...config.training, lr } };
}

/** Checks the pilot's scales, seeds and learning rates; returns them sorted (scales, lrs) or as given (seeds). */
function checkedInputs(options: PilotOptions): { scales: number[]; seeds: number[]; lrs: number[]; maxRelativeSd: number } {
  const scales = [...options.scales].sort((a, b) => a - b);
  if (scales.length === 0) throw new Error('pilot: no scales; give candidate scales, e.g. --scales 150k,300k,900k');
  for (const s of scales) {
    if (!(Number.isSafeInteger(s) && s >= 1)) throw new Error(`pilot: scale ${s} is not a whole number of tokens >= 1; give e.g. --scales 150k,300k,900k`);
  }
  if (new Set(scales).size !== scales.length) throw new Error(`pilot: the scales ${options.scales.join(', ')} repeat a scale`);
  const seeds = [...options.seeds];
  if (seeds.length === 0) throw new Error('pilot: no seeds; give e.g. --seeds 0,1,2');
  if (new Set(seeds).size !== seeds.length) throw new Error(`pilot: the seeds ${seeds.join(', ')} repeat a seed`);
  const { minLr } = options.config.training;
  const lrs = [...(options.lrs ?? [options.config.training.lr])].sort((a, b) => a - b);
  if (lrs.length === 0) throw new Error('pilot: no learning rates; give e.g. --lr 1e-3,3e-3, or leave --lr out for the config\'s training.lr');
  for (const lr of lrs) {
    if (!(Number.isFinite(lr) && lr > 0)) throw new Error(`pilot: learning rate ${lr} is not a positive number; give e.g. --lr 1e-3,3e-3`);
    if (lr < minLr) throw new Error(`pilot: learning rate ${lr} is below the config's training.minLr (${minLr}), the end of the cosine decay; give an lr >= ${minLr} or lower training.minLr in the config`);
  }
  if (new Set(lrs).size !== lrs.length) throw new Error(`pilot: the learning rates ${lrs.join(', ')} repeat a rate`);
  const maxRelativeSd = options.maxRelativeSd ?? DEFAULT_MAX_RELATIVE_SD;
  if (!(Number.isFinite(maxRelativeSd) && maxRelativeSd > 0)) throw new Error(`pilot: the largest relative SD ${maxRelativeSd} must be a positive number, e.g. 0.005 (0.5%)`);
  return { scales, seeds, lrs, maxRelativeSd };
}

/**
 * Trains the base composition of `config` (config.base, uniform by default) at each candidate scale, seed and
 * learning rate (through the registry: finished runs are reused), and returns per learning rate and scale the
 * seed mean, seed SD and relative SD of the DDO response with a stable/unstable verdict, and per learning rate
 * the recommended pair of DDO scales.
 *
 * @example
 * const pilot = await runPilot({ config, scales: [150e3, 300e3, 900e3], seeds: [0, 1, 2], log: console.error });
 * pilot.rows.map((r) => [r.scale, r.relativeSd, r.verdict]) // [[150000, 0.031, 'unstable'], [300000, 0.004, 'stable'], ...]
 * pilot.recommendations[0]!.scales // [300000, 900000]
 */
export async function runPilot(options: PilotOptions): Promise<PilotResult> {
  const { config } = options;
  const log = options.log ?? (() => undefined);
  const { scales, seeds, lrs, maxRelativeSd } = checkedInputs(options);

  const setup = await setUp(config, options, log);
  // Per lr and scale, the base slots of planDdo itself: exactly the DDO stage's base runs of that scale and seeds.
  const planned = lrs.map((lr) => {
    const atLr = { ...configAtLr(config, lr), scales, seeds };
    const shared = sharedSpec(atLr, setup.prepared, setup.shared.backend, setup.shared.version);
    const plans = planDdo(atLr, { ...setup, shared });
    return { lr, plans: plans.map((p) => ({ scale: p.scale, runs: p.runs, slots: p.slots.filter((s) => s.id === 'base') })) };
  });
  const slots: RunSlot[] = planned.flatMap(({ lr, plans }) => plans.flatMap((p) => p.slots.map((s) => ({
    ...s,
    label: `pilot N=${formatTokens(p.scale)} base lr ${lr}${seeds.length > 1 ? ` seed ${s.seed}` : ''}`,
  }))));
  const firstRuns = planned[0]!.plans[0]!.runs;
  const firstScale = planned[0]!.plans[0]!.scale;
  const perturbationSpan = {
    low: Math.min(...firstRuns.map((r) => r.total)) / firstScale,
    high: Math.max(...firstRuns.map((r) => r.total)) / firstScale,
  };
  const diagnostics = checkRuns(slots, budgetSupply(setup, config.maxEpochs), (worst) => [
    `drop or lower the candidate scale ${worst.slot.scale} (--scales)`,
    `raise maxEpochs in the config to at least ${Math.ceil(100 * worst.epochs) / 100}`,
  ], 'the pilot runs');
  for (const note of diagnostics) log(`[plan] ${note}`);

  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  try {
    log(`[pilot] ${slots.length} base runs: ${scales.length} scale(s) x ${seeds.length} seed(s) x ${lrs.length} learning rate(s)`);
    const outcome = await runSlots(slots, slotsEnvironment(options, setup, registry, log));
    diagnostics.push(...outcome.diagnostics);
    const rows: PilotRow[] = planned.flatMap(({ lr, plans }) => plans.map((p) => {
      const finished: { seed: number; value: number }[] = [];
      const failed: PilotRow['failed'] = [];
      for (const slot of p.slots) {
        const record = registry.get<ProxyRunResult>(slot.key);
        if (record?.status === 'finished' && record.result) finished.push({ seed: slot.seed, value: response(record.result.losses, setup.evalWeights) });
        else failed.push({ seed: slot.seed, error: record?.error ?? 'no result', code: record?.errorCode ?? null });
      }
      return pilotRow(lr, p.scale, finished, failed, p.slots.map((s) => s.key), maxRelativeSd);
    }));
    const recommendations = lrs.map((lr) => recommend(lr, rows.filter((r) => r.lr === lr), perturbationSpan, maxRelativeSd));
    const changes = lrs.flatMap((lr) => regimeChanges(rows.filter((r) => r.lr === lr)));
    return { maxRelativeSd, scales, seeds, lrs, perturbationSpan, rows, regimeChanges: changes, recommendations, trained: outcome.trained, reused: outcome.reused.size, failed: outcome.failed, diagnostics };
  } finally {
    registry.close();
  }
}

/** One row of the pilot from its finished seeds' responses and its failed seeds. */
export function pilotRow(
  lr: number,
  scale: number,
  finished: readonly { seed: number; value: number }[],
  failed: PilotRow['failed'],
  keys: string[],
  maxRelativeSd: number,
): PilotRow {
  const perSeed = finished.map((f) => f.value);
  const m = perSeed.length > 0 ? mean(perSeed) : null;
  const sd = perSeed.length >= 2 ? sampleSd(perSeed) : null;
  const relativeSd = sd === null || m === null ? null : sd / m;
  const diverged = failed.filter((f) => f.code === 'ERR_NON_FINITE');
  const otherFailures = failed.filter((f) => f.code !== 'ERR_NON_FINITE');
  const notes: string[] = [];
  let verdict: PilotRow['verdict'];
  if (diverged.length > 0) {
    // A seed whose loss went NaN is the extreme of seed-to-seed spread: a DDO stage here loses runs.
    verdict = 'unstable';
    notes.push(`${diverged.length} of ${finished.length + failed.length} seeds diverged (NaN loss: seed ${diverged.map((f) => f.seed).join(', ')})`);
  } else if (relativeSd === null) {
    verdict = 'unmeasured';
    notes.push(perSeed.length === 1 ? 'one seed: no seed SD, so no verdict; give two or more seeds (--seeds 0,1,2)' : 'no seed finished');
  } else {
    verdict = relativeSd <= maxRelativeSd ? 'stable' : 'unstable';
    if (perSeed.length === 2) notes.push('two seeds measure the SD coarsely (one degree of freedom); three or more are better');
  }
  if (otherFailures.length > 0) {
    notes.push(`seed ${otherFailures.map((f) => `${f.seed} failed (${f.error}${f.code ? ` [${f.code}]` : ''})`).join(', ')}: left out; run the pilot again to retry`);
  }
  return { lr, scale, seeds: finished.map((f) => f.seed), perSeed, failed, mean: m, sd, relativeSd, verdict, note: notes.length > 0 ? notes.join('; ') : null, keys };
}

// Seeds that agree show that a scale's runs do not end during the escape from the plateau; they do not show that
// the perturbations move the response. Measured with the round-1 demo recipe (lr 3e-3, batch 8, 2 seeds): 20k and
// 40k tokens gave 0.04% and 0.18%, "stable", at 3.40 and 3.34 nats, barely trained.
const NECESSARY_NOT_SUFFICIENT = 'Stable is necessary, not sufficient: seeds agree on a plateau too, before the model learns to use its context; ' +
  'autoscale run\'s noise audit then checks that every perturbation stands out of the seed noise (SNR >= 3).';

/**
 * The recommendation at one learning rate: the smallest two qualifying scales at least 2x apart with no unstable
 * candidate between them, where a scale N qualifies when it is stable and no candidate within its perturbation span
 * below it (span.low N up to N) is unstable; with the check of the candidate just below each recommended scale, or why none qualifies and what to
 * try. `rows` are that lr's rows, scales increasing.
 */
export function recommend(lr: number, rows: readonly PilotRow[], span: { low: number; high: number }, maxRelativeSd: number): PilotRecommendation {
  const spanText = `A DDO scale N trains its perturbation runs on ${span.low.toFixed(2)} N to ${span.high.toFixed(2)} N tokens, so it needs the base response stable down to about ${span.low.toFixed(2)} N.`;
  const head = `lr ${lr}:`;
  if (rows.every((r) => r.verdict === 'unmeasured')) {
    return { lr, scales: null, text: `${head} no seed SD (${rows.some((r) => r.perSeed.length === 1) ? 'one seed' : 'no seed finished'}), so the pilot cannot tell stable scales from unstable ones; run it with two or more seeds, e.g. --seeds 0,1,2.` };
  }
  const below = (n: number): PilotRow | undefined => [...rows].reverse().find((r) => r.scale < n);
  const qualifies = (row: PilotRow): boolean =>
    row.verdict === 'stable' && !rows.some((r) => r.scale < row.scale && r.scale >= span.low * row.scale && r.verdict === 'unstable');
  const qualifying = rows.filter(qualifies);
  // Two stable scales with an unstable candidate between them lie on either side of the unstable phase: the
  // response changes regime between them, and AutoScale's geometric rule assumes it does not.
  const unstableBetween = (a: PilotRow, b: PilotRow): PilotRow | undefined => rows.find((r) => r.scale > a.scale && r.scale < b.scale && r.verdict === 'unstable');
  // A pair whose runs (span.low a to span.high b tokens) reach into a change of regime measures the change.
  const changes = regimeChanges(rows);
  const changeWithin = (a: PilotRow, b: PilotRow): RegimeChange | undefined => changes.find((c) => c.to > span.low * a.scale && c.from < span.high * b.scale);
  let pair: [PilotRow, PilotRow] | null = null;
  let straddling: [PilotRow, PilotRow, PilotRow] | null = null;
  let spanning: [PilotRow, PilotRow, RegimeChange] | null = null;
  for (const a of qualifying) {
    const b = qualifying.find((q) => q.scale >= 2 * a.scale);
    if (!b) continue;
    const between = unstableBetween(a, b);
    const change = changeWithin(a, b);
    if (!between && !change) {
      pair = [a, b];
      break;
    }
    if (between) straddling ??= [a, b, between];
    else if (change) spanning ??= [a, b, change];
  }
  const list = (verdict: PilotRow['verdict']): string => rows.filter((r) => r.verdict === verdict).map((r) => formatTokens(r.scale)).join(', ') || 'none';
  if (!pair) {
    const largest = rows[rows.length - 1]!.scale;
    const why = qualifying.length === 0
      ? `no candidate scale is stable (relative seed SD at most ${percent(maxRelativeSd)}) over its perturbation span`
      : straddling
        ? `${formatTokens(straddling[0].scale)} and ${formatTokens(straddling[1].scale)} are stable, but ${formatTokens(straddling[2].scale)} between them is not: ` +
          'they lie on either side of the unstable phase, in two regimes that AutoScale\'s geometric rule does not bridge'
        : spanning
          ? `${formatTokens(spanning[0].scale)} and ${formatTokens(spanning[1].scale)} are stable, but their runs (${formatTokens(Math.round(span.low * spanning[0].scale))} ` +
            `to ${formatTokens(Math.round(span.high * spanning[1].scale))} tokens) reach the change of regime at about ${formatTokens(spanning[2].from)}-${formatTokens(spanning[2].to)}, ` +
            'where the response falls faster per doubling than before it'
          : `only ${qualifying.map((r) => formatTokens(r.scale)).join(', ')} ${qualifying.length === 1 ? 'is' : 'are'} stable over the perturbation span, and AutoScale needs two scales at least 2x apart`;
    return {
      lr,
      scales: null,
      text: `${head} no pair of DDO scales qualifies: ${why} (stable: ${list('stable')}; unstable: ${list('unstable')}). ` +
        (spanning && !straddling && qualifying.length > 0
          ? `Try scales whose runs end below the change (the larger scale at most ${formatTokens(Math.floor(spanning[2].from / span.high))}, ` +
            `e.g. --scales ${formatTokens(Math.round(spanning[2].from / span.high / 3))},${formatTokens(Math.round(spanning[2].from / span.high / 2))},${formatTokens(Math.floor(spanning[2].from / span.high))}), or `
          : 'Try ') +
        `larger scales (e.g. --scales ${formatTokens(largest)},${formatTokens(2 * largest)},${formatTokens(3 * largest)}), another learning rate (--lr), ` +
        'or another batch size (training.batchSize: it changes the steps a scale gets and the gradient noise; on the demo at lr 3e-3, ' +
        'batch 4 measured 1.1% at 300k where batch 8 measured 2-3%). ' + spanText,
    };
  }
  const checks: string[] = pair.map((row) => {
    const c = below(row.scale);
    if (!c) return `nothing below ${formatTokens(row.scale)} was measured: add a candidate near ${formatTokens(Math.round(span.low * row.scale))} to check it`;
    const inSpan = c.scale >= span.low * row.scale;
    const where = inSpan ? 'within its span' : `below ${span.low.toFixed(2)} x ${formatTokens(row.scale)}`;
    if (c.verdict === 'stable') return `the candidate just below ${formatTokens(row.scale)}, ${formatTokens(c.scale)} (${where}), is stable too`;
    // An unstable candidate within the span disqualifies the scale (qualifies), so here it lies below the span.
    return `the candidate just below ${formatTokens(row.scale)}, ${formatTokens(c.scale)} (${where}), is ${c.verdict}: the span from ` +
      `${formatTokens(Math.round(span.low * row.scale))} to ${formatTokens(row.scale)} is not measured; add a candidate near ${formatTokens(Math.round(span.low * row.scale))} to check it`;
  });
  const [a, b] = pair;
  const above = changes.find((c) => c.from >= span.high * b.scale);
  if (above) {
    checks.push(`above them the response changes regime at about ${formatTokens(above.from)}-${formatTokens(above.to)}: a target beyond that is an ` +
      'extrapolation across the change, which the intervals do not cover; keep the target below it, or let the validation stage measure the prediction there');
  }
  return {
    lr,
    scales: [a.scale, b.scale],
    text: `${head} use "scales": [${a.scale}, ${b.scale}] (${formatTokens(a.scale)} and ${formatTokens(b.scale)}; relative seed SD ${percent(a.relativeSd!)} and ${percent(b.relativeSd!)}, ` +
      `at most ${percent(maxRelativeSd)}) with "training": {"lr": ${lr}}; the response falls from ${a.mean!.toFixed(4)} to ${b.mean!.toFixed(4)} between them. ` +
      `${spanText} Below them: ${checks.join('; ')}. ${NECESSARY_NOT_SUFFICIENT}`,
  };
}

// The composition file (composition.json): the contract shared by `autoscale ddo` (which writes one per scale)
// and `autoscale predict` (which reads two or more and writes the prediction), and by anyone who produces
// optimal compositions another way:
//   {"scale": N, "tokens": {"<domain>": N_i, ...}, "weights": {"<domain>": w_i, ...}, ...anything else}
// N is the total in tokens, N_i the tokens of domain i (sum N_i = N), w_i = N_i / N (sum 1). Extra fields
// (fits, active bounds, diagnostics) are kept and ignored by readers. This file is the one place the composition
// file is described: the contract (Composition), what this package writes (CompositionFile, built only by
// ddoDocument and predictDocument) and what a reader gets (ParsedComposition). Parsing and the builders are pure;
// the file helpers do I/O.

import { readFileSync } from 'node:fs';
import type { CompositionDraws, CompositionIntervals, ReplicatedDdo, SeedOptimum } from './stats/ddo-replicates.js';
import { SNR_THRESHOLD, type NoiseAudit } from './stats/noise-audit.js';
import type { LeaveOneScaleOut } from './autoscale.js';
import type { ResponseFit } from './ddo/fit.js';
import type { ActiveBound } from './ddo/solve.js';
import type { PredictionWithIntervals } from './stats/predict-intervals.js';

/** The contract: a composition at one scale. Every composition file holds these three fields. */
export interface Composition {
  /** Total tokens N. */
  scale: number;
  /** Tokens per domain, summing to `scale`. */
  tokens: Record<string, number>;
  /** tokens / scale per domain, summing to 1. */
  weights: Record<string, number>;
}

/**
 * One domain's entry in a DDO file's "fits". `autoscale ddo`, and the pipeline when it fitted every domain, write
 * the whole ResponseFit. When the pipeline held a domain at its base quantity for want of points, it writes every
 * fitted domain in a shorter shape with the solved multiplier and bound, and the held domain with no curve and no
 * points (status "missing-runs"). Two shapes for one thing: kept so that the files written do not change.
 */
export type CompositionFit =
  | ResponseFit
  | (Pick<ResponseFit, 'status' | 'curve' | 'points' | 'rms' | 'message'> & { multiplier: number; bound: ActiveBound })
  | { status: 'missing-runs'; curve: null; multiplier: number; bound: 'fixed'; message: string };

/** A DDO file's "noise": the noise audit of its seeds (lib/stats/noise-audit.ts), with each perturbation's SD. */
export interface CompositionNoise extends Pick<NoiseAudit, 'seeds' | 'baseSd' | 'baseMean' | 'snr' | 'minSnr' | 'belowThreshold' | 'verdict' | 'advice'> {
  /** Seed SD of each perturbation's base-normalised response, per run id; null with one seed. */
  sd: Record<string, number | null>;
  /** The SNR below which a perturbation is named (SNR_THRESHOLD). */
  threshold: number;
}

/** The fields of every composition file this package writes, whatever its method. */
interface CompositionFileFields extends Composition {
  /** What was degenerate, capped, failed or uncertain, in sentences (the CLI prints them as notes). */
  diagnostics: string[];
  /** Intervals on the weights and tokens from the seeds' replicates; null when there are none (intervalNote says why). */
  intervals?: CompositionIntervals | null;
  /** Why there is no interval, or what limits it. */
  intervalNote?: string | null;
  /** The bootstrap draws behind the intervals: `autoscale predict` carries them from the scales' files to the prediction. */
  replicates?: CompositionDraws | null;
}

/**
 * The file of DDO at one scale (composition-<N>.json of the pipeline's DDO scales, `autoscale ddo --out`), built by
 * ddoDocument. The fields of the solve come together; the pipeline writes a scale none of whose domains could be
 * fitted without them (every domain held at its base). The replicate fields come with every solve.
 */
export interface DdoCompositionFile extends CompositionFileFields {
  method: 'ddo';
  /** The results table solved (ddo-<N>.csv in the pipeline's output). */
  results: string;
  /** The solve (DdoComposition), for the domains fitted: base tokens, optimal multipliers, their bounds. */
  base?: Record<string, number>;
  multipliers?: Record<string, number>;
  bounds?: Record<string, { lower: number; upper: number }>;
  /** The domains whose multiplier a bound holds ('fixed': a degenerate fit held in place). */
  activeBounds?: Record<string, Exclude<ActiveBound, null>>;
  fits?: Record<string, CompositionFit>;
  /** KKT multiplier (marginal normalised loss per token), null when nothing moved. */
  lambda?: number | null;
  budgetResidual?: number;
  /** Predicted normalised loss at the optimum minus at the base (negative = improvement). */
  predictedChange?: number;
  /** The replicates over seeds (lib/stats/ddo-replicates.ts): the noise audit, draws rejected per domain, each seed's own optimum. */
  noise?: CompositionNoise;
  degenerateShare?: Record<string, number> | null;
  perSeed?: SeedOptimum[];
}

/**
 * The file of the AutoScale prediction (the pipeline's composition.json and composition-<target>.json,
 * `autoscale predict --out`), built by predictDocument.
 */
export interface PredictedCompositionFile extends CompositionFileFields {
  method: 'autoscale';
  /** The per-scale composition files predicted from. */
  sources: string[];
  /** The scale coordinate solved for, and the domains fixed at their supply cap (lib/autoscale.ts). */
  s: number;
  capped: string[];
  /** The fit ln N*_i = alpha_i + beta_i s over the scales, per domain with its residuals (one per scale). */
  trajectory: { totals: number[]; s: number[]; domains: Record<string, { alpha: number; beta: number; residuals: number[] }>; rms: number };
  /** Each scale predicted from the others (three or more scales); null otherwise. */
  leaveOneScaleOut: LeaveOneScaleOut[] | null;
}

/** A composition file as this package writes it: DDO at one scale, or the AutoScale prediction. */
export type CompositionFile = DdoCompositionFile | PredictedCompositionFile;

/**
 * A composition file as read back (parseComposition, readCompositionFile), from this package or another producer:
 * the contract checked, every other field kept as written. The other fields are unchecked, so they are `unknown`
 * until the reader checks the ones it uses (`autoscale predict` checks "replicates" and "noise"; CompositionFile
 * says what this package puts there); kept, so whatever another producer adds survives a read.
 */
export type ParsedComposition = Composition & { [field: string]: unknown };

// Relative tolerance for "sums to": a file written with 17 significant digits agrees to ~1e-15;
// 1e-6 also admits hand-written files with 7 significant digits.
const SUM_TOLERANCE = 1e-6;

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Finds a key repeated within one JSON object (JSON.parse keeps the last silently). */
function findDuplicateKey(text: string): { key: string; line: number } | null {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{') stack.push(new Set());
    else if (ch === '[') stack.push(null);
    else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === '"') {
      const start = i;
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const raw = text.slice(start, j + 1);
      i = j;
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ':' && top) {
        let key: string;
        try {
          key = JSON.parse(raw) as string;
        } catch {
          return null;
        }
        if (top.has(key)) return { key, line: lineOf(text, start) };
        top.add(key);
      }
    }
  }
  return null;
}

/**
 * Parses and validates a composition document. `source` names the file in error messages. `weights` may be
 * omitted (they are derived); when present they must equal tokens / scale.
 *
 * @example
 * parseComposition('{"scale": 100, "tokens": {"web": 60, "wiki": 40}}', 'a.json').weights // { web: 0.6, wiki: 0.4 }
 */
export function parseComposition(text: string, source = 'composition.json'): ParsedComposition {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`${source}: not valid JSON (${(error as Error).message}); expected {"scale": N, "tokens": {"<domain>": N_i, ...}}`);
  }
  const dup = findDuplicateKey(text);
  if (dup) throw new RangeError(`${source} line ${dup.line}: key "${dup.key}" appears twice in one object; keep one`);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new TypeError(`${source}: the top level must be an object {"scale": N, "tokens": {...}}`);
  }
  const obj = doc as Record<string, unknown>;
  const scale = obj.scale;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new RangeError(`${source}: "scale" is ${JSON.stringify(scale)}; it must be the total number of tokens, a positive number`);
  }
  const tokens = obj.tokens;
  if (typeof tokens !== 'object' || tokens === null || Array.isArray(tokens)) {
    throw new TypeError(`${source}: "tokens" must be an object {"<domain>": tokens, ...}`);
  }
  const entries = Object.entries(tokens as Record<string, unknown>);
  if (entries.length === 0) throw new RangeError(`${source}: "tokens" names no domain`);
  for (const [d, v] of entries) {
    if (d === '') throw new RangeError(`${source}: "tokens" has an empty domain name`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`${source}: tokens of "${d}" is ${JSON.stringify(v)}; it must be a number >= 0`);
    }
  }
  const tok = Object.fromEntries(entries) as Record<string, number>;
  const sum = Object.values(tok).reduce((a, v) => a + v, 0);
  if (Math.abs(sum - scale) > SUM_TOLERANCE * scale) {
    throw new RangeError(`${source}: the tokens sum to ${sum} but "scale" is ${scale}; make scale the total of tokens`);
  }
  const derived = Object.fromEntries(Object.entries(tok).map(([d, v]) => [d, v / scale]));
  if (obj.weights !== undefined) {
    const w = obj.weights;
    if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new TypeError(`${source}: "weights" must be an object {"<domain>": w, ...}`);
    const wr = w as Record<string, unknown>;
    for (const d of Object.keys(wr)) if (!(d in tok)) throw new RangeError(`${source}: "weights" names domain "${d}", which is not in "tokens"`);
    for (const d of Object.keys(tok)) {
      const v = wr[d];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${source}: weight of "${d}" is ${JSON.stringify(v)}; it must be a number`);
      if (Math.abs(v - derived[d]!) > SUM_TOLERANCE) {
        throw new RangeError(`${source}: weight of "${d}" is ${v} but tokens/scale is ${derived[d]}; fix or drop "weights"`);
      }
    }
  }
  return { ...obj, scale, tokens: tok, weights: derived };
}

/**
 * Builds a composition from tokens per domain (scale = their sum, weights derived).
 * @example compositionFromTokens({ web: 60, wiki: 40 }) // { scale: 100, tokens: {...}, weights: { web: 0.6, wiki: 0.4 } }
 */
export function compositionFromTokens(tokens: Record<string, number>): Composition {
  const scale = Object.values(tokens).reduce((a, v) => a + v, 0);
  return { scale, tokens: { ...tokens }, weights: Object.fromEntries(Object.entries(tokens).map(([d, v]) => [d, v / scale])) };
}

/**
 * The scale as the pipeline planned it, for ddoDocument: every domain in the plan's order, those with fewer than 3
 * points (base included) left out of the solve and held at their base quantity.
 */
export interface PlannedScale {
  /** Total tokens of the plan. */
  scale: number;
  /** Tokens of every domain: the optimum's for those solved, the base quantity for those held. */
  tokens: Record<string, number>;
  /** Domains left out of the solve for want of points, held at their base quantity. */
  held: readonly string[];
  /** Every diagnostic of the scale: the solve's and the pipeline's (failed runs, held domains, noise, intervals). */
  diagnostics: string[];
}

/**
 * The composition file of DDO at one scale: the one function that turns DDO's result (the DdoComposition of a
 * replicated solve, lib/stats/ddo-replicates.ts) into a file. `source` names the results table solved.
 * `autoscale ddo` passes the solve alone. The pipeline passes its plan of the scale too: a domain with too few points
 * is left out of the solve and held at its base, and a scale with no domain fitted has no solve (`solved` null).
 * @example ddoDocument(replicatedDdo(replicates, { baseTokens }), 'runs.csv').fits
 */
export function ddoDocument(solved: ReplicatedDdo, source: string, planned?: PlannedScale): DdoCompositionFile;
export function ddoDocument(solved: ReplicatedDdo | null, source: string, planned: PlannedScale): DdoCompositionFile;
export function ddoDocument(solved: ReplicatedDdo | null, source: string, planned?: PlannedScale): DdoCompositionFile {
  const held = planned?.held ?? [];
  const heldFits = Object.fromEntries(held.map((d): [string, CompositionFit] =>
    [d, { status: 'missing-runs', curve: null, multiplier: 1, bound: 'fixed', message: 'fewer than 3 points: held at the base quantity' }]));
  const plannedComposition = (p: PlannedScale): Composition =>
    ({ scale: p.scale, tokens: p.tokens, weights: Object.fromEntries(Object.entries(p.tokens).map(([d, n]) => [d, n / p.scale])) });
  if (!solved) {
    // Nothing fitted: the plan as is. ("fits" comes last here, as the pipeline always wrote it.)
    return { ...plannedComposition(planned!), method: 'ddo', results: source, diagnostics: planned!.diagnostics, ...(held.length > 0 ? { fits: heldFits } : {}) };
  }
  const result = solved.composition;
  const contract = planned ? plannedComposition(planned) : { scale: result.scale, tokens: result.tokens, weights: result.weights };
  // The whole fit of each domain; with a domain held, the shorter shape the pipeline has always written then.
  const fits: Record<string, CompositionFit> = held.length === 0
    ? Object.fromEntries(result.domains.map((d) => [d.domain, {
      status: d.fit.status,
      curve: d.fit.curve,
      alternative: d.fit.alternative,
      points: d.fit.points,
      residuals: d.fit.residuals,
      rms: d.fit.rms,
      effect: d.fit.effect,
      message: d.fit.message,
    }]))
    : {
      ...Object.fromEntries(result.domains.map((d) => [d.domain, {
        status: d.fit.status,
        curve: d.fit.curve,
        points: d.fit.points,
        rms: d.fit.rms,
        multiplier: d.multiplier,
        bound: d.bound,
        message: d.fit.message,
      }])),
      ...heldFits,
    };
  return {
    ...contract,
    method: 'ddo',
    results: source,
    base: Object.fromEntries(result.domains.map((d) => [d.domain, d.baseTokens])),
    multipliers: result.multipliers,
    bounds: Object.fromEntries(result.domains.map((d) => [d.domain, { lower: d.lower, upper: d.upper }])),
    activeBounds: Object.fromEntries(result.domains.flatMap((d) => (d.bound === null ? [] : [[d.domain, d.bound]]))),
    fits,
    lambda: result.lambda,
    budgetResidual: result.budgetResidual,
    predictedChange: result.predictedChange,
    diagnostics: planned ? planned.diagnostics : result.diagnostics,
    ...replicateFields(solved, Object.keys(contract.tokens), contract.tokens, contract.scale),
  };
}

/**
 * The composition file of the AutoScale prediction (`autoscale predict`, the pipeline's composition.json): the
 * contract fields plus the trajectory fit, leave-one-scale-out errors, diagnostics and the intervals carried from the
 * scales' draws. `sources` names the per-scale composition files.
 * @example predictDocument(predictWithIntervals(scales, 1e10), ['a.json', 'b.json']).method // 'autoscale'
 */
export function predictDocument(predicted: PredictionWithIntervals, sources: string[]): PredictedCompositionFile {
  const p = predicted.prediction;
  const t = p.trajectory;
  return {
    scale: p.scale,
    tokens: p.tokens,
    weights: p.weights,
    method: 'autoscale',
    sources,
    s: p.s,
    capped: p.capped,
    trajectory: {
      totals: t.totals,
      s: t.s,
      domains: Object.fromEntries(t.domains.map((d, i) => [d, { alpha: t.alpha[i]!, beta: t.beta[i]!, residuals: t.residuals[i]! }])),
      rms: t.rms,
    },
    leaveOneScaleOut: p.leaveOneScaleOut,
    diagnostics: p.diagnostics,
    intervals: predicted.intervals,
    intervalNote: predicted.intervalNote,
    replicates: predicted.draws,
  };
}

/** Reads and validates a composition file. @example readCompositionFile('opt-1e8.json').tokens */
export function readCompositionFile(path: string): ParsedComposition {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseComposition(text, path);
}


/**
 * Parses a token count as users write it: 1e9, 1000000000, 1_000_000_000, or with a suffix k/M/B/T (1B = 1e9).
 * @example parseTokenCount('2.5B', '--tokens') // 2500000000
 */
export function parseTokenCount(text: string, what: string): number {
  const m = /^\s*([0-9_.eE+-]+)\s*([kKmMbBtT]?)\s*$/.exec(text);
  const factor: Record<string, number> = { '': 1, k: 1e3, m: 1e6, b: 1e9, t: 1e12 };
  const v = m ? Number(m[1]!.replace(/_/g, '')) * factor[m[2]!.toLowerCase()]! : NaN;
  if (!(Number.isFinite(v) && v > 0)) {
    throw new RangeError(`${what} "${text}" is not a positive number; write e.g. 1e9, 1000000000 or 1B`);
  }
  return v;
}

/**
 * The replicate fields of a composition file: "noise" (the audit), "intervals" (or null with "intervalNote"),
 * "perSeed" (each seed's own optimum) and "replicates" (the bootstrap draws, which `autoscale predict` carries on).
 * Domains the fit left out (held at their base) get their constant quantity in every draw and a zero-width interval.
 */
function replicateFields(replicated: ReplicatedDdo, domains: readonly string[], tokens: Record<string, number>, scale: number):
  Required<Pick<DdoCompositionFile, 'noise' | 'intervals' | 'intervalNote' | 'degenerateShare' | 'perSeed' | 'replicates'>> {
  const { noise, intervals, draws } = replicated;
  let fullDraws: CompositionDraws | null = null;
  let fullIntervals: CompositionIntervals | null = null;
  if (draws && intervals) {
    const index = domains.map((d) => draws.domains.indexOf(d));
    fullDraws = { domains: [...domains], tokens: draws.tokens.map((row) => domains.map((d, i) => (index[i]! >= 0 ? row[index[i]!]! : tokens[d]!))) };
    fullIntervals = {
      ...intervals,
      weights: Object.fromEntries(domains.map((d) => [d, intervals.weights[d] ?? [tokens[d]! / scale, tokens[d]! / scale]])),
      tokens: Object.fromEntries(domains.map((d) => [d, intervals.tokens[d] ?? [tokens[d]!, tokens[d]!]])),
    };
  }
  return {
    noise: {
      seeds: noise.seeds,
      baseSd: noise.baseSd,
      baseMean: noise.baseMean,
      snr: noise.snr,
      sd: Object.fromEntries(Object.entries(noise.perturbations).map(([id, p]) => [id, p.sd])),
      minSnr: noise.minSnr,
      threshold: SNR_THRESHOLD,
      belowThreshold: noise.belowThreshold,
      verdict: noise.verdict,
      advice: noise.advice,
    },
    intervals: fullIntervals,
    intervalNote: replicated.intervalNote,
    degenerateShare: replicated.degenerateShare,
    perSeed: replicated.perSeed,
    replicates: fullDraws,
  };
}


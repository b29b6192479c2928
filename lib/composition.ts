// The composition file (composition.json): the contract shared by `autoscale ddo` (which writes one per scale)
// and `autoscale predict` (which reads two or more and writes the prediction), and by anyone who produces
// optimal compositions another way:
//   {"scale": N, "tokens": {"<domain>": N_i, ...}, "weights": {"<domain>": w_i, ...}, ...anything else}
// N is the total in tokens, N_i the tokens of domain i (sum N_i = N), w_i = N_i / N (sum 1). Extra fields
// (fits, active bounds, diagnostics) are kept and ignored by readers. Parsing and the document builders (what
// `autoscale ddo` and `autoscale predict` write) are pure; the file helpers do I/O.

import { readFileSync } from 'node:fs';
import type { CompositionDraws, CompositionIntervals, ReplicatedDdo } from './stats/ddo-replicates.js';
import { SNR_THRESHOLD } from './stats/noise-audit.js';
import type { CompositionPrediction } from './autoscale.js';
import type { DdoComposition } from './ddo/optimize.js';

export interface Composition {
  /** Total tokens N. */
  scale: number;
  /** Tokens per domain, summing to `scale`. */
  tokens: Record<string, number>;
  /** tokens / scale per domain, summing to 1. */
  weights: Record<string, number>;
}

/** A composition document: the contract fields plus whatever the producer adds. */
export type CompositionDocument = Composition & Record<string, unknown>;

/**
 * A composition file as this package writes it (composition-*.json): `autoscale ddo` and the pipeline's DDO
 * stage (method "ddo", with fits), `autoscale predict` and the pipeline's prediction (method "autoscale", with
 * the trajectory); always with its diagnostics.
 */
export type CompositionJson = CompositionDocument & { diagnostics: string[] };

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
export function parseComposition(text: string, source = 'composition.json'): CompositionDocument {
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
 * The composition document `autoscale ddo` writes (DDO at one scale): the contract fields plus fits, bounds and
 * diagnostics. `source` names the results table it was solved from.
 * @example ddoDocument(optimizeComposition(results, { baseTokens }), 'runs.csv').fits
 */
export function ddoDocument(result: DdoComposition, source: string): CompositionJson {
  return {
    scale: result.scale,
    tokens: result.tokens,
    weights: result.weights,
    method: 'ddo',
    results: source,
    base: Object.fromEntries(result.domains.map((d) => [d.domain, d.baseTokens])),
    multipliers: result.multipliers,
    bounds: Object.fromEntries(result.domains.map((d) => [d.domain, { lower: d.lower, upper: d.upper }])),
    activeBounds: Object.fromEntries(result.domains.filter((d) => d.bound !== null).map((d) => [d.domain, d.bound])),
    fits: Object.fromEntries(result.domains.map((d) => [d.domain, {
      status: d.fit.status,
      curve: d.fit.curve,
      alternative: d.fit.alternative,
      points: d.fit.points,
      residuals: d.fit.residuals,
      rms: d.fit.rms,
      effect: d.fit.effect,
      message: d.fit.message,
    }])),
    lambda: result.lambda,
    budgetResidual: result.budgetResidual,
    predictedChange: result.predictedChange,
    diagnostics: result.diagnostics,
  };
}

/**
 * The composition document `autoscale predict` writes (the AutoScale prediction): the contract fields plus the
 * trajectory fit, leave-one-scale-out errors and diagnostics. `sources` names the per-scale composition files.
 * @example predictDocument(predictComposition(scales, 1e10), ['a.json', 'b.json']).method // 'autoscale'
 */
export function predictDocument(p: CompositionPrediction, sources: string[]): CompositionJson {
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
      domains: Object.fromEntries(t.domains.map((d, i) => [d, { alpha: t.alpha[i], beta: t.beta[i], residuals: t.residuals[i] }])),
      rms: t.rms,
    },
    leaveOneScaleOut: p.leaveOneScaleOut,
    diagnostics: p.diagnostics,
  };
}

/** Reads and validates a composition file. @example readCompositionFile('opt-1e8.json').tokens */
export function readCompositionFile(path: string): CompositionDocument {
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
export function replicateFields(replicated: ReplicatedDdo, domains: readonly string[], tokens: Record<string, number>, scale: number): Record<string, unknown> {
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


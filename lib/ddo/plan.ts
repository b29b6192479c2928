// The DDO experiment plan at one scale: the base run and, for each domain, one run per multiplier with that
// domain's quantity scaled and the others unchanged. m domains and k multipliers give k·m + 1 runs
// (2m + 1 with the default multipliers 1/3 and 3).

export interface DdoRun {
  /** Stable identifier: "base" or "<domain>@<multiplier>". */
  id: string;
  /** The perturbed domain, or null for the base run. */
  domain: string | null;
  /** The multiplier applied to `domain` (1 for the base run). */
  multiplier: number;
  /** Token quantity of every domain in this run (exact reals; the trainer rounds to whole tokens). */
  tokens: Record<string, number>;
  /** Sum of `tokens`. */
  total: number;
}

export interface DdoPlanOptions {
  /** Base quantities per domain. Alternative to `domains` + `total` (uniform). */
  baseTokens?: Record<string, number>;
  /** Domain names for a uniform base composition. */
  domains?: readonly string[];
  /** Total tokens N of the uniform base composition. */
  total?: number;
  /** Multipliers applied to each domain in turn (default [1/3, 3]); each positive and not 1. */
  multipliers?: readonly number[];
}

/** The default DDO multipliers, down 1/3 and up 3 (the paper's choice). */
export const DEFAULT_DDO_MULTIPLIERS: readonly number[] = [1 / 3, 3];

/**
 * Lists the runs of one DDO scale: the base run first, then for each domain (in order) one run per multiplier.
 *
 * @example
 * planDdoRuns({ domains: ['web', 'code'], total: 1e6 })
 * // [ { id: 'base', tokens: { web: 5e5, code: 5e5 } },
 * //   { id: 'web@0.333333', domain: 'web', multiplier: 1/3, tokens: { web: 166666.67, code: 5e5 }, total: 666666.67 },
 * //   { id: 'web@3', ... }, { id: 'code@0.333333', ... }, { id: 'code@3', ... } ]
 */
export function planDdoRuns(options: DdoPlanOptions): DdoRun[] {
  let base: Record<string, number>;
  if (options.baseTokens) {
    if (options.domains || options.total !== undefined) {
      throw new RangeError('planDdoRuns: give either baseTokens or domains + total, not both');
    }
    base = { ...options.baseTokens };
  } else {
    const domains = options.domains ?? [];
    const total = options.total ?? 1;
    if (!(Number.isFinite(total) && total > 0)) throw new RangeError(`planDdoRuns: total must be positive, got ${total}`);
    base = Object.fromEntries(domains.map((d) => [d, total / domains.length]));
    if (new Set(domains).size !== domains.length) throw new RangeError(`planDdoRuns: duplicate domain in [${domains.join(', ')}]`);
  }
  const names = Object.keys(base);
  if (names.length === 0) throw new RangeError('planDdoRuns: no domains');
  for (const [d, v] of Object.entries(base)) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`planDdoRuns: base quantity of "${d}" is ${v}; it must be positive`);
  }
  const multipliers = options.multipliers ?? DEFAULT_DDO_MULTIPLIERS;
  if (multipliers.length === 0) throw new RangeError('planDdoRuns: no multipliers');
  for (const m of multipliers) {
    if (!(Number.isFinite(m) && m > 0 && m !== 1)) throw new RangeError(`planDdoRuns: multiplier ${m} must be positive and not 1`);
  }
  if (new Set(multipliers).size !== multipliers.length) throw new RangeError('planDdoRuns: duplicate multiplier');
  const sum = (t: Record<string, number>): number => Object.values(t).reduce((s, v) => s + v, 0);
  const runs: DdoRun[] = [{ id: 'base', domain: null, multiplier: 1, tokens: base, total: sum(base) }];
  for (const d of names) {
    for (const m of multipliers) {
      const tokens = { ...base, [d]: base[d]! * m };
      runs.push({ id: `${d}@${Number(m.toPrecision(6))}`, domain: d, multiplier: m, tokens, total: sum(tokens) });
    }
  }
  return runs;
}

// `autoscale ddo`: DDO at one scale from a results table that anyone can produce (our runner or a PyTorch loop).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../atomic-file.js';
import { compositionFromTokens, ddoDocument, parseTokenCount, readCompositionFile, type DdoCompositionFile } from '../composition.js';
import type { DdoComposition } from '../ddo/optimize.js';
import { parseDdoReplicatesCsv, perturbationId } from '../ddo/results.js';
import { DEFAULT_DRAWS, DEFAULT_LEVEL, replicatedDdo, type ReplicatedDdo, type ReplicateRun } from '../stats/ddo-replicates.js';

function total(tokens: Record<string, number>): number {
  return Object.values(tokens).reduce((a, b) => a + b, 0);
}
import { formatNumber as num, formatTable } from '../format.js';

export interface DdoCommandOptions {
  results: string;
  tokens?: string;
  base?: string;
  minMultiplier?: string;
  maxMultiplier?: string;
  noise?: string;
  level?: string;
  draws?: string;
  out?: string;
}

/** The weights with their intervals, and the noise audit, as `autoscale ddo` prints them after the fit table. */
export function intervalTable(r: ReplicatedDdo): string {
  const lines: string[] = [];
  if (r.intervals) {
    const pct = Math.round(r.intervals.level * 100);
    lines.push('', `${pct}% intervals over ${r.intervals.seeds} seeds (${r.intervals.draws} draws; ${r.intervals.method}):`);
    const rows = [['domain', 'weight', `${pct}% interval`, ...r.perSeed.map((s) => `seed ${s.seed}`)]];
    for (const d of r.composition.domains) {
      const w = r.intervals.weights[d.domain]!;
      rows.push([d.domain, num(d.weight), `[${num(w[0])}, ${num(w[1])}]`, ...r.perSeed.map((s) => (s.weights ? num(s.weights[d.domain]!) : '-'))]);
    }
    lines.push(formatTable(rows));
  }
  if (r.intervalNote) lines.push('', `intervals: ${r.intervalNote}`);
  lines.push('', `noise audit (${r.noise.seeds} seed${r.noise.seeds === 1 ? '' : 's'}, base SD ${r.noise.baseSd === null ? '-' : num(r.noise.baseSd)}): ${r.noise.advice}`);
  return lines.join('\n');
}

/** The human-readable summary `autoscale ddo` prints. */
export function ddoTable(result: DdoComposition): string {
  const rows = [['domain', 'base', 'multiplier', 'tokens', 'weight', 'fit', 'a', 'b', 'c', 'bound']];
  for (const d of result.domains) {
    const cv = d.fit.curve;
    rows.push([d.domain, num(d.baseTokens), num(d.multiplier), num(d.tokens), num(d.weight), d.fit.status,
      cv ? num(cv.a) : '-', cv ? num(cv.b) : '-', cv ? num(cv.c) : '-', d.bound ?? '']);
  }
  const lines = [`DDO optimum at scale ${Number(result.scale.toPrecision(12))} tokens (${result.domains.length} domains); ` +
    `predicted change of the normalised loss: ${num(result.predictedChange)}`, formatTable(rows)];
  if (result.diagnostics.length) lines.push('', ...result.diagnostics.map((m) => `note: ${m}`));
  return lines.join('\n');
}

/**
 * Runs `autoscale ddo` without the command line: reads the files, optimises, writes --out.
 * @example runDdoCommand({ results: 'runs.csv', tokens: '1e9', out: 'opt.json' }).table
 */
export function runDdoCommand(options: DdoCommandOptions): { result: DdoComposition; replicated: ReplicatedDdo; document: DdoCompositionFile; table: string } {
  if (options.tokens !== undefined && options.base !== undefined) {
    throw new Error('give either --tokens (uniform base) or --base (a composition file), not both');
  }
  let text: string;
  try {
    text = readFileSync(options.results, 'utf8');
  } catch (error) {
    throw new Error(`${options.results}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const table = parseDdoReplicatesCsv(text, options.results);
  const results = { domains: table.domains };
  let baseTokens: Record<string, number>;
  if (options.base !== undefined) {
    const base = readCompositionFile(options.base);
    const unknown = results.domains.filter((d) => !(d in base.tokens));
    if (unknown.length) throw new Error(`${options.results}: domain(s) ${unknown.join(', ')} not in the base composition ${options.base}`);
    const missing = Object.keys(base.tokens).filter((d) => !results.domains.includes(d));
    if (missing.length) throw new Error(`${options.base}: domain(s) ${missing.join(', ')} have no perturbation runs in ${options.results}`);
    const zero = Object.entries(base.tokens).filter(([, v]) => !(v > 0)).map(([d]) => d);
    if (zero.length) throw new Error(`${options.base}: domain(s) ${zero.join(', ')} have 0 tokens; DDO perturbs quantities multiplicatively, so each needs a positive base`);
    baseTokens = base.tokens;
  } else {
    const total = options.tokens !== undefined ? parseTokenCount(options.tokens, '--tokens') : 1;
    baseTokens = compositionFromTokens(Object.fromEntries(results.domains.map((d) => [d, total / results.domains.length]))).tokens;
  }
  const bound = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!(Number.isFinite(x) && x >= 0)) throw new Error(`${flag} "${v}" must be a number >= 0, e.g. 0.25`);
    return x;
  };
  const minMultiplier = bound(options.minMultiplier, '--min-multiplier');
  const maxMultiplier = bound(options.maxMultiplier, '--max-multiplier');
  const noise = bound(options.noise, '--noise');
  const level = options.level === undefined ? DEFAULT_LEVEL : Number(options.level);
  if (!(level > 0 && level < 1)) throw new Error(`--level "${options.level}" must be a probability strictly between 0 and 1, e.g. 0.9`);
  const draws = options.draws === undefined ? DEFAULT_DRAWS : Number(options.draws);
  if (!(Number.isInteger(draws) && draws >= 20)) throw new Error(`--draws "${options.draws}" must be an integer >= 20, e.g. 400`);
  const runs = new Map<string, ReplicateRun>();
  for (const row of table.rows) {
    if (row.domain !== null) runs.set(perturbationId(row.domain, row.multiplier), { id: perturbationId(row.domain, row.multiplier), domain: row.domain, multiplier: row.multiplier });
  }
  const observations = table.rows.map((row) => ({ run: row.domain === null ? 'base' : perturbationId(row.domain, row.multiplier), seed: row.seed, response: row.loss }));
  const replicated = replicatedDdo({ runs: [...runs.values()], observations }, {
    baseTokens,
    ...(minMultiplier !== undefined ? { minMultiplier } : {}),
    ...(maxMultiplier !== undefined ? { maxMultiplier } : {}),
    ...(noise !== undefined ? { noise } : {}),
  }, { level, draws, stream: [total(baseTokens)] });
  const result = replicated.composition;
  const document = ddoDocument(replicated, options.results);
  if (options.out) writeJsonAtomic(options.out, document);
  return { result, replicated, document, table: `${ddoTable(result)}\n${intervalTable(replicated)}` };
}

export function registerDdoCommand(program: Command): void {
  program
    .command('ddo')
    .description('Direct Data Optimization at one scale: fit the perturbation runs and solve for the optimal composition')
    .requiredOption('--results <runs.csv>', 'CSV with header domain,multiplier,loss[,seed]: one row "base,1,<loss>[,<seed>]" per seed and one row per perturbation run (and seed)')
    .option('--tokens <N>', 'total tokens N of a uniform base composition over the domains named (default 1); 1e9, 1000000000 or 1B')
    .option('--base <base.json>', 'base composition file {"scale", "tokens"} instead of a uniform one')
    .option('--min-multiplier <X>', 'lower bound on every multiplier (default: each domain\'s smallest multiplier tried)')
    .option('--max-multiplier <Y>', 'upper bound on every multiplier (default: each domain\'s largest multiplier tried)')
    .option('--noise <sd>', 'standard deviation of one normalised loss; domains whose fall is within the noise are held at their base')
    .option('--level <p>', 'central probability of the intervals (default 0.9); intervals need 2 or more seeds (the seed column)')
    .option('--draws <n>', 'bootstrap draws behind the intervals (default 400)')
    .option('--out <composition.json>', 'write the composition, fits, active bounds and diagnostics as JSON')
    .action((options: DdoCommandOptions) => {
      const { table } = runDdoCommand(options);
      process.stdout.write(`${table}\n${options.out ? `\nwrote ${options.out}\n` : ''}`);
    });
}

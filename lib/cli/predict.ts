// `autoscale predict`: AutoScale from optimal compositions at two or more scales to a target scale.
import { predictWithIntervals, type ScaleWithDraws } from '../stats/predict-intervals.js';
import { DEFAULT_LEVEL, type CompositionDraws } from '../stats/ddo-replicates.js';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { predictComposition, supplyCaps, type CompositionPrediction } from '../autoscale.js';
import { writeJsonAtomic } from '../atomic-file.js';
import { parseTokenCount, predictDocument, readCompositionFile, type ParsedComposition, type PredictedCompositionFile } from '../composition.js';
import { formatNumber as num, formatTable } from '../format.js';

export interface PredictCommandOptions {
  scale: string[];
  target: string;
  supply?: string;
  epochs?: string;
  level?: string;
  out?: string;
}

/** The human-readable summary `autoscale predict` prints. */
export function predictTable(p: CompositionPrediction): string {
  const t = p.trajectory;
  const header = ['domain', ...t.totals.map((n) => `w@${num(n, 3)}`), `w@${num(p.scale, 3)}`, 'tokens', 'growth/s', 'capped'];
  const rows = [header];
  t.domains.forEach((d, i) => {
    const ws = t.totals.map((n, k) => num(Math.exp(t.alpha[i]! + t.beta[i]! * t.s[k]! + t.residuals[i]![k]!) / n));
    rows.push([d, ...ws, num(p.weights[d]!), num(p.tokens[d]!), `x${num(Math.exp(t.beta[i]!))}`, p.capped.includes(d) ? 'yes' : '']);
  });
  const lines = [`AutoScale prediction at ${Number(p.scale.toPrecision(12))} tokens from ${t.totals.length} scales (s = ${num(p.s)}; fit rms ${num(t.rms)} in ln tokens)`,
    formatTable(rows)];
  if (p.leaveOneScaleOut) {
    lines.push('', 'leave-one-scale-out (each scale predicted from the others):');
    lines.push(formatTable([['scale', 'max rel. error (tokens)', 'max weight error'],
      ...p.leaveOneScaleOut.map((l) => [num(l.scale), num(l.maxRelativeError), num(l.maxWeightError)])]));
  }
  if (p.diagnostics.length) lines.push('', ...p.diagnostics.map((m) => `note: ${m}`));
  return lines.join('\n');
}

/**
 * Runs `autoscale predict` without the command line.
 * @example runPredictCommand({ scale: ['a.json', 'b.json'], target: '1e10' }).table
 */
export function runPredictCommand(options: PredictCommandOptions): { prediction: CompositionPrediction; document: PredictedCompositionFile; table: string } {
  const files = options.scale ?? [];
  if (files.length < 2) throw new Error(`give at least two --scale files (got ${files.length}); AutoScale needs optimal compositions at two or more scales`);
  const target = parseTokenCount(options.target, '--target');
  const scales = files.map((f) => readCompositionFile(f));
  const names0 = Object.keys(scales[0]!.tokens);
  scales.forEach((sc, k) => {
    const names = Object.keys(sc.tokens);
    const unknown = names.filter((d) => !names0.includes(d));
    const missing = names0.filter((d) => !names.includes(d));
    if (unknown.length || missing.length) {
      throw new Error(`${files[k]}: domains differ from ${files[0]}` + (unknown.length ? `; unknown: ${unknown.join(', ')}` : '') +
        (missing.length ? `; missing: ${missing.join(', ')}` : ''));
    }
  });
  let supply: Record<string, number> | undefined;
  if (options.supply !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(options.supply, 'utf8'));
    } catch (error) {
      throw new Error(`${options.supply}: cannot read a JSON object {"<domain>": unique tokens} (${(error as Error).message})`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${options.supply}: must be an object {"<domain>": unique tokens, ...}`);
    for (const [d, v] of Object.entries(raw)) {
      if (!names0.includes(d)) throw new Error(`${options.supply}: unknown domain "${d}" (domains: ${names0.join(', ')})`);
      if (typeof v !== 'number' || !(v >= 0)) throw new Error(`${options.supply}: unique tokens of "${d}" must be a number >= 0`);
    }
    const epochs = options.epochs !== undefined ? Number(options.epochs) : 1;
    if (!(Number.isFinite(epochs) && epochs > 0)) throw new Error(`--epochs "${options.epochs}" must be a positive number`);
    supply = supplyCaps(raw as Record<string, number>, epochs);
  } else if (options.epochs !== undefined) {
    throw new Error('--epochs needs --supply (the unique tokens per domain)');
  }
  const level = options.level === undefined ? DEFAULT_LEVEL : Number(options.level);
  if (!(level > 0 && level < 1)) throw new Error(`--level "${options.level}" must be a probability strictly between 0 and 1, e.g. 0.9`);
  const withDraws: ScaleWithDraws[] = scales.map((sc, k) => ({ scale: sc.scale, tokens: sc.tokens, draws: drawsOf(sc, files[k]!), seeds: seedsOf(sc) }));
  const result = predictWithIntervals(withDraws, target, { ...(supply ? { supply } : {}), level });
  const prediction = result.prediction;
  const document = predictDocument(result, files);
  if (options.out) writeJsonAtomic(options.out, document);
  const lines = [predictTable(prediction)];
  if (result.intervals) {
    const pct = Math.round(level * 100);
    lines.push('', `${pct}% intervals (${result.intervals.draws} draws carried from the scales' files, ${result.intervals.seeds}+ seeds per scale):`);
    lines.push(formatTable([['domain', 'weight', `${pct}% interval`], ...Object.keys(prediction.weights).map((d) => {
      const w = result.intervals!.weights[d]!;
      return [d, num(prediction.weights[d]!), `[${num(w[0])}, ${num(w[1])}]`];
    })]));
  }
  if (result.intervalNote) lines.push('', `intervals: ${result.intervalNote}`);
  return { prediction, document, table: lines.join('\n') };
}

/** The bootstrap draws a composition file carries ("replicates"), checked; null when it has none. */
function drawsOf(doc: ParsedComposition, file: string): CompositionDraws | null {
  const r = doc.replicates as { domains?: unknown; tokens?: unknown } | null | undefined;
  if (r === undefined || r === null) return null;
  const domains = r.domains;
  const tokens = r.tokens;
  if (!Array.isArray(domains) || !domains.every((d) => typeof d === 'string') || !Array.isArray(tokens)) {
    throw new Error(`${file}: "replicates" must be {"domains": [names], "tokens": [[tokens per domain], ...]}; remove it to predict without intervals`);
  }
  for (const d of Object.keys(doc.tokens)) if (!domains.includes(d)) throw new Error(`${file}: "replicates" has no domain "${d}"`);
  tokens.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== domains.length || !row.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      throw new Error(`${file}: replicates.tokens[${b}] must list ${domains.length} positive token counts`);
    }
  });
  return { domains: domains as string[], tokens: tokens as number[][] };
}

/** The seeds behind a composition file's draws ("noise"."seeds"); 0 when it does not say. */
function seedsOf(doc: ParsedComposition): number {
  const n = (doc.noise as { seeds?: unknown } | undefined)?.seeds;
  return typeof n === 'number' ? n : 0;
}

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('AutoScale: predict the optimal composition at a target scale from optimal compositions at smaller scales')
    .requiredOption('--scale <composition.json>', 'optimal composition at one scale (repeat: two or more)', (v: string, prev: string[] = []) => [...prev, v])
    .requiredOption('--target <T>', 'target total tokens: 1e10, 10000000000 or 10B')
    .option('--supply <supply.json>', 'unique tokens per domain {"<domain>": tokens}; predictions are capped at supply x epochs')
    .option('--epochs <E>', 'passes allowed over each domain\'s unique tokens (default 1; needs --supply)')
    .option('--level <p>', 'central probability of the intervals (default 0.9); the scales\' files must carry their bootstrap draws ("replicates")')
    .option('--out <predicted.json>', 'write the prediction, trajectory fit and diagnostics as JSON')
    .action((options: PredictCommandOptions) => {
      const { table } = runPredictCommand(options);
      process.stdout.write(`${table}\n${options.out ? `\nwrote ${options.out}\n` : ''}`);
    });
}

// `autoscale compare`: the validation stage alone, for the mixtures named on the command line, in the config, or in
// files (a user's own mixture is a mixture too). lib/pipeline/compare.ts does the work.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseTokenCount } from '../composition.js';
import { compareMixtures, type CompareResult } from '../pipeline/compare.js';
import { MIXTURE_METHODS, ownMixtureNameProblem, parsePipelineConfig, type PipelineConfig } from '../pipeline-config.js';
import { demoDataFor, loadRawConfig, rankingTable, runInterruptible } from './run.js';

/** One `--mixture NAME=FILE`: the name and the weights the file gives. */
export interface MixtureFile {
  name: string;
  file: string;
  weights: Record<string, number>;
}

/**
 * Parses `--mixture NAME=FILE`. FILE is JSON: weights per domain ({"books": 0.3, "code": 0.7}), or a composition
 * file (composition-N.json, composition.json: its "weights" are taken).
 *
 * @example parseMixtureOption('mine=mine.json') // { name: 'mine', file: 'mine.json', weights: { books: 0.3, code: 0.7 } }
 */
export function parseMixtureOption(text: string): MixtureFile {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new Error(`--mixture "${text}" must be NAME=FILE, e.g. --mixture mine=mine.json (FILE: {"books": 0.3, ...} or a composition-N.json)`);
  const name = text.slice(0, at);
  const file = text.slice(at + 1);
  const problem = ownMixtureNameProblem(name);
  if (problem) throw new Error(`--mixture ${text}: the name ${problem}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`--mixture ${text}: cannot read ${file} as JSON (${(error as Error).message})`);
  }
  const object = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const source = object(raw) && object(raw.weights) ? raw.weights : raw;
  if (!object(source) || Object.keys(source).length === 0) {
    throw new Error(`--mixture ${text}: ${file} must hold weights per domain, {"books": 0.3, "code": 0.7}, or a composition file with "weights"`);
  }
  const weights: Record<string, number> = {};
  for (const [d, w] of Object.entries(source)) {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new Error(`--mixture ${text}: the weight of "${d}" in ${file} is ${JSON.stringify(w)}; every weight must be a number >= 0`);
    weights[d] = w;
  }
  if (!Object.values(weights).some((w) => w > 0)) throw new Error(`--mixture ${text}: every weight in ${file} is 0; give at least one positive weight`);
  return { name, file, weights };
}

/**
 * The config's "validation.mixtures" for a compare: `--mixtures` (method names, and names of own mixtures in the
 * config or given with --mixture) or else the config's list, then every --mixture not yet listed; "uniform" first
 * when missing (it is the reference).
 */
export function comparedMixtures(raw: Record<string, unknown>, list: string | undefined, files: MixtureFile[]): unknown[] {
  const validation = (typeof raw.validation === 'object' && raw.validation !== null ? raw.validation : {}) as Record<string, unknown>;
  const configured = Array.isArray(validation.mixtures) ? (validation.mixtures as unknown[]) : ['uniform', 'ddo', 'autoscale'];
  const ownName = (m: unknown): string | null => (typeof m === 'object' && m !== null && typeof (m as { name?: unknown }).name === 'string' ? (m as { name: string }).name : null);
  const fromFile = (f: MixtureFile) => ({ name: f.name, weights: f.weights });
  let mixtures: unknown[];
  if (list !== undefined) {
    const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (names.length === 0) throw new Error(`--mixtures "${list}" names no mixture; write e.g. --mixtures uniform,natural,unimax,regmix,dml`);
    mixtures = names.map((name) => {
      if ((MIXTURE_METHODS as readonly string[]).includes(name)) return name;
      const file = files.find((f) => f.name === name);
      if (file) return fromFile(file);
      const own = configured.find((m) => ownName(m) === name);
      if (own) return own;
      throw new Error(`--mixtures names "${name}", which is neither a method (${MIXTURE_METHODS.join(', ')}) nor a mixture of the config's validation.mixtures or of --mixture`);
    });
  } else {
    mixtures = [...configured];
  }
  for (const f of files) if (!mixtures.some((m) => ownName(m) === f.name)) mixtures.push(fromFile(f));
  if (!mixtures.includes('uniform')) mixtures.unshift('uniform');
  return mixtures;
}

/** What `autoscale compare` prints: the ranking, the weights, the headline, the counts and where the files are. */
export function compareSummary(result: CompareResult, elapsedS: number): string {
  const v = result.validation;
  const lines = [rankingTable(v), `${v.verdict}.`];
  lines.push(`${result.trained} proxy runs trained, ${result.reused} reused, ${result.failed} failed; ${elapsedS.toFixed(0)} s.`);
  if (result.diagnostics.length > 0) lines.push('Notes:', ...result.diagnostics.map((d) => `  - ${d}`));
  lines.push(`Written: ${path.join(result.outDir, 'validation.json')}, ${path.join(result.outDir, 'report.html')}${result.ranDdo ? ' (and the pipeline\'s compositions: the DDO stage ran for ddo/autoscale)' : ''}`);
  return lines.join('\n');
}

interface CompareOptions {
  demo?: boolean;
  mixture?: string[];
  mixtures?: string;
  scale?: string;
  seeds?: string;
  level?: string;
  out?: string;
  cache?: string;
  retryFailed?: boolean;
  quiet?: boolean;
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .argument('[config]', 'pipeline config (JSON) as for autoscale run; its "validation" (or --scale) sets the scale')
    .description('Compare mixtures on your data: train each at the validation scale on every seed, compare with uniform seed by seed, rank them')
    .option('--demo', 'use the demo config of autoscale run --demo')
    .option('--mixtures <list>', `the mixtures, e.g. uniform,natural,unimax,regmix,dml: methods among ${MIXTURE_METHODS.join(', ')}, or own mixtures named in the config or by --mixture (default: the config's validation.mixtures)`)
    .option('--mixture <name=file>', 'an own mixture: FILE holds weights {"books": 0.3, ...} or is a composition-N.json (repeatable)', (value: string, list: string[] | undefined) => [...(list ?? []), value])
    .option('--scale <N>', 'validation scale in tokens, e.g. 600k (overrides validation.scale; needed when the config has no "validation")')
    .option('--seeds <list>', 'seeds of every validation run, overriding the config\'s "seeds" (the random-mixture runs of regmix/dml use the first)')
    .option('--level <p>', 'central probability of every interval, overriding "intervals.level" (default 0.9)')
    .option('--out <dir>', 'output folder for validation.json and report.html (overrides the config\'s "out")')
    .option('--cache <dir>', 'cache folder: run registry, checkpoints, data (overrides "cacheDir")')
    .option('--retry-failed', 'train again the runs that failed with a NaN loss')
    .option('--quiet', 'no progress lines on stderr')
    .addHelpText('after', '\nExamples:\n' +
      '  autoscale compare config.json --mixtures uniform,natural,unimax,regmix,dml\n' +
      '  autoscale compare config.json --mixture mine=mine.json --mixture theirs=out/composition-1000000.json\n\n' +
      'Runs only what the validation stage needs, reusing every run in the registry (after autoscale run with the same\n' +
      'config and seeds nothing is trained twice). "uniform" is always trained: every mixture is compared with it.\n' +
      '"ddo" and "autoscale" need the DDO stage: compare then runs the pipeline (reusing its runs) and writes all its\n' +
      'outputs; without them no DDO run is trained. "regmix" and "dml" share regmix.runs random-mixture runs at\n' +
      'regmix.scale (default: 4 per domain, the smallest DDO scale), trained on the first seed. validation.json and\n' +
      'report.html in the output folder are replaced: give --out to keep those of autoscale run.')
    .action(async (file: string | undefined, options: CompareOptions) => {
      const { raw, baseDir } = loadRawConfig('compare', file, options);
      const files = (options.mixture ?? []).map(parseMixtureOption);
      const names = new Set<string>();
      for (const f of files) {
        if (names.has(f.name.toLowerCase())) throw new Error(`--mixture ${f.name}=${f.file}: the name "${f.name}" is given twice; give each mixture its own name`);
        names.add(f.name.toLowerCase());
      }
      const validation = (typeof raw.validation === 'object' && raw.validation !== null ? raw.validation : {}) as Record<string, unknown>;
      if (options.scale !== undefined) validation.scale = parseTokenCount(options.scale, '--scale');
      if (validation.scale === undefined) throw new Error('the config has no "validation": give --scale N (the validation scale, e.g. --scale 600k) or add "validation": {"scale": N}');
      validation.mixtures = comparedMixtures(raw, options.mixtures, files);
      raw.validation = validation;
      const config: PipelineConfig = parsePipelineConfig(raw);
      // Errors about an own mixture from a file name the option, not a place in the config.
      for (const entry of config.validation!.mixtures) {
        const f = entry.kind === 'own' ? files.find((x) => x.name === entry.name) : undefined;
        if (entry.kind === 'own' && f) entry.source = `--mixture ${f.name}=${f.file}`;
      }
      const log = options.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const dataConfig = await demoDataFor(config);
      const started = Date.now();
      await runInterruptible(async (signal) => {
        const result = await compareMixtures({ config, baseDir, signal, ...(dataConfig ? { dataConfig } : {}), ...(log ? { log } : {}), ...(options.retryFailed ? { retryFailed: true } : {}) });
        process.stdout.write(`${compareSummary(result, (Date.now() - started) / 1000)}\n`);
      });
    });
}

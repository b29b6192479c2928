// report.html: one self-contained page with the tables and charts of a pipeline run. Charts are
// Vega-Lite 5 specs compiled to Vega and rendered to SVG here, on the server, with Vega 5's
// headless renderer; the page embeds each SVG inline (it opens offline, nothing to load) and the
// spec next to it as JSON (so it can be re-rendered or checked).
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { CompositionFit, DdoCompositionFile, PredictedCompositionFile } from './composition.js';
import { formatPercent, formatTokens } from './format.js';
import type { MixtureRanking, PairedDifference, TokenSaving, Verdict } from './stats/paired.js';
import type { CompositionIntervals } from './stats/ddo-replicates.js';

/** One mixture's held-out loss curve in the validation runs (mean over the seeds that finished). */
export interface ValidationCurve {
  mixture: string;
  weights: Record<string, number>;
  points: { tokens: number; loss: number }[];
  /** Final per-domain held-out losses, mean over seeds. */
  finalLosses: Record<string, number>;
  /** Final response per seed of the validation (null where the run failed), and their mean. */
  perSeedFinal: (number | null)[];
  meanFinal: number | null;
  /** t interval (at the validation's level) of the mean final loss over the seeds, unpaired; null with fewer than two. */
  finalInterval?: [number, number] | null;
  failed: string | null;
}

/** How a validation mixture was obtained: validation.json's "methods" (README, "Comparing methods"). */
export interface MixtureMethodSummary {
  /** The config name of the method ("uniform", "natural", "unimax", "ddo", "autoscale", "regmix", "dml"), or "own". */
  method: string;
  /** How the weights were obtained, in one sentence. */
  description: string;
  /** Proxy runs the method trained to obtain its mixture (runs it shares with `sharedWith` counted here too), and their tokens. */
  proxyRuns: number;
  proxyTokens: number;
  sharedWith: string[];
  /** Fit quality: RegMix {kind, r2, looR2, n}; DML per domain {c, k, t, rmse} and n; null for the others. */
  fit: Record<string, unknown> | null;
  /** Domains capped at their training tokens x maxEpochs. */
  capped: string[];
  notes: string[];
}

/** A mixture against uniform at the validation scale, seed by seed (lib/stats/paired.ts). */
export interface MixtureComparison {
  mixture: string;
  lossDifference: PairedDifference;
  tokenSaving: TokenSaving | null;
  tokenSavingNote: string | null;
  verdict: Verdict;
  /** The comparison in one sentence, as printed. */
  sentence: string;
}

export interface ValidationSummary {
  scale: number;
  level: number;
  seeds: number[];
  curves: ValidationCurve[];
  comparisons: MixtureComparison[];
  /** The headline: AutoScale against uniform, as the interval allows (without AutoScale: the ranking's first place). */
  verdict: string;
  /** The mixtures ranked by their paired differences (lib/stats/paired.ts rankByPairedDifferences). */
  ranking?: MixtureRanking;
  /** Per mixture, how it was obtained. */
  methods?: Record<string, MixtureMethodSummary>;
  /** Methods named that gave no mixture, and why. */
  unavailable?: string[];
}

/** One proxy run as the report's runs table shows it. */
export interface ReportedRun {
  label: string;
  status: string;
  scale: number;
  seed: number;
  tokens: Record<string, number>;
  losses: Record<string, number> | null;
  durationS: number | null;
  reused: boolean;
  error: string | null;
}

export interface ReportInput {
  title: string;
  domains: string[];
  /** One line per setting, e.g. "model: 2 layers x 64 wide, context 64, byte tokenizer". */
  setup: string[];
  /**
   * The composition files of the DDO scales and of the prediction (lib/composition.ts), as the pipeline writes them.
   * Picks, as the report reads only these fields; the prediction's diagnostics are the notes under the tables.
   */
  scales: Pick<DdoCompositionFile, 'scale' | 'tokens' | 'weights' | 'fits' | 'activeBounds' | 'intervals' | 'noise'>[];
  prediction: Pick<PredictedCompositionFile, 'scale' | 'tokens' | 'weights' | 'intervals' | 'diagnostics'>;
  validation: ValidationSummary | null;
  runs: ReportedRun[];
  /** What went wrong and what it means for the result (failed runs, degenerate fits, caps). */
  diagnostics: string[];
}

/** A chart: its Vega-Lite spec and its SVG rendering. */
export interface RenderedChart {
  id: string;
  title: string;
  spec: vl.TopLevelSpec;
  svg: string;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** A fit the report can show: one with points (a domain held for want of points has none). */
type ShownFit = Exclude<CompositionFit, { status: 'missing-runs' }>;

/** The fits of one scale's file that have points, by domain, in the file's order. */
function shownFits(scale: ReportInput['scales'][number]): [string, ShownFit][] {
  return Object.entries(scale.fits ?? {}).filter((e): e is [string, ShownFit] => 'points' in e[1]);
}

/** The fitted curve's coefficients when it has finite ones; null for a degenerate fit (points only). */
function finiteCurve(fit: ShownFit): { a: number; b: number; c: number } | null {
  const curve = fit.curve;
  return curve && [curve.a, curve.b, curve.c].every(Number.isFinite) ? curve : null;
}

/** Why a fit is not trustworthy, when it is not (no curve, or a curve that is neither exact nor least-squares); null when it is. */
function fitWarning(fit: ShownFit): string | null {
  if (!fit.curve) return `${fit.status}: ${fit.message}`;
  return fit.status === 'exact' || fit.status === 'least-squares' ? null : fit.message;
}

/** Points along the fitted curve of every domain at every scale, for the line layer. */
function fitCurveRows(scales: ReportInput['scales']): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const s of scales) {
    for (const [domain, fit] of shownFits(s)) {
      const curve = finiteCurve(fit);
      if (!curve) continue; // a degenerate fit: points only
      const xs = fit.points.map((p) => p.x);
      const lo = Math.min(...xs, 1) * 0.8;
      const hi = Math.max(...xs, 1) * 1.25;
      for (let i = 0; i <= 48; i++) {
        const x = lo * (hi / lo) ** (i / 48);
        const y = (x + curve.a) ** -curve.b + curve.c;
        if (Number.isFinite(y)) rows.push({ scale: formatTokens(s.scale), domain, x, y, kind: 'fit' });
      }
    }
  }
  return rows;
}

/** Vega-Lite spec: per-domain fitted curves with their points, one row per scale. */
export function fitsSpec(scales: ReportInput['scales']): vl.TopLevelSpec {
  const points = scales.flatMap((s) =>
    shownFits(s).flatMap(([domain, fit]) => fit.points.map((p) => ({ scale: formatTokens(s.scale), domain, x: p.x, y: p.y, kind: 'run' }))),
  );
  return {
    $schema: SCHEMA,
    description: 'Per-domain DDO fits: normalised response against the multiplier of the domain, with the fitted (x + a)^-b + c',
    data: { values: [...fitCurveRows(scales), ...points] },
    facet: {
      row: { field: 'scale', type: 'nominal', title: 'scale (tokens)', sort: scales.map((s) => formatTokens(s.scale)) },
      column: { field: 'domain', type: 'nominal', title: 'perturbed domain' },
    },
    spec: {
      width: 150,
      height: 120,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'fit'" }],
          mark: { type: 'line', color: '#4c78a8' },
          encoding: {
            x: { field: 'x', type: 'quantitative', scale: { type: 'log' }, title: 'multiplier x' },
            y: { field: 'y', type: 'quantitative', scale: { zero: false }, title: 'response / base' },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'run'" }],
          mark: { type: 'point', filled: true, size: 50, color: '#e45756' },
          encoding: {
            x: { field: 'x', type: 'quantitative', scale: { type: 'log' } },
            y: { field: 'y', type: 'quantitative' },
            tooltip: [{ field: 'domain' }, { field: 'x', format: '.3f' }, { field: 'y', format: '.4f' }],
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as vl.TopLevelSpec;
}

/** Vega-Lite spec: each domain's weight against scale, DDO optima (solid) and the prediction (hollow, dashed). */
export function weightsSpec(scales: ReportInput['scales'], prediction: ReportInput['prediction'], domains: string[]): vl.TopLevelSpec {
  const rows: Record<string, unknown>[] = [];
  for (const s of scales) for (const d of domains) rows.push({ scale: s.scale, domain: d, weight: s.weights[d] ?? 0, source: 'DDO optimum' });
  for (const d of domains) rows.push({ scale: prediction.scale, domain: d, weight: prediction.weights[d] ?? 0, source: 'AutoScale prediction' });
  // The intervals, as vertical bars at each scale (drawn only where the composition carries them), side by side: each
  // domain's bar is moved along the log axis by a fixed step (0.012 decades, a few pixels), as Vega-Lite's xOffset
  // cannot dodge on a continuous axis and the bars of all domains would otherwise overlap on one line.
  const bars: Record<string, unknown>[] = [];
  for (const c of [...scales, prediction]) {
    domains.forEach((d, i) => {
      const w = c.intervals?.weights[d];
      if (w) bars.push({ scale: c.scale, at: c.scale * 10 ** (0.012 * (i - (domains.length - 1) / 2)), domain: d, low: w[0], high: w[1] });
    });
  }
  // Axes fitted to the data: the weights (intervals included) up to the next tenth above the largest, and the scales
  // from a little below the smallest to a little above the target, so that the bars, a few points tall, can be read.
  const highs = [...rows.map((r) => r.weight as number), ...bars.map((b) => b.high as number)];
  const yMax = Math.min(1, Math.ceil((Math.max(...highs) + 0.02) * 10) / 10);
  const xs = [...scales.map((s) => s.scale), prediction.scale];
  const xDomain = [Math.min(...xs) / 1.25, Math.max(...xs) * 1.25];
  const last = scales[scales.length - 1]!;
  const bridge = domains.flatMap((d) => [
    { scale: last.scale, domain: d, weight: last.weights[d] ?? 0 },
    { scale: prediction.scale, domain: d, weight: prediction.weights[d] ?? 0 },
  ]);
  return {
    $schema: SCHEMA,
    description: 'Optimal domain weights against training scale: DDO at the small scales, AutoScale at the target; bars are the intervals',
    width: 460,
    height: 280,
    layer: [
      {
        data: { values: rows.filter((r) => r.source === 'DDO optimum') },
        mark: { type: 'line', point: { filled: true, size: 60 } },
        encoding: {
          x: { field: 'scale', type: 'quantitative', scale: { type: 'log', domain: xDomain, nice: false }, title: 'training tokens' },
          y: { field: 'weight', type: 'quantitative', title: 'weight', scale: { domain: [0, yMax] } },
          color: { field: 'domain', type: 'nominal' },
        },
      },
      {
        data: { values: bridge },
        mark: { type: 'line', strokeDash: [4, 4] },
        encoding: {
          x: { field: 'scale', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'weight', type: 'quantitative' },
          color: { field: 'domain', type: 'nominal' },
          detail: { field: 'domain' },
        },
      },
      ...(bars.length ? [{
        data: { values: bars },
        mark: { type: 'rule', strokeWidth: 2, opacity: 0.6 },
        encoding: {
          x: { field: 'at', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'low', type: 'quantitative' },
          y2: { field: 'high' },
          color: { field: 'domain', type: 'nominal' },
          tooltip: [{ field: 'domain' }, { field: 'scale' }, { field: 'low', format: '.3f' }, { field: 'high', format: '.3f' }],
        },
      }] : []),
      {
        data: { values: rows.filter((r) => r.source === 'AutoScale prediction') },
        mark: { type: 'point', shape: 'diamond', size: 120, filled: false, strokeWidth: 2 },
        encoding: {
          x: { field: 'scale', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'weight', type: 'quantitative' },
          color: { field: 'domain', type: 'nominal' },
          tooltip: [{ field: 'domain' }, { field: 'scale' }, { field: 'weight', format: '.3f' }],
        },
      },
    ],
  } as vl.TopLevelSpec;
}

/** Vega-Lite spec: mean held-out loss against training tokens for each validation mixture. */
export function validationSpec(validation: ValidationSummary): vl.TopLevelSpec {
  const rows = validation.curves.flatMap((c) => c.points.map((p) => ({ mixture: c.mixture, tokens: p.tokens, loss: p.loss })));
  const uniform = validation.curves.find((c) => c.mixture === 'uniform');
  const target = uniform?.points[uniform.points.length - 1]?.loss;
  const layers: unknown[] = [
    {
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'tokens', type: 'quantitative', title: 'training tokens' },
        y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: 'mean held-out loss (nats/token)' },
        color: { field: 'mixture', type: 'nominal' },
        tooltip: [{ field: 'mixture' }, { field: 'tokens' }, { field: 'loss', format: '.4f' }],
      },
    },
  ];
  if (target !== undefined && Number.isFinite(target)) {
    layers.push({
      data: { values: [{ loss: target }] },
      mark: { type: 'rule', strokeDash: [3, 3], color: 'gray' },
      encoding: { y: { field: 'loss', type: 'quantitative' } },
    });
  }
  return {
    $schema: SCHEMA,
    description: `Validation at ${validation.scale} tokens: held-out loss curves; the dashed rule is uniform's final loss`,
    width: 460,
    height: 280,
    layer: layers,
  } as vl.TopLevelSpec;
}

/** The mixtures in the ranking's order (best first), then any the ranking left out. */
function rankedNames(validation: ValidationSummary): string[] {
  const order = validation.ranking?.order.map((r) => r.mixture) ?? [];
  return [...order, ...validation.curves.map((c) => c.mixture).filter((m) => !order.includes(m))];
}

/**
 * Vega-Lite spec: the mixtures side by side at the validation scale. Top: each mixture's mean final held-out loss
 * with the t interval over seeds, in the ranking's order and coloured by rank. Bottom: each mixture's paired loss
 * difference against uniform, seed by seed, with its interval (0 is a tie).
 */
export function comparisonSpec(validation: ValidationSummary): vl.TopLevelSpec {
  const pct = `${Math.round(validation.level * 100)}%`;
  const names = rankedNames(validation);
  const rankOf = new Map(validation.ranking?.order.map((r) => [r.mixture, r.rank]) ?? []);
  const finals = validation.curves
    .filter((c) => c.meanFinal !== null)
    .map((c) => ({
      mixture: c.mixture, mean: c.meanFinal!, low: c.finalInterval?.[0] ?? c.meanFinal!, high: c.finalInterval?.[1] ?? c.meanFinal!,
      rank: rankOf.has(c.mixture) ? `rank ${rankOf.get(c.mixture)}` : 'unranked',
    }));
  const rows = validation.comparisons
    .filter((c) => Number.isFinite(c.lossDifference.mean))
    .map((c) => ({ mixture: c.mixture, mean: c.lossDifference.mean, low: c.lossDifference.interval?.[0] ?? c.lossDifference.mean, high: c.lossDifference.interval?.[1] ?? c.lossDifference.mean, verdict: c.verdict }));
  const sort = names;
  const panels: unknown[] = [];
  if (finals.length > 0) {
    panels.push({
      title: `Final held-out loss (mean over seeds, bars: ${pct} t interval over seeds; the ranks come from the paired differences)`,
      width: 460,
      height: 30 + 26 * finals.length,
      data: { values: finals },
      layer: [
        {
          mark: { type: 'rule', strokeWidth: 3 },
          encoding: { y: { field: 'mixture', type: 'nominal', title: null, sort }, x: { field: 'low', type: 'quantitative', scale: { zero: false }, title: 'mean held-out loss (nats/token)' }, x2: { field: 'high' }, color: { field: 'rank', type: 'nominal', title: 'rank' } },
        },
        {
          mark: { type: 'point', filled: true, size: 80 },
          encoding: { y: { field: 'mixture', type: 'nominal', sort }, x: { field: 'mean', type: 'quantitative' }, color: { field: 'rank', type: 'nominal' }, tooltip: [{ field: 'mixture' }, { field: 'rank' }, { field: 'mean', format: '.4f' }, { field: 'low', format: '.4f' }, { field: 'high', format: '.4f' }] },
        },
      ],
    });
  }
  if (rows.length > 0) {
    panels.push({
      title: `Minus uniform, seed by seed (${pct} intervals; < 0 is better)`,
      width: 460,
      height: 40 + 40 * rows.length,
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: 'gray', strokeDash: [3, 3] }, encoding: { x: { field: 'zero', type: 'quantitative' } } },
        {
          data: { values: rows },
          mark: { type: 'rule', strokeWidth: 3 },
          encoding: { y: { field: 'mixture', type: 'nominal', title: null, sort }, x: { field: 'low', type: 'quantitative', title: 'loss - uniform (nats/token; < 0 is better)' }, x2: { field: 'high' }, color: { field: 'verdict', type: 'nominal' } },
        },
        {
          data: { values: rows },
          mark: { type: 'point', filled: true, size: 80 },
          encoding: { y: { field: 'mixture', type: 'nominal', sort }, x: { field: 'mean', type: 'quantitative' }, color: { field: 'verdict', type: 'nominal' }, tooltip: [{ field: 'mixture' }, { field: 'mean', format: '.4f' }, { field: 'low', format: '.4f' }, { field: 'high', format: '.4f' }, { field: 'verdict' }] },
        },
      ],
    });
  }
  return {
    $schema: SCHEMA,
    description: `Validation at ${validation.scale} tokens: each mixture's final held-out loss with its interval over seeds, and its mean held-out loss minus uniform's, seed by seed, with ${pct} intervals`,
    vconcat: panels,
    resolve: { scale: { color: 'independent' } },
  } as vl.TopLevelSpec;
}

/**
 * Compiles a Vega-Lite spec and renders it to SVG with Vega's headless renderer.
 *
 * @example const svg = await renderSvg(weightsSpec(scales, prediction, domains)); // '<svg ...'
 */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The report's charts, rendered. */
export async function renderCharts(input: ReportInput): Promise<RenderedChart[]> {
  const charts: { id: string; title: string; spec: vl.TopLevelSpec }[] = [
    { id: 'weights', title: 'Domain weights against scale', spec: weightsSpec(input.scales, input.prediction, input.domains) },
    { id: 'fits', title: 'DDO fits per domain and scale', spec: fitsSpec(input.scales) },
  ];
  if (input.validation) charts.push(...validationCharts(input.validation));
  const out: RenderedChart[] = [];
  for (const chart of charts) out.push({ ...chart, svg: await renderSvg(chart.spec) });
  return out;
}

/** The validation's charts: the loss curves and the comparison of the mixtures (none without a finished run). */
function validationCharts(validation: ValidationSummary): { id: string; title: string; spec: vl.TopLevelSpec }[] {
  const charts: { id: string; title: string; spec: vl.TopLevelSpec }[] = [];
  if (validation.curves.some((c) => c.points.length > 0)) {
    charts.push({ id: 'validation', title: `Validation loss curves at ${formatTokens(validation.scale)} tokens (mean over seeds)`, spec: validationSpec(validation) });
    if (validation.curves.some((c) => c.meanFinal !== null)) {
      charts.push({ id: 'comparison', title: `The mixtures at ${formatTokens(validation.scale)} tokens: final held-out loss, and against uniform seed by seed`, spec: comparisonSpec(validation) });
    }
  }
  return charts;
}

/** A chart as the page embeds it: the SVG, and the spec next to it as JSON; '' when there is no such chart. */
function chartFigure(charts: RenderedChart[], id: string): string {
  const c = charts.find((x) => x.id === id);
  if (!c) return '';
  // "</" inside a script element would end it early.
  const specJson = JSON.stringify(c.spec).replace(/</g, '\\u003c');
  return `<figure class="chart" id="chart-${c.id}"><figcaption>${escapeHtml(c.title)}</figcaption>${c.svg}<script type="application/json" class="vega-lite-spec" data-chart="${c.id}">${specJson}</script></figure>`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function table(head: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number): string => (typeof v === 'number' ? `<td class="n">${escapeHtml(String(v))}</td>` : `<td>${escapeHtml(v)}</td>`);
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map(cell).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/**
 * The whole report page. Deterministic for equal input (no dates), so a resumed pipeline writes
 * the same bytes as an uninterrupted one.
 *
 * @example await writeFile('out/report.html', await renderReport(input));
 */
export async function renderReport(input: ReportInput): Promise<string> {
  const charts = await renderCharts(input);
  const chart = (id: string): string => chartFigure(charts, id);

  const weightsHead = ['domain', ...input.scales.map((s) => `DDO ${formatTokens(s.scale)}`), `AutoScale ${formatTokens(input.prediction.scale)}`];
  const withInterval = (c: { weights: Record<string, number>; intervals?: CompositionIntervals | null }, d: string): string => {
    const w = c.intervals?.weights[d];
    return `${formatPercent(c.weights[d])}${w ? ` [${formatPercent(w[0])}, ${formatPercent(w[1])}]` : ''}`;
  };
  const weightsRows = input.domains.map((d) => [d, ...input.scales.map((s) => withInterval(s, d)), withInterval(input.prediction, d)]);
  const levels = [...input.scales, input.prediction].map((c) => c.intervals?.level).filter((l): l is number => l !== undefined);
  const intervalLine = levels.length
    ? `Each weight with its ${Math.round(levels[0]! * 100)}% interval [low, high] from the seeds' replicates: ${input.scales.find((s) => s.intervals)?.intervals?.method ?? ''}.`
    : 'No intervals: one seed gives no replicate to measure the noise by (see the diagnostics); train 3 or more seeds.';
  const noiseRows = input.scales.flatMap((s) => {
    if (!s.noise) return [];
    return Object.entries(s.noise.snr).map(([run, snr]) => [formatTokens(s.scale), run, snr === null ? '-' : snr.toFixed(1), snr !== null && snr < 3 ? 'below 3' : '']);
  });
  const noiseHead = input.scales.map((s) => s.noise ? `N=${formatTokens(s.scale)}: ${s.noise.seeds} seeds, base response SD ${s.noise.baseSd === null ? '-' : s.noise.baseSd.toFixed(4)}; ${s.noise.advice}` : `N=${formatTokens(s.scale)}: no audit`);
  const tokensRows = input.domains.map((d) => [
    d,
    ...input.scales.map((s) => Math.round(s.tokens[d] ?? 0)),
    Math.round(input.prediction.tokens[d] ?? 0),
  ]);

  const fitRows = input.scales.flatMap((s) =>
    shownFits(s).map(([domain, f]) => {
      const coefficient = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toPrecision(4) : '-');
      const bound = s.activeBounds?.[domain];
      return [
        formatTokens(s.scale),
        domain,
        coefficient(f.curve?.a),
        coefficient(f.curve?.b),
        coefficient(f.curve?.c),
        f.rms.toExponential(2),
        f.points.map((p) => `${p.x.toFixed(3)}: ${p.y.toFixed(4)}`).join(', '),
        (bound === 'lower' || bound === 'upper' ? 'at bound. ' : '') + (fitWarning(f) ?? ''),
      ];
    }),
  );

  const validationHtml = input.validation ? validationSection(input.validation, input.domains, chart) : '';
  const runRows = runTableRows(input.runs, input.domains);

  const predictionLine = input.domains.map((d) => `${d} ${withInterval(input.prediction, d)}`).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
${PAGE_STYLE}</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p class="headline">Predicted composition at ${formatTokens(input.prediction.scale)} tokens: ${escapeHtml(predictionLine)}</p>
<ul>${input.setup.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>
<h2>Diagnostics</h2>
${input.diagnostics.length ? `<ul class="diag">${input.diagnostics.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>` : '<p>No failed runs, degenerate fits or caps.</p>'}
<h2>Compositions</h2>
${chart('weights')}
<h3>Weights</h3>
<p>${escapeHtml(intervalLine)}</p>
${table(weightsHead, weightsRows)}
<h3>Tokens</h3>
${table(['domain', ...weightsHead.slice(1)], tokensRows)}
${input.prediction.diagnostics.length ? `<ul>${input.prediction.diagnostics.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
<h2>Noise audit</h2>
<p>Per perturbation: how many seed SDs it moved the base-normalised response (SNR = |R/R_base - 1| / SD). Below 3, that point of the fit rests on noise.</p>
<ul>${noiseHead.map((h) => `<li>${escapeHtml(h)}</li>`).join('')}</ul>
${noiseRows.length ? table(['scale', 'run', 'SNR', ''], noiseRows) : ''}
<h2>DDO fits</h2>
${chart('fits')}
${table(['scale', 'domain', 'a', 'b', 'c', 'rmse', 'points (x: response)', 'notes'], fitRows)}
${validationHtml}
<h2>Runs</h2>
<p>Tokens and held-out losses per domain in the order ${escapeHtml(input.domains.join(' / '))}.</p>
${table(['run', 'status', 'scale', 'seed', 'tokens', 'losses (or error)', 'seconds'], runRows)}
</body></html>
`;
}

const PAGE_STYLE = `<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}figure.chart{margin:1.5em 0;overflow-x:auto}figcaption{font-weight:600;margin-bottom:.5em}
.headline{font-size:1.15em;font-weight:600}.diag li{margin:.3em 0}
</style>`;

/** The runs table's rows: label, status, scale, seed, tokens and losses per domain, seconds. */
function runTableRows(runs: ReportedRun[], domains: string[]): (string | number)[][] {
  return runs.map((r) => [
    r.label,
    r.status + (r.reused ? ' (reused)' : ''),
    formatTokens(r.scale),
    r.seed,
    domains.map((d) => formatTokens(Math.round(r.tokens[d] ?? 0))).join(' / '),
    r.losses ? domains.map((d) => r.losses?.[d]?.toFixed(3) ?? '-').join(' / ') : r.error ?? '-',
    r.durationS === null ? '-' : r.durationS.toFixed(1),
  ]);
}

/** The validation section: the headline, the comparison chart, the ranking, each mixture against uniform, how each was obtained, the curves. */
function validationSection(v: ValidationSummary, domains: string[], chart: (id: string) => string): string {
  const pct = `${Math.round(v.level * 100)}%`;
  const interval = (i: [number, number] | null | undefined, f: (x: number) => string): string => (i ? `[${f(i[0])}, ${f(i[1])}]` : '-');
  const ranking = v.ranking;
  const rankingHtml = ranking
    ? `<h3>Ranking</h3><p>${escapeHtml(`Rank = 1 + the number of mixtures shown better (their ${pct} paired interval on the difference lies below 0), ` +
        `over the seeds every ranked mixture finished (${ranking.seeds.join(', ') || 'none'}). Mixtures sharing a rank are never shown to differ; each pair is tested on its own.`)}</p>${
        ranking.note ? `<p>${escapeHtml(ranking.note)}</p>` : ''}${table(
        ['rank', 'mixture', 'mean final loss', 'shown better than', 'not distinguishable from', 'how obtained', 'proxy runs'],
        ranking.order.map((r) => {
          const m = v.methods?.[r.mixture];
          return [r.rank, r.mixture, r.meanFinal.toFixed(4), r.betterThan.join(', ') || '-', r.notDistinguishableFrom.join(', ') || '-', m?.description ?? '-',
            m ? `${m.proxyRuns}${m.sharedWith.length ? ` (shared with ${m.sharedWith.join(', ')})` : ''}` : '-'];
        }),
      )}${ranking.unranked.length ? `<p>${escapeHtml(`Not ranked (no finished run): ${ranking.unranked.join(', ')}.`)}</p>` : ''}`
    : '';
  const unavailable = v.unavailable?.length ? `<ul class="diag">${v.unavailable.map((u) => `<li>${escapeHtml(u)}</li>`).join('')}</ul>` : '';
  const methodsHtml = v.methods
    ? `<h3>How each mixture was obtained</h3>${table(
        ['mixture', 'method', 'proxy runs', 'proxy tokens', 'fit', 'capped', 'notes', ...domains],
        Object.entries(v.methods).map(([name, m]) => [name, m.method, m.proxyRuns, formatTokens(m.proxyTokens), fitText(m.fit), m.capped.join(', ') || '-', m.notes.join('; ') || '-',
          ...domains.map((d) => formatPercent(v.curves.find((c) => c.mixture === name)?.weights[d]))]),
      )}`
    : '';
  return `<h2>Validation at ${formatTokens(v.scale)} tokens (${v.seeds.length} seed${v.seeds.length === 1 ? '' : 's'})</h2><p class="headline">${escapeHtml(v.verdict)}</p>${unavailable}${chart('comparison')}${rankingHtml}${table(
    ['mixture', 'vs uniform: loss difference', `${pct} interval`, 'verdict', 'tokens to reach uniform', `${pct} interval`],
    v.comparisons.map((c) => [
      c.mixture,
      Number.isFinite(c.lossDifference.mean) ? c.lossDifference.mean.toFixed(4) : '-',
      interval(c.lossDifference.interval, (x) => x.toFixed(4)),
      c.verdict,
      c.tokenSaving ? `${(100 * c.tokenSaving.mean).toFixed(0)}%` : (c.tokenSavingNote ?? '-'),
      c.tokenSaving ? interval(c.tokenSaving.interval, (x) => `${(100 * x).toFixed(0)}%`) : '-',
    ]),
  )}${methodsHtml}${chart('validation')}${table(
    ['mixture', 'final mean loss', `${pct} interval over seeds`, ...v.seeds.map((s) => `seed ${s}`), ...domains, 'status'],
    v.curves.map((c) => [c.mixture, c.meanFinal === null ? '-' : c.meanFinal.toFixed(4), interval(c.finalInterval, (x) => x.toFixed(4)), ...c.perSeedFinal.map((x) => (x === null ? 'failed' : x.toFixed(4))),
      ...domains.map((d) => c.finalLosses[d]?.toFixed(4) ?? '-'), c.failed ?? 'ok']),
  )}`;
}

/** A method's fit quality in a few words: RegMix's R^2 and leave-one-out R^2, DML's per-domain RMSE. */
function fitText(fit: Record<string, unknown> | null): string {
  if (!fit) return '-';
  const num = (x: unknown, digits = 3): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-');
  if ('r2' in fit) return `${String(fit.kind ?? 'fit')}: R² ${num(fit.r2)}, leave-one-out R² ${num(fit.looR2)}, n ${String(fit.n ?? '-')}`;
  const perDomain = fit.perDomain as Record<string, { rmse?: number }> | undefined;
  if (perDomain) return `per-domain RMSE ${Object.entries(perDomain).map(([d, f]) => `${d} ${num(f.rmse, 4)}`).join(', ')}; n ${String(fit.n ?? '-')}`;
  return JSON.stringify(fit);
}

/** What the page of `autoscale compare` shows when no DDO stage ran: the setup, the validation, the runs, the diagnostics. */
export interface ComparisonReportInput {
  title: string;
  domains: string[];
  setup: string[];
  validation: ValidationSummary;
  runs: ReportedRun[];
  diagnostics: string[];
}

/**
 * The comparison page of `autoscale compare` without a DDO stage: the validation section of report.html alone.
 * Deterministic for equal input.
 *
 * @example await writeFile('out/report.html', await renderComparisonReport(input));
 */
export async function renderComparisonReport(input: ComparisonReportInput): Promise<string> {
  const charts: RenderedChart[] = [];
  for (const c of validationCharts(input.validation)) charts.push({ ...c, svg: await renderSvg(c.spec) });
  const chart = (id: string): string => chartFigure(charts, id);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
${PAGE_STYLE}</head><body>
<h1>${escapeHtml(input.title)}</h1>
<ul>${input.setup.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>
<h2>Diagnostics</h2>
${input.diagnostics.length ? `<ul class="diag">${input.diagnostics.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>` : '<p>No failed runs or caps.</p>'}
${validationSection(input.validation, input.domains, chart)}
<h2>Runs</h2>
<p>Tokens and held-out losses per domain in the order ${escapeHtml(input.domains.join(' / '))}.</p>
${table(['run', 'status', 'scale', 'seed', 'tokens', 'losses (or error)', 'seconds'], runTableRows(input.runs, input.domains))}
</body></html>
`;
}

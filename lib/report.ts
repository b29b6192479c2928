// report.html: one self-contained page with the tables and charts of a pipeline run. Charts are
// Vega-Lite 5 specs compiled to Vega and rendered to SVG here, on the server, with Vega 5's
// headless renderer; the page embeds each SVG inline (it opens offline, nothing to load) and the
// spec next to it as JSON (so it can be re-rendered or checked).
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { Composition } from './composition.js';
import { formatPercent, formatTokens } from './format.js';

/** One DDO point of one domain at one scale. */
export interface FitPoint {
  /** Multiplier of the domain's base quantity (1 for the base run). */
  multiplier: number;
  /** Response normalised by the base run's (1 at x = 1). */
  response: number;
}

/** The fitted curve f(x) = (x + a)^(-b) + c of one domain at one scale, with its points; a, b, c are NaN when no curve fits. */
export interface DomainFit {
  domain: string;
  a: number;
  b: number;
  c: number;
  points: FitPoint[];
  /** Root-mean-square residual of the fit on its points (0 for an exact 3-point fit). */
  rmse: number;
  /** Why this fit is not trustworthy, when it is not (non-decreasing response, b <= 0...). */
  warning: string | null;
}

/** DDO's outcome at one scale as the report shows it: the optimal composition, its base and its fits. */
export interface ScaleSummary extends Composition {
  /** Base composition (tokens per domain). */
  base: Record<string, number>;
  fits: DomainFit[];
  /** Domains whose solved multiplier sits on a bound. */
  activeBounds: string[];
  /** Mean held-out loss of the base run (the response's unit). */
  baseLoss: number;
}

/** The AutoScale prediction as the report shows it. */
export interface PredictionSummary extends Composition {
  /** Sentences about caps, extrapolation range and residuals. */
  notes: string[];
}

/** One mixture's held-out loss curve in the validation runs. */
export interface ValidationCurve {
  mixture: string;
  weights: Record<string, number>;
  points: { tokens: number; loss: number }[];
  /** Final per-domain held-out losses. */
  finalLosses: Record<string, number>;
  failed: string | null;
}

export interface ValidationSummary {
  scale: number;
  curves: ValidationCurve[];
  /** Fraction of tokens the AutoScale mixture needs to reach uniform's final loss (null: it never does). */
  tokenFraction: number | null;
  /** 1 / tokenFraction - 1, as a percentage: "x% faster". */
  speedupPercent: number | null;
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
  scales: ScaleSummary[];
  prediction: PredictionSummary;
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

/** Points along the fitted curve of every domain at every scale, for the line layer. */
function fitCurveRows(scales: ScaleSummary[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const s of scales) {
    for (const fit of s.fits) {
      if (![fit.a, fit.b, fit.c].every(Number.isFinite)) continue; // a degenerate fit: points only
      const xs = fit.points.map((p) => p.multiplier);
      const lo = Math.min(...xs, 1) * 0.8;
      const hi = Math.max(...xs, 1) * 1.25;
      for (let i = 0; i <= 48; i++) {
        const x = lo * (hi / lo) ** (i / 48);
        const y = (x + fit.a) ** -fit.b + fit.c;
        if (Number.isFinite(y)) rows.push({ scale: formatTokens(s.scale), domain: fit.domain, x, y, kind: 'fit' });
      }
    }
  }
  return rows;
}

/** Vega-Lite spec: per-domain fitted curves with their points, one row per scale. */
export function fitsSpec(scales: ScaleSummary[]): vl.TopLevelSpec {
  const points = scales.flatMap((s) =>
    s.fits.flatMap((fit) => fit.points.map((p) => ({ scale: formatTokens(s.scale), domain: fit.domain, x: p.multiplier, y: p.response, kind: 'run' }))),
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
export function weightsSpec(scales: ScaleSummary[], prediction: PredictionSummary, domains: string[]): vl.TopLevelSpec {
  const rows: Record<string, unknown>[] = [];
  for (const s of scales) for (const d of domains) rows.push({ scale: s.scale, domain: d, weight: s.weights[d] ?? 0, source: 'DDO optimum' });
  for (const d of domains) rows.push({ scale: prediction.scale, domain: d, weight: prediction.weights[d] ?? 0, source: 'AutoScale prediction' });
  const last = scales[scales.length - 1] as ScaleSummary;
  const bridge = domains.flatMap((d) => [
    { scale: last.scale, domain: d, weight: last.weights[d] ?? 0 },
    { scale: prediction.scale, domain: d, weight: prediction.weights[d] ?? 0 },
  ]);
  return {
    $schema: SCHEMA,
    description: 'Optimal domain weights against training scale: DDO at the small scales, AutoScale at the target',
    width: 460,
    height: 280,
    layer: [
      {
        data: { values: rows.filter((r) => r.source === 'DDO optimum') },
        mark: { type: 'line', point: { filled: true, size: 60 } },
        encoding: {
          x: { field: 'scale', type: 'quantitative', scale: { type: 'log' }, title: 'training tokens' },
          y: { field: 'weight', type: 'quantitative', title: 'weight', scale: { domain: [0, 1] } },
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
  if (input.validation && input.validation.curves.some((c) => c.points.length > 0)) {
    charts.push({ id: 'validation', title: `Validation loss curves at ${formatTokens(input.validation.scale)} tokens`, spec: validationSpec(input.validation) });
  }
  const out: RenderedChart[] = [];
  for (const chart of charts) out.push({ ...chart, svg: await renderSvg(chart.spec) });
  return out;
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
  const chart = (id: string): string => {
    const c = charts.find((x) => x.id === id);
    if (!c) return '';
    // "</" inside a script element would end it early.
    const specJson = JSON.stringify(c.spec).replace(/</g, '\\u003c');
    return `<figure class="chart" id="chart-${c.id}"><figcaption>${escapeHtml(c.title)}</figcaption>${c.svg}<script type="application/json" class="vega-lite-spec" data-chart="${c.id}">${specJson}</script></figure>`;
  };

  const weightsHead = ['domain', ...input.scales.map((s) => `DDO ${formatTokens(s.scale)}`), `AutoScale ${formatTokens(input.prediction.scale)}`];
  const weightsRows = input.domains.map((d) => [d, ...input.scales.map((s) => formatPercent(s.weights[d])), formatPercent(input.prediction.weights[d])]);
  const tokensRows = input.domains.map((d) => [
    d,
    ...input.scales.map((s) => Math.round(s.tokens[d] ?? 0)),
    Math.round(input.prediction.tokens[d] ?? 0),
  ]);

  const fitRows = input.scales.flatMap((s) =>
    s.fits.map((f) => [
      formatTokens(s.scale),
      f.domain,
      Number.isFinite(f.a) ? f.a.toPrecision(4) : '-',
      Number.isFinite(f.b) ? f.b.toPrecision(4) : '-',
      Number.isFinite(f.c) ? f.c.toPrecision(4) : '-',
      f.rmse.toExponential(2),
      f.points.map((p) => `${p.multiplier.toFixed(3)}: ${p.response.toFixed(4)}`).join(', '),
      (s.activeBounds.includes(f.domain) ? 'at bound. ' : '') + (f.warning ?? ''),
    ]),
  );

  let validationHtml = '';
  if (input.validation) {
    const v = input.validation;
    const speed =
      v.tokenFraction === null
        ? 'The AutoScale mixture did not reach the uniform mixture\'s final loss within the run.'
        : `The AutoScale mixture reaches the uniform mixture's final loss with ${(100 * v.tokenFraction).toFixed(1)}% of the tokens` +
          (v.speedupPercent !== null ? ` (${v.speedupPercent.toFixed(1)}% faster).` : '.');
    validationHtml = `<h2>Validation at ${formatTokens(v.scale)} tokens</h2><p class="headline">${escapeHtml(speed)}</p>${chart('validation')}${table(
      ['mixture', 'final mean loss', ...input.domains, 'status'],
      v.curves.map((c) => {
        const final = c.points[c.points.length - 1]?.loss;
        return [c.mixture, final === undefined ? '-' : final.toFixed(4), ...input.domains.map((d) => c.finalLosses[d]?.toFixed(4) ?? '-'), c.failed ?? 'ok'];
      }),
    )}`;
  }

  const runRows = input.runs.map((r) => [
    r.label,
    r.status + (r.reused ? ' (reused)' : ''),
    formatTokens(r.scale),
    r.seed,
    input.domains.map((d) => formatTokens(Math.round(r.tokens[d] ?? 0))).join(' / '),
    r.losses ? input.domains.map((d) => r.losses?.[d]?.toFixed(3) ?? '-').join(' / ') : r.error ?? '-',
    r.durationS === null ? '-' : r.durationS.toFixed(1),
  ]);

  const predictionLine = input.domains.map((d) => `${d} ${formatPercent(input.prediction.weights[d])}`).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}figure.chart{margin:1.5em 0;overflow-x:auto}figcaption{font-weight:600;margin-bottom:.5em}
.headline{font-size:1.15em;font-weight:600}.diag li{margin:.3em 0}
</style></head><body>
<h1>${escapeHtml(input.title)}</h1>
<p class="headline">Predicted composition at ${formatTokens(input.prediction.scale)} tokens: ${escapeHtml(predictionLine)}</p>
<ul>${input.setup.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>
<h2>Diagnostics</h2>
${input.diagnostics.length ? `<ul class="diag">${input.diagnostics.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>` : '<p>No failed runs, degenerate fits or caps.</p>'}
<h2>Compositions</h2>
${chart('weights')}
<h3>Weights</h3>
${table(weightsHead, weightsRows)}
<h3>Tokens</h3>
${table(['domain', ...weightsHead.slice(1)], tokensRows)}
${input.prediction.notes.length ? `<ul>${input.prediction.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
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

import test from 'ava';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { fitsSpec, renderReport, renderSvg, validationSpec, weightsSpec } from '../../lib/report.js';
import { reportInput } from './fixtures/report-input.js';

/** Counts the drawn marks of an SVG: paths (lines, symbols, bars) with geometry. */
function countMarks(svg: string): number {
  return (svg.match(/<path [^>]*d="M[^"]+"/g) ?? []).length;
}

test('every chart spec compiles to Vega and parses without warnings', (t) => {
  const input = reportInput();
  const specs = [fitsSpec(input.scales), weightsSpec(input.scales, input.prediction, input.domains), validationSpec(input.validation!)];
  for (const spec of specs) {
    const warnings: string[] = [];
    const compiled = vl.compile(spec, { logger: { warn: (...m: unknown[]) => warnings.push(m.join(' ')), info: () => undefined, debug: () => undefined, level: () => 0, error: (...m: unknown[]) => warnings.push(m.join(' ')) } as never }).spec;
    t.deepEqual(warnings, [], JSON.stringify(spec.description));
    t.notThrows(() => vega.parse(compiled));
  }
});

test('the weights chart draws a line per domain and the prediction markers', async (t) => {
  const input = reportInput();
  const svg = await renderSvg(weightsSpec(input.scales, input.prediction, input.domains));
  t.true(svg.startsWith('<svg'));
  // 3 solid lines + 3 dashed bridges + 3 diamonds + 6 line points, at least.
  t.true(countMarks(svg) >= 15, `marks: ${countMarks(svg)}`);
  for (const d of input.domains) t.true(svg.includes(`>${d}<`), `legend names ${d}`);
});

test('the weights chart draws each domain\'s interval bar beside the others at a scale, not on one line', async (t) => {
  const input = reportInput();
  const spec = weightsSpec(input.scales, input.prediction, input.domains) as { layer: { data: { values: Record<string, number | string>[] }; mark: { type: string } }[] };
  const bars = spec.layer.find((l) => l.mark.type === 'rule')?.data.values ?? [];
  t.is(bars.length, input.domains.length * (input.scales.length + 1), 'a bar per domain and scale');
  for (const scale of [...input.scales.map((s) => s.scale), input.prediction.scale]) {
    const at = bars.filter((b) => b.scale === scale).map((b) => b.at as number);
    t.is(new Set(at).size, input.domains.length, `distinct positions at ${scale}`);
    // centred on the scale: the geometric mean of the positions is the scale itself
    t.true(Math.abs(Math.log10(at.reduce((p, x) => p * x, 1)) / at.length - Math.log10(scale)) < 1e-9);
    t.true(at.every((x) => Math.abs(Math.log10(x / scale)) < 0.05), 'within a few pixels of the scale');
  }
  // The axes fit the data: every bar inside the weight axis, which stops at the next tenth above the highest end.
  const y = (spec.layer[0] as unknown as { encoding: { y: { scale: { domain: [number, number] } } } }).encoding.y.scale.domain;
  const highest = Math.max(...bars.map((b) => b.high as number));
  t.true(y[0] === 0 && y[1] >= highest && y[1] <= Math.min(1, highest + 0.12), `weight axis ${y.join('-')} for a highest bar end of ${highest}`);
  const svg = await renderSvg(spec as never);
  t.true(countMarks(svg) + (svg.match(/<line /g) ?? []).length >= 15);
});

test('report.html embeds each chart as drawn SVG with its spec, and the tables', async (t) => {
  const html = await renderReport(reportInput());
  const figures = [...html.matchAll(/<figure class="chart" id="chart-([a-z]+)">([\s\S]*?)<\/figure>/g)];
  // The comparison chart (paired differences against uniform with intervals) comes before the loss curves.
  t.deepEqual(figures.map((f) => f[1]), ['weights', 'fits', 'comparison', 'validation']);
  for (const figure of figures) {
    const body = figure[2] ?? '';
    const svg = body.match(/<svg[\s\S]*<\/svg>/)?.[0] ?? '';
    t.true(countMarks(svg) > 0, `chart ${figure[1]} has drawn marks`);
    const spec = JSON.parse(body.match(/<script type="application\/json" class="vega-lite-spec" data-chart="[a-z]+">([\s\S]*?)<\/script>/)?.[1] ?? 'null');
    t.notThrows(() => vl.compile(spec));
  }
  t.true(html.includes('AutoScale report &lt;test&gt;'), 'the title is escaped');
  // The validation verdict and the token saving with its interval (the fixture: 81% [70%, 93%]).
  t.regex(html, /AutoScale is better than uniform/);
  t.regex(html, /<td>81%<\/td><td>\[70%, 93%\]<\/td>/);
  t.regex(html, /loss is NaN/);
  // Deterministic: equal input gives equal bytes.
  t.is(await renderReport(reportInput()), html);
});

test('a report without validation has no validation chart', async (t) => {
  const html = await renderReport(reportInput(false));
  t.false(html.includes('chart-validation'));
  t.true(html.includes('chart-fits'));
});

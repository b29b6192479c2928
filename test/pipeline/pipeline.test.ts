// The pipeline end to end on a tiny config: outputs, the report, registry reuse, failed runs.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as vl from 'vega-lite';
import { parseComposition } from '../../lib/composition.js';
import { runPipeline } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { openRegistry } from '../../lib/registry.js';
import type { ProxyModel } from '../../lib/train.js';
import { tinySetup } from './fixtures/tiny.js';

const read = (dir: string, name: string): string => readFileSync(path.join(dir, name), 'utf8');

function countMarks(svg: string): number {
  return (svg.match(/<path [^>]*d="M[^"]+"/g) ?? []).length;
}

test('the pipeline writes compositions, runs.csv and a drawn report; a rerun trains nothing and writes the same compositions', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const first = await runPipeline({ config });
  // 2 scales x (2 x 3 + 1) DDO runs + 3 validation runs + 2 token-saving runs (the non-uniform mixtures at half the scale).
  t.is(first.trained, 19);
  t.is(first.failed, 0);
  const out = first.outDir;

  for (const scale of [3000, 6000, 60000]) {
    const doc = parseComposition(read(out, `composition-${scale}.json`), `composition-${scale}.json`);
    t.is(doc.scale, scale);
    t.deepEqual(Object.keys(doc.weights), ['digits', 'words', 'code']);
    t.true(Math.abs(Object.values(doc.weights).reduce((a, b) => a + b, 0) - 1) < 1e-9);
  }
  t.is(read(out, 'composition.json'), read(out, 'composition-60000.json'));
  t.is(JSON.parse(read(out, 'composition.json')).method, 'autoscale');
  const csv = read(out, 'runs.csv').trim().split('\n');
  t.is(csv.length, 1 + 19);
  t.true(csv[0]!.startsWith('label,purpose,scale,seed,run,domain,multiplier,status,reused,key,tokens_digits'));
  t.is(csv.filter((line) => line.includes(',finished,')).length, 19);
  // The DDO-contract CSV of each scale feeds `autoscale ddo` as is.
  t.regex(read(out, 'ddo-3000.csv'), /^domain,multiplier,loss\nbase,1,[0-9.]+\n/);

  const html = read(out, 'report.html');
  const figures = [...html.matchAll(/<figure class="chart" id="chart-([a-z]+)">([\s\S]*?)<\/figure>/g)];
  // The comparison chart (paired differences against uniform with intervals) comes before the loss curves.
  t.deepEqual(figures.map((f) => f[1]), ['weights', 'fits', 'comparison', 'validation']);
  for (const figure of figures) {
    t.true(countMarks(figure[2] ?? '') > 0, `chart ${figure[1]} draws marks`);
    const spec = JSON.parse(figure[2]!.match(/<script type="application\/json" class="vega-lite-spec" data-chart="[a-z]+">([\s\S]*?)<\/script>/)![1]!);
    t.notThrows(() => vl.compile(spec));
  }
  t.truthy(first.validation);
  t.is(first.validation!.curves.length, 3);
  t.true(first.validation!.curves.every((c) => c.points.length === 3 && c.failed === null));

  const compositions = ['composition-3000.json', 'composition-6000.json', 'composition.json', 'ddo-3000.csv', 'ddo-6000.csv'].map((f) => read(out, f));
  const second = await runPipeline({ config });
  t.is(second.trained, 0);
  t.is(second.reused, 19);
  t.deepEqual(['composition-3000.json', 'composition-6000.json', 'composition.json', 'ddo-3000.csv', 'ddo-6000.csv'].map((f) => read(out, f)), compositions);
  const registry = openRegistry(path.join(config.cacheDir, 'runs.sqlite'));
  t.true(registry.list().every((r) => r.attempts === 1 && r.status === 'finished'));
  registry.close();
});

/** Wraps a model so that its trainStep fails like the native trainer does on a NaN loss. */
function nanAfter(model: ProxyModel, steps: number): ProxyModel {
  let n = 0;
  return {
    trainStep: async (tokens, lr) => {
      n += 1;
      if (n > steps) throw Object.assign(new Error(`the loss is not finite (NaN) at step ${n}; the parameters were left unchanged`), { code: 'ERR_NON_FINITE' });
      return model.trainStep(tokens, lr);
    },
    evalLoss: (windows) => model.evalLoss(windows),
    getParameters: () => model.getParameters(),
    setParameters: (p) => model.setParameters(p),
    getOptimizerState: () => model.getOptimizerState(),
    setOptimizerState: (s) => model.setOptimizerState(s),
    dispose: () => model.dispose(),
  };
}

test('a failing run is recorded as failed with its reason and the pipeline says what it means', async (t) => {
  const { raw } = tinySetup({ validation: null });
  const config = parsePipelineConfig(raw);
  const result = await runPipeline({
    config,
    hooks: { wrapModel: (model, slot) => (slot.label === 'N=6k code x3' ? nanAfter(model, 3) : model) },
  });
  t.is(result.failed, 1);
  const registry = openRegistry(path.join(config.cacheDir, 'runs.sqlite'));
  const failed = registry.list({ status: 'failed' });
  registry.close();
  t.is(failed.length, 1);
  t.is(failed[0]!.label, 'N=6k code x3');
  t.is(failed[0]!.errorCode, 'ERR_NON_FINITE');
  t.regex(failed[0]!.error ?? '', /NaN/);
  t.true(result.diagnostics.some((d) => /N=6k code x3 failed .*NaN.*missing from the code fit/.test(d)), result.diagnostics.join('\n'));
  t.true(result.diagnostics.some((d) => /code has fewer than 3 points .* held at its base quantity/.test(d)));
  const at6k = JSON.parse(read(result.outDir, 'composition-6000.json'));
  t.is(at6k.tokens.code, 2000); // held at its base: 6000 / 3
  t.regex(read(result.outDir, 'runs.csv'), /N=6k code x3,ddo,.*,failed,.*NaN/);
  t.regex(read(result.outDir, 'report.html'), /N=6k code x3 failed/);

  // The NaN is deterministic, so a rerun reuses the failure instead of training it again.
  const again = await runPipeline({ config });
  t.is(again.trained, 0);
  t.is(again.failed, 1);
});

test('a scale whose base run failed is left out, and with fewer than two scales the pipeline stops with the reason', async (t) => {
  const { raw } = tinySetup({ validation: null });
  const config = parsePipelineConfig(raw);
  const error = await t.throwsAsync(
    runPipeline({ config, hooks: { wrapModel: (model, slot) => (slot.label === 'N=3k base' ? nanAfter(model, 1) : model) } }),
  );
  t.regex(error?.message ?? '', /only 1 of 2 DDO scales have a usable base run.*base run N=3k base failed/);
  t.regex(read(config.out, 'runs.csv'), /N=3k base,ddo,.*,failed,/);
});

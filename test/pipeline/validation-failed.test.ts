// A validation mixture without a single finished run leaves no comparison: the pipeline writes its
// compositions and report and fails with the reason (a non-zero exit), instead of printing a verdict.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runPipeline, ValidationFailedError } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import type { ProxyModel } from '../../lib/train.js';
import { tinySetup } from './fixtures/tiny.js';

/** A model whose every training step fails as the native trainer does on a NaN loss. */
function alwaysNaN(model: ProxyModel): ProxyModel {
  return {
    trainStep: async () => {
      throw Object.assign(new Error('the loss is not finite (NaN) at step 1; the parameters were left unchanged'), { code: 'ERR_NON_FINITE' });
    },
    evalLoss: (windows) => model.evalLoss(windows),
    getParameters: () => model.getParameters(),
    setParameters: (p) => model.setParameters(p),
    getOptimizerState: () => model.getOptimizerState(),
    setOptimizerState: (s) => model.setOptimizerState(s),
    dispose: () => model.dispose(),
  };
}

test('every validation run failing fails the pipeline with the reason, after writing the compositions, and no verdict', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const error = await t.throwsAsync(
    runPipeline({ config, hooks: { wrapModel: (model, slot) => (slot.label.startsWith('validate ') ? alwaysNaN(model) : model) } }),
    { instanceOf: ValidationFailedError },
  );
  t.is((error as ValidationFailedError).code, 'ERR_VALIDATION_FAILED');
  t.regex(error?.message ?? '', /^every validation run of uniform, DDO N=6k, AutoScale failed \(.*NaN.*\), so the validation cannot compare the mixtures; /);
  t.regex(error?.message ?? '', new RegExp(`the compositions are written to ${config.out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; see runs\\.csv`));
  // The DDO stage and the prediction stand: their files are written.
  t.true(existsSync(path.join(config.out, 'composition.json')));
  t.true(existsSync(path.join(config.out, 'composition-6000.json')));
  t.true(readFileSync(path.join(config.out, 'runs.csv'), 'utf8').split('\n').filter((l) => /^validate N=12k .*,failed,/.test(l)).length >= 3);
  // ... and no verdict anywhere: the report says there is nothing to compare.
  const html = readFileSync(path.join(config.out, 'report.html'), 'utf8');
  t.notRegex(html, /is better than uniform|is worse than uniform|are not distinguishable/);
  t.regex(html, /AutoScale vs uniform at 12k tokens: no seed where both finished, nothing to compare/);
});

test('one validation mixture without a finished run is enough to withhold the verdict', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const error = await t.throwsAsync(
    runPipeline({ config, hooks: { wrapModel: (model, slot) => (/^validate .*AutoScale/.test(slot.label) ? alwaysNaN(model) : model) } }),
    { instanceOf: ValidationFailedError },
  );
  t.regex(error?.message ?? '', /^every validation run of AutoScale failed \(.*NaN.*\), so the validation cannot compare the mixtures/);
});

// The pipeline's own ddo-<N>.csv is the `autoscale ddo` input, whatever the domains are called.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runDdoCommand } from '../../lib/cli/ddo.js';
import { runPipeline } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { tinySetup } from './fixtures/tiny.js';

test('autoscale ddo reads the ddo-N.csv of a pipeline with a domain named "base" and finds the pipeline\'s composition', async (t) => {
  const { raw } = tinySetup({ validation: null });
  const data = raw.data as { domains: { name: string }[] };
  data.domains[1]!.name = 'base';
  const result = await runPipeline({ config: parsePipelineConfig(raw) });
  for (const scale of [3000, 6000]) {
    const csv = path.join(result.outDir, `ddo-${scale}.csv`);
    t.regex(readFileSync(csv, 'utf8'), /^domain,multiplier,loss\nbase,1,[0-9.]+\n(.*\n){2}base,0\.333[0-9]*,[0-9.]+\nbase,3,[0-9.]+\n/);
    const { document } = runDdoCommand({ results: csv, tokens: String(scale) });
    const pipeline = JSON.parse(readFileSync(path.join(result.outDir, `composition-${scale}.json`), 'utf8')) as { weights: Record<string, number> };
    t.deepEqual(Object.keys(document.weights).sort(), ['base', 'code', 'digits']);
    // The same fit and solve on the same numbers: equal to rounding.
    for (const [d, w] of Object.entries(pipeline.weights)) t.true(Math.abs(document.weights[d]! - w) < 1e-9, `${d} at ${scale}: ${document.weights[d]} vs ${w}`);
  }
});

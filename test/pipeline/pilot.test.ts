// `autoscale pilot`: the base runs at candidate scales, their seed statistics, the verdicts, the
// recommendation, reuse through the registry (by a second pilot and by the DDO stage), and the command.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { response } from '../../lib/pipeline/analyse.js';
import { pilotRow, recommend, regimeChanges, runPilot, type PilotRow } from '../../lib/pipeline/pilot.js';
import { planDdo, setUp } from '../../lib/pipeline/plan.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { openRegistry } from '../../lib/registry.js';
import { mean, sampleSd } from '../../lib/stats/sampling.js';
import type { ProxyModel } from '../../lib/train.js';
import { tinySetup } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const autoscale = (...args: string[]) =>
  spawnSync(process.execPath, ['--import=tsx', path.join(root, 'lib/cli.ts'), ...args], { cwd: root, encoding: 'utf8' });

test('the pilot\'s mean and SD are those of the registry\'s base runs, which are the DDO stage\'s, and a second pilot reuses them', async (t) => {
  const { raw } = tinySetup({ seeds: [0, 1, 2] });
  const config = parsePipelineConfig(raw);
  const first = await runPilot({ config, scales: [6000, 1500, 3000], seeds: [0, 1, 2] });
  t.deepEqual(first.scales, [1500, 3000, 6000]);
  t.is(first.trained, 9);
  t.is(first.reused, 0);
  t.is(first.rows.length, 3);
  // Three domains, multipliers 1/3 and 3 on one uniform third: totals from (1 - 2/9) N to (1 + 2/3) N.
  t.true(Math.abs(first.perturbationSpan.low - 7 / 9) < 1e-12);
  t.true(Math.abs(first.perturbationSpan.high - 5 / 3) < 1e-12);

  const setup = await setUp(config, {}, () => undefined);
  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  t.teardown(() => registry.close());
  for (const row of first.rows) {
    t.is(row.lr, config.training.lr);
    t.deepEqual(row.seeds, [0, 1, 2]);
    const values = row.keys.map((key) => {
      const record = registry.get<{ losses: Record<string, number> }>(key)!;
      t.is(record.status, 'finished');
      return response(record.result!.losses, setup.evalWeights);
    });
    t.deepEqual(row.perSeed, values);
    t.is(row.mean, mean(values));
    t.is(row.sd, sampleSd(values));
    t.is(row.relativeSd, sampleSd(values) / mean(values));
    t.true(row.sd! > 0, 'different seeds give different losses');
  }
  // The DDO stage of the config (scales 3000, 6000; the same seeds) asks for exactly these base runs.
  const ddoBase = planDdo(config, setup).flatMap((p) => p.slots.filter((s) => s.id === 'base').map((s) => s.key));
  t.is(ddoBase.length, 6);
  const pilotKeys = new Set(first.rows.flatMap((r) => r.keys));
  for (const key of ddoBase) t.true(pilotKeys.has(key), key);

  const second = await runPilot({ config, scales: [1500, 3000, 6000], seeds: [0, 1, 2] });
  t.is(second.trained, 0);
  t.is(second.reused, 9);
  t.deepEqual(second.rows, first.rows);
});

test('the verdict follows --max-relative-sd, and so does the recommendation', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const scales = [1500, 3000, 6000];
  const lenient = await runPilot({ config, scales, seeds: [0, 1], maxRelativeSd: 1 });
  t.deepEqual(lenient.rows.map((r) => r.verdict), ['stable', 'stable', 'stable']);
  const rec = lenient.recommendations[0]!;
  t.deepEqual(rec.scales, [1500, 3000]);
  t.regex(rec.text, /use "scales": \[1500, 3000\]/);
  t.true(rec.text.includes(`the response falls from ${lenient.rows[0]!.mean!.toFixed(4)} to ${lenient.rows[1]!.mean!.toFixed(4)} between them`));
  t.regex(rec.text, /Stable is necessary, not sufficient: .*noise audit/);
  t.regex(rec.text, /needs the base response stable down to about 0\.78 N/);
  t.regex(rec.text, /nothing below 1\.5k was measured: add a candidate near 1\.17k/);
  t.regex(rec.text, /the candidate just below 3k, 1\.5k \(below 0\.78 x 3k\), is stable too/);
  t.regex(lenient.rows[0]!.note ?? '', /two seeds measure the SD coarsely/);

  const strict = await runPilot({ config, scales, seeds: [0, 1], maxRelativeSd: 1e-9 });
  t.is(strict.trained, 0, 'the same runs, reused');
  t.deepEqual(strict.rows.map((r) => r.verdict), ['unstable', 'unstable', 'unstable']);
  t.is(strict.recommendations[0]!.scales, null);
  t.regex(strict.recommendations[0]!.text, /no pair of DDO scales qualifies: no candidate scale is stable .*Try larger scales \(e\.g\. --scales 6k,12k,18k\), another learning rate \(--lr\), or another batch size/);

  // Between the two: the threshold at the middle row's relative SD makes exactly the rows at or below it stable.
  const middle = [...lenient.rows.map((r) => r.relativeSd!)].sort((a, b) => a - b)[1]!;
  const between = await runPilot({ config, scales, seeds: [0, 1], maxRelativeSd: middle });
  t.deepEqual(between.rows.map((r) => r.verdict), lenient.rows.map((r) => (r.relativeSd! <= middle ? 'stable' : 'unstable')));
});

test('one seed gives no SD and says so', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const result = await runPilot({ config, scales: [1500, 3000], seeds: [4] });
  for (const row of result.rows) {
    t.is(row.verdict, 'unmeasured');
    t.is(row.sd, null);
    t.is(row.relativeSd, null);
    t.is(row.perSeed.length, 1);
    t.is(row.mean, row.perSeed[0]!);
    t.regex(row.note ?? '', /one seed: no seed SD/);
  }
  t.is(result.recommendations[0]!.scales, null);
  t.regex(result.recommendations[0]!.text, /no seed SD \(one seed\).*--seeds 0,1,2/);
});

test('each learning rate gets its own runs and rows; the config\'s lr keeps the DDO stage\'s spec; an lr below minLr is refused', async (t) => {
  const { raw } = tinySetup({ seeds: [0, 1] });
  const config = parsePipelineConfig(raw);
  const result = await runPilot({ config, scales: [1500, 3000], seeds: [0, 1], lrs: [config.training.lr, 3e-3] });
  t.deepEqual(result.lrs, [3e-3, config.training.lr]);
  t.deepEqual(result.rows.map((r) => [r.lr, r.scale]), [[3e-3, 1500], [3e-3, 3000], [1e-2, 1500], [1e-2, 3000]]);
  t.is(result.trained, 8);
  t.is(new Set(result.rows.flatMap((r) => r.keys)).size, 8);
  const setup = await setUp(config, {}, () => undefined);
  const registry = openRegistry(path.join(setup.cacheDir, 'runs.sqlite'));
  t.teardown(() => registry.close());
  for (const row of result.rows) {
    for (const key of row.keys) t.is((registry.get(key)!.spec as { training: { lr: number; minLr: number } }).training.lr, row.lr);
  }
  const ddoBase = planDdo({ ...config, scales: [1500, 3000] }, setup).flatMap((p) => p.slots.filter((s) => s.id === 'base').map((s) => s.key));
  t.deepEqual(ddoBase.sort(), result.rows.filter((r) => r.lr === config.training.lr).flatMap((r) => r.keys).sort());
  t.is(result.recommendations.length, 2);
  t.regex(result.recommendations[0]!.text, /^lr 0\.003:/);

  await t.throwsAsync(runPilot({ config, scales: [1500], seeds: [0, 1], lrs: [1e-4] }), { message: /learning rate 0\.0001 is below the config's training\.minLr \(0\.001\).*lower training\.minLr/ });
  await t.throwsAsync(runPilot({ config, scales: [1500.5], seeds: [0, 1] }), { message: /scale 1500\.5 is not a whole number of tokens/ });
});

test('a seed whose loss goes NaN makes its scale unstable; the other seeds are still measured', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const nanOnSeed1At3k = (model: ProxyModel, slot: { label: string }): ProxyModel => (/N=3k .*seed 1$/.test(slot.label) ? {

    trainStep: async () => {
      throw Object.assign(new Error('the loss is not finite (NaN) at step 1'), { code: 'ERR_NON_FINITE' });
    },
    evalLoss: (w) => model.evalLoss(w),
    getParameters: () => model.getParameters(),
    setParameters: (p) => model.setParameters(p),
    getOptimizerState: () => model.getOptimizerState(),
    setOptimizerState: (s) => model.setOptimizerState(s),
    dispose: () => model.dispose(),
  } : model);
  const result = await runPilot({ config, scales: [1500, 3000], seeds: [0, 1, 2], maxRelativeSd: 1, hooks: { wrapModel: nanOnSeed1At3k } });
  const [small, large] = result.rows;
  t.is(small!.verdict, 'stable');
  t.is(large!.verdict, 'unstable');
  t.deepEqual(large!.seeds, [0, 2]);
  t.deepEqual(large!.failed.map((f) => [f.seed, f.code]), [[1, 'ERR_NON_FINITE']]);
  t.regex(large!.note ?? '', /1 of 3 seeds diverged \(NaN loss: seed 1\)/);
  t.is(result.recommendations[0]!.scales, null);
});

const row = (scale: number, relativeSd: number, verdict: PilotRow['verdict']): PilotRow =>
  ({ ...pilotRow(1e-3, scale, [{ seed: 0, value: 2 }, { seed: 1, value: 2 }], [], [], 1), relativeSd, verdict });

test('recommend picks the smallest two stable scales 2x apart, and not a scale whose perturbation span reaches an unstable candidate', (t) => {
  const span = { low: 0.87, high: 1.4 };
  // 300k is stable but 270k (within 0.87 x 300k = 261k) is not: 300k does not qualify; 600k and 1.2M do.
  const rows = [row(270e3, 0.02, 'unstable'), row(300e3, 0.003, 'stable'), row(600e3, 0.004, 'stable'), row(900e3, 0.003, 'stable'), row(1.2e6, 0.002, 'stable')];
  const rec = recommend(1e-3, rows, span, 0.005);
  t.deepEqual(rec.scales, [600e3, 1.2e6]);
  t.regex(rec.text, /the candidate just below 600k, 300k \(below 0\.87 x 600k\), is stable too; the candidate just below 1\.2M, 900k \(below 0\.87 x 1\.2M\), is stable too/);
  // Without the unstable neighbour, 300k and 600k.
  t.deepEqual(recommend(1e-3, rows.slice(1), span, 0.005).scales, [300e3, 600e3]);
  // A stable pair whose lower scale has an unstable candidate below its span: recommended, with the gap named.
  const gap = recommend(1e-3, [row(150e3, 0.03, 'unstable'), row(300e3, 0.003, 'stable'), row(900e3, 0.003, 'stable')], span, 0.005);
  t.deepEqual(gap.scales, [300e3, 900e3]);
  t.regex(gap.text, /the candidate just below 300k, 150k \(below 0\.87 x 300k\), is unstable: the span from 261k to 300k is not measured; add a candidate near 261k/);
  // Stable before and after an unstable phase (lr 6e-3 on the demo: 300k 0.32%, 900k 5.45%): not a pair.
  const straddle = recommend(1e-3, [row(300e3, 0.003, 'stable'), row(900e3, 0.05, 'unstable'), row(2.7e6, 0.003, 'stable')], span, 0.005);
  t.is(straddle.scales, null);
  t.regex(straddle.text, /300k and 2\.7M are stable, but 900k between them is not: they lie on either side of the unstable phase/);
  // ... while a pair on one side of it still qualifies.
  t.deepEqual(recommend(1e-3, [row(300e3, 0.003, 'stable'), row(900e3, 0.05, 'unstable'), row(2.7e6, 0.003, 'stable'), row(5.4e6, 0.002, 'stable')], span, 0.005).scales, [2.7e6, 5.4e6]);
  // One stable scale: none qualifies, with what to try.
  const one = recommend(1e-3, [row(300e3, 0.02, 'unstable'), row(900e3, 0.003, 'stable')], span, 0.005);
  t.is(one.scales, null);
  t.regex(one.text, /only 900k is stable over the perturbation span, and AutoScale needs two scales at least 2x apart .*Try larger scales \(e\.g\. --scales 900k,1\.8M,2\.7M\)/);
});

// Three seeds at mean m with seed SD sd: m - sd, m, m + sd.
const measuredRow = (scale: number, m: number, sd: number): PilotRow =>
  pilotRow(1e-3, scale, [-1, 0, 1].map((z, seed) => ({ seed, value: m + z * sd })), [], [], 0.005);

test('regimeChanges finds where the response starts to fall faster per doubling, and nothing on a power law or in the noise', (t) => {
  // The demo model (init 0.08, lr 1e-3, batch 16), measured (docs/noise.md): drops per doubling 0.178, 0.154, 0.275, 0.290.
  const demo = [measuredRow(150e3, 2.8987, 0.0047), measuredRow(300e3, 2.7207, 0.0009), measuredRow(600e3, 2.5668, 0.0062),
    measuredRow(1.2e6, 2.2921, 0.0075), measuredRow(2.4e6, 2.0023, 0.0050)];
  const changes = regimeChanges(demo);
  // 0.154 -> 0.275 (78% more, 14 standard errors) is a change; 0.275 -> 0.290 (5%) is within the 10% margin.
  t.is(changes.length, 1);
  t.deepEqual(changes[0]!.scales, [300e3, 600e3, 1.2e6]);
  t.true(Math.abs(changes[0]!.dropBefore - (2.7207 - 2.5668)) < 1e-12);
  t.true(Math.abs(changes[0]!.dropAfter - (2.5668 - 2.2921)) < 1e-12);
  t.true(Math.abs(changes[0]!.from - Math.sqrt(300e3 * 600e3)) < 1e-6 && Math.abs(changes[0]!.to - Math.sqrt(600e3 * 1.2e6)) < 1e-6);
  t.regex(changes[0]!.text, /falls faster per doubling of the tokens above about 424k-849k/);
  // A power law L = 2 + 30 N^-0.25 falls less per doubling as N grows: no change, however small the noise.
  const powerLaw = [1e5, 2e5, 4e5, 8e5, 1.6e6].map((n) => measuredRow(n, 2 + 30 * n ** -0.25, 1e-6));
  t.deepEqual(regimeChanges(powerLaw), []);
  // The same acceleration as the demo's, drowned in seed noise (SD 0.05 on 3 seeds): not claimed.
  t.deepEqual(regimeChanges(demo.map((r) => measuredRow(r.scale, r.mean!, 0.05))), []);
  // recommend keeps the DDO runs (0.87 N1 to 1.4 N2) off the change: 150k/300k (runs to 420k) qualify, 300k/600k
  // and 600k/1.2M do not; 1.2M/2.4M (runs from 1.04M) lie past it and would.
  const span = { low: 0.87, high: 1.4 };
  t.deepEqual(recommend(1e-3, demo, span, 0.005).scales, [150e3, 300e3]);
  t.deepEqual(recommend(1e-3, demo.slice(1), span, 0.005).scales, [1.2e6, 2.4e6]);
  const rec = recommend(1e-3, demo.slice(1, 4), span, 0.005);
  t.is(rec.scales, null);
  t.regex(rec.text, /300k and 600k are stable, but their runs \(261k to 840k tokens\) reach the change of regime at about 424k-849k/);
  t.regex(rec.text, /Try scales whose runs end below the change \(the larger scale at most 303k/);
  // A pair below the change is told that a target above it extrapolates across it.
  t.regex(recommend(1e-3, demo, span, 0.005).text, /above them the response changes regime at about 424k-849k: a target beyond that is an extrapolation across the change/);
});

test('autoscale pilot prints the table and the recommendation and writes pilot.json; --json prints it', (t) => {
  const { dir, configFile } = tinySetup(); // one seed in the config: the pilot defaults to seeds 0,1,2
  const out = path.join(dir, 'pilot.json');
  const result = autoscale('pilot', configFile, '--scales', '1.5k,3k', '--max-relative-sd', '1', '--out', out, '--quiet');
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^Base response .* at most 100\.00%:\nlr +scale +seeds +mean +SD +relative SD +verdict\n/);
  t.regex(result.stdout, /\n0\.01 +1\.5k +3 +\d\.\d{4} +[\d.e+-]+ +\d+\.\d\d% +stable\n0\.01 +3k +3 +\d\.\d{4} +[\d.e+-]+ +\d+\.\d\d% +stable\n/);
  t.regex(result.stdout, /Recommendation:\n {2}lr 0\.01: use "scales": \[1500, 3000\]/);
  t.regex(result.stdout, /6 base runs trained, 0 reused, 0 failed\.\nWritten: /);
  const document = JSON.parse(readFileSync(out, 'utf8')) as { kind: string; seeds: number[]; maxRelativeSd: number; rows: PilotRow[]; recommendations: { scales: number[] | null }[] };
  t.is(document.kind, 'autoscale-pilot');
  t.deepEqual(document.seeds, [0, 1, 2]);
  t.is(document.maxRelativeSd, 1);
  t.deepEqual(document.rows.map((r) => [r.scale, r.perSeed.length, r.verdict]), [[1500, 3, 'stable'], [3000, 3, 'stable']]);
  for (const r of document.rows) t.true(Math.abs(r.mean! - mean(r.perSeed)) < 1e-12);
  t.deepEqual(document.recommendations[0]!.scales, [1500, 3000]);

  const json = autoscale('pilot', configFile, '--scales', '1.5k,3k', '--out', out, '--json', '--quiet');
  t.is(json.status, 0, json.stderr);
  const printed = JSON.parse(json.stdout) as { rows: PilotRow[]; maxRelativeSd: number };
  t.is(printed.maxRelativeSd, 0.005);
  t.deepEqual(printed.rows.map((r) => r.perSeed), document.rows.map((r) => r.perSeed), 'the same runs, reused');
  t.deepEqual(JSON.parse(readFileSync(out, 'utf8')), printed);

  const help = autoscale('pilot', '--help');
  t.is(help.status, 0);
  t.regex(help.stdout, /autoscale pilot --demo --scales 150k,300k,600k,900k/);
  const bad = autoscale('pilot', configFile, '--scales', '1.5k,fast');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /--scales "fast" is not a positive number/);
  t.regex(autoscale('pilot', configFile).stderr, /required option '--scales <list>'/);
});

// Other mixture methods on the same proxies, judged at validation: the config of "validation.mixtures" and
// "regmix", a tiny end-to-end run with every mixture (validation.json, report, registry reuse of the random-mixture
// runs), and `autoscale compare` with a hand-made mixture file.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vl from 'vega-lite';
import { BudgetError } from '../../lib/pipeline/budget.js';
import { compareMixtures } from '../../lib/pipeline/compare.js';
import { runPipeline } from '../../lib/pipeline/run.js';
import { ConfigError, parsePipelineConfig } from '../../lib/pipeline-config.js';
import { openRegistry } from '../../lib/registry.js';
import { tinySetup } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const autoscale = (...args: string[]) => spawnSync(process.execPath, ['--import=tsx', path.join(root, 'lib/cli.ts'), ...args], { cwd: root, encoding: 'utf8' });
const read = (dir: string, name: string): string => readFileSync(path.join(dir, name), 'utf8');
const countMarks = (svg: string): number => (svg.match(/<path [^>]*d="M[^"]+"/g) ?? []).length;

const minimal = { data: 'demo', scales: [100000, 200000], target: 2000000 };
const ALL = ['uniform', 'natural', 'unimax', 'ddo', 'autoscale', 'regmix', 'dml'];

test('validation.mixtures defaults to uniform, ddo, autoscale, and regmix to the smallest DDO scale', (t) => {
  const config = parsePipelineConfig({ ...minimal, validation: { scale: 400000 } });
  t.deepEqual(config.validation!.mixtures, [{ kind: 'method', method: 'uniform' }, { kind: 'method', method: 'ddo' }, { kind: 'method', method: 'autoscale' }]);
  t.deepEqual(config.regmix, { runs: null, scale: null, concentration: null, seed: 0 }); // scale null: the smallest DDO scale (mixtureSearchScale)
  const mine = parsePipelineConfig({ ...minimal, validation: { scale: 400000, mixtures: [...ALL, { name: 'mine', weights: { books: 1, code: 3 } }] }, regmix: { runs: 12, scale: 50000, concentration: 2 } });
  t.is(mine.validation!.mixtures.length, 8);
  t.deepEqual(mine.validation!.mixtures[7], { kind: 'own', name: 'mine', weights: { books: 1, code: 3 } });
  t.deepEqual(mine.regmix, { runs: 12, scale: 50000, concentration: 2, seed: 0 });
});

// Each bad config, the field its error must name, and what the message must say (the problem and the fix).
const bad: [string, Record<string, unknown>, string, RegExp][] = [
  ['an unknown method', { validation: { scale: 4e5, mixtures: ['uniform', 'regmx'] } }, 'validation.mixtures[1]', /unknown mixture method "regmx" \(did you mean "regmix"\?\); the methods are "uniform", .*"dml"/],
  ['a method named twice', { validation: { scale: 4e5, mixtures: ['uniform', 'ddo', 'ddo'] } }, 'validation.mixtures[2]', /"ddo" is named twice \(also validation\.mixtures\[1\]\); list each mixture once/],
  ['an own mixture named like another', { validation: { scale: 4e5, mixtures: ['uniform', { name: 'mine', weights: { books: 1 } }, { name: 'Mine', weights: { code: 1 } }] } }, 'validation.mixtures[2]', /"Mine" is named twice/],
  ['an own mixture named after a method', { validation: { scale: 4e5, mixtures: ['uniform', { name: 'AutoScale', weights: { books: 1 } }] } }, 'validation.mixtures[1].name', /is the name of a method's mixture; give your own mixture another name/],
  ['a negative weight', { validation: { scale: 4e5, mixtures: ['uniform', { name: 'mine', weights: { books: -1 } }] } }, 'validation.mixtures[1].weights.books', /must be >= 0/],
  ['all weights 0', { validation: { scale: 4e5, mixtures: ['uniform', { name: 'mine', weights: { books: 0 } }] } }, 'validation.mixtures[1].weights', /at least one positive weight/],
  ['an own mixture without weights', { validation: { scale: 4e5, mixtures: ['uniform', { name: 'mine' }] } }, 'validation.mixtures[1].weights', /must be an object/],
  ['an unknown field in an own mixture', { validation: { scale: 4e5, mixtures: ['uniform', { name: 'mine', weights: { books: 1 }, scale: 3 }] } }, 'validation.mixtures[1].scale', /unknown field/],
  ['no uniform', { validation: { scale: 4e5, mixtures: ['ddo', 'autoscale'] } }, 'validation.mixtures', /must include "uniform".*add "uniform"/],
  ['an empty list', { validation: { scale: 4e5, mixtures: [] } }, 'validation.mixtures', /must be a list of mixtures, e\.g\./],
  ['a number in the list', { validation: { scale: 4e5, mixtures: ['uniform', 3] } }, 'validation.mixtures[1]', /must be a method name/],
  ['one random-mixture run', { regmix: { runs: 1 } }, 'regmix.runs', /must be >= 2/],
  ['a zero concentration', { regmix: { concentration: 0 } }, 'regmix.concentration', /must be > 0/],
  ['an unknown regmix field', { regmix: { n: 3 } }, 'regmix.n', /unknown field; the fields here are "runs", "scale", "concentration", "seed"/],
];

for (const [name, extra, field, message] of bad) {
  test(`a bad comparison config is rejected naming the field and the fix: ${name}`, (t) => {
    const error = t.throws(() => parsePipelineConfig({ ...minimal, ...extra }), { instanceOf: ConfigError });
    t.is(error?.field, field);
    t.true(error?.message.startsWith(`config: ${field}: `), error?.message);
    t.regex(error?.message ?? '', message);
  });
}

test('an own mixture naming a domain the data lacks, or asking more than its supply, is refused before any run', async (t) => {
  const unknown = tinySetup({ validation: { scale: 12000, mixtures: ['uniform', { name: 'mine', weights: { digits: 1, novel: 1 } }] } });
  await t.throwsAsync(compareMixtures({ config: parsePipelineConfig(unknown.raw) }), { message: /^config: validation\.mixtures\[1\]\.weights\.novel: no domain "novel" in the data; the domains are digits, words, code$/ });
  // digits has 8884 training tokens: 12000 tokens of it at maxEpochs 1 is too much.
  const greedy = tinySetup({ maxEpochs: 1, validation: { scale: 12000, mixtures: ['uniform', { name: 'mine', weights: { digits: 1 } }] } });
  const error = await t.throwsAsync(compareMixtures({ config: parsePipelineConfig(greedy.raw) }), { instanceOf: BudgetError });
  t.regex(error?.message ?? '', /^validation\.mixtures\[1\]: mixture "mine" at validation\.scale 12000 would train 12000 tokens of domain "digits", which has 8884 training tokens: 1\.35 epochs, more than maxEpochs \(1\)\. Nothing was trained\. Fix: lower its weight of "digits" to at most 0\.7403;/);
  const registry = openRegistry(path.join(greedy.raw.cacheDir as string, 'runs.sqlite'));
  t.is(registry.list().length, 0);
  registry.close();
});

test('every mixture on the same proxies: validation.json holds each with its weights, versus uniform, the ranking and how it was obtained; a rerun trains nothing', async (t) => {
  const seeds = [0, 1];
  const mine = { digits: 0.2, words: 0.5, code: 0.3 };
  const { raw } = tinySetup({ seeds, regmix: { runs: 8 }, validation: { scale: 12000, evalPoints: 3, mixtures: [...ALL, { name: 'mine', weights: mine }] } });
  const config = parsePipelineConfig(raw);
  const first = await runPipeline({ config });
  // DDO: 2 scales x 7 runs x 2 seeds; 8 random-mixture runs on seed 0; validation: 8 mixtures x 2 seeds, and 7 token-saving runs x 2 seeds.
  // Two mixtures with the same tokens share their runs (UniMax is uniform here: nothing to cap), so each key is trained once.
  t.is(first.failed, 0);
  const rows = read(first.outDir, 'runs.csv').trim().split('\n').slice(1);
  t.is(rows.length, 28 + 8 + 16 + 14);
  t.is(first.trained, new Set(rows.map((r) => r.split(',')[9])).size);
  // UniMax's full runs are uniform's (its token-saving runs are its own: uniform has none).
  t.true(first.trained <= rows.length - 2, 'UniMax shares uniform\'s runs');
  const doc = JSON.parse(read(first.outDir, 'validation.json'));
  const names = ['uniform', 'natural', 'UniMax', 'DDO N=6k', 'AutoScale', 'RegMix', 'DML', 'mine'];
  t.deepEqual(Object.keys(doc.mixtures), names);
  for (const name of names) {
    const m = doc.mixtures[name];
    t.deepEqual(Object.keys(m.weights), ['digits', 'words', 'code'], name);
    t.true(Math.abs(Object.values(m.weights as Record<string, number>).reduce((a, b) => a + b, 0) - 1) < 1e-6, name);
    t.is(m.finalLoss.perSeed.length, seeds.length, name);
    t.true(m.finalLoss.perSeed.every((x: unknown) => typeof x === 'number'), name);
    t.true(Math.abs(m.finalLoss.mean - (m.finalLoss.perSeed[0] + m.finalLoss.perSeed[1]) / 2) < 1e-12, name);
    t.is(m.finalLoss.interval.length, 2, name);
    t.truthy(doc.methods[name], name);
  }
  for (const [d, w] of Object.entries(mine)) t.true(Math.abs(doc.mixtures.mine.weights[d] - w) < 1e-3, d);
  // Natural: proportional to the training tokens (8884, 14083, 9908 per domain in this corpus, within rounding).
  t.true(doc.mixtures.natural.weights.words > doc.mixtures.natural.weights.code && doc.mixtures.natural.weights.code > doc.mixtures.natural.weights.digits);

  t.deepEqual(Object.keys(doc.versusUniform), names.slice(1));
  for (const name of names.slice(1)) {
    const v = doc.versusUniform[name];
    t.deepEqual(v.lossDifference.seeds, seeds, name);
    for (let s = 0; s < 2; s++) t.true(Math.abs(v.lossDifference.perSeed[s] - (doc.mixtures[name].finalLoss.perSeed[s] - doc.mixtures.uniform.finalLoss.perSeed[s])) < 1e-12, name);
    t.is(v.lossDifference.interval.length, 2);
    t.true(['better', 'worse', 'not distinguishable'].includes(v.verdict));
    t.true(v.tokenSaving !== null || typeof v.tokenSavingNote === 'string', name);
  }
  // The headline stays AutoScale against uniform.
  t.is(doc.verdict, doc.versusUniform.AutoScale.summary);

  // The ranking: every mixture once, best first, each rank 1 + the number shown better.
  const { ranking } = doc;
  t.deepEqual([...ranking.order.map((r: { mixture: string }) => r.mixture)].sort(), [...names].sort());
  t.deepEqual(ranking.seeds, seeds);
  t.regex(ranking.rule, /^rank = 1 \+ the number of mixtures shown better/);
  const rank = new Map<string, number>(ranking.order.map((r: { mixture: string; rank: number }) => [r.mixture, r.rank]));
  for (let i = 1; i < ranking.order.length; i++) t.true(ranking.order[i].rank >= ranking.order[i - 1].rank);
  for (const r of ranking.order) {
    t.is(r.rank, 1 + r.worseThan.length);
    for (const b of r.betterThan) t.true(rank.get(r.mixture)! < rank.get(b)!);
  }

  // How each was obtained, and its cost in proxy runs: 2m + 1 runs per DDO scale and seed (m = 3); the random-mixture runs shared.
  t.like(doc.methods.uniform, { method: 'uniform', proxyRuns: 0 });
  t.like(doc.methods.mine, { method: 'own', proxyRuns: 0 });
  t.like(doc.methods['DDO N=6k'], { method: 'ddo', proxyRuns: 7 * 2, sharedWith: ['AutoScale'] });
  t.like(doc.methods.AutoScale, { method: 'autoscale', proxyRuns: 2 * 7 * 2 });
  t.like(doc.methods.RegMix, { method: 'regmix', proxyRuns: 8, sharedWith: ['DML'] });
  // Each run's tokens per domain are rounded to whole tokens: within a token per domain and run of 8 x 3000.
  t.true(Math.abs(doc.methods.RegMix.proxyTokens - 8 * 3000) <= 8 * 3, String(doc.methods.RegMix.proxyTokens));
  t.like(doc.methods.DML, { method: 'dml', proxyRuns: 8, sharedWith: ['RegMix'] });
  t.is(doc.methods.RegMix.fit.n, 8);
  t.is(doc.methods.DML.fit.n, 8);
  t.true(typeof doc.methods.RegMix.fit.r2 === 'number');

  // The random-mixture runs are in runs.csv and the registry, on the first seed, at the smallest DDO scale.
  const search = read(first.outDir, 'runs.csv').split('\n').filter((l) => l.includes(',mixture-search,'));
  t.is(search.length, 8);
  t.true(search.every((l) => /^search N=3k mixture \d\/8,mixture-search,3000,0,mixture-\d,/.test(l)), search[0]);

  // The report's comparison chart draws the mixtures (final loss with intervals, the differences), and the curves.
  const html = read(first.outDir, 'report.html');
  const figures = [...html.matchAll(/<figure class="chart" id="chart-([a-z]+)">([\s\S]*?)<\/figure>/g)];
  t.deepEqual(figures.map((f) => f[1]), ['weights', 'fits', 'comparison', 'validation']);
  const comparison = figures.find((f) => f[1] === 'comparison')![2]!;
  // Per mixture a rule and a point in each panel: at least 8 + 8 + 7 + 7 marks.
  t.true(countMarks(comparison) >= 30, `marks: ${countMarks(comparison)}`);
  for (const name of names) t.true(comparison.includes(`>${name}<`), `the chart names ${name}`);
  const spec = JSON.parse(comparison.match(/<script type="application\/json" class="vega-lite-spec" data-chart="comparison">([\s\S]*?)<\/script>/)![1]!);
  t.notThrows(() => vl.compile(spec));
  t.regex(html, /<h3>Ranking<\/h3>/);
  t.regex(html, /<h3>How each mixture was obtained<\/h3>/);

  // A rerun draws the same random mixtures: every run, theirs included, comes from the registry.
  const second = await runPipeline({ config });
  t.is(second.trained, 0);
  t.is(second.reused, first.trained);
  t.deepEqual(JSON.parse(read(second.outDir, 'validation.json')).methods.RegMix, doc.methods.RegMix);
  // Another mixture seed draws other mixtures: 8 new runs, nothing else.
  const reseeded = await runPipeline({ config: parsePipelineConfig({ ...raw, regmix: { runs: 8, seed: 1 } }) });
  t.true(reseeded.trained >= 8);
  t.is(read(reseeded.outDir, 'runs.csv').split('\n').filter((l) => l.includes(',mixture-search,') && l.includes(',1,')).length, 8);
});

test('autoscale compare trains only the validation stage for the mixtures named, with a hand-made mixture file, and reuses it all the second time', (t) => {
  const { dir, configFile } = tinySetup({ seeds: [0, 1] });
  const mineFile = path.join(dir, 'mine.json');
  writeFileSync(mineFile, JSON.stringify({ digits: 1, words: 2, code: 1 }));
  const compositionFile = path.join(dir, 'composition-12000.json');
  writeFileSync(compositionFile, JSON.stringify({ scale: 12000, tokens: { digits: 6000, words: 3000, code: 3000 }, weights: { digits: 0.5, words: 0.25, code: 0.25 } }));
  const args = ['compare', configFile, '--mixtures', 'uniform,natural,mine', '--mixture', `mine=${mineFile}`, '--mixture', `theirs=${compositionFile}`, '--quiet'];
  const first = autoscale(...args);
  t.is(first.status, 0, first.stderr);
  // 4 mixtures x 2 seeds, and 3 token-saving runs x 2 seeds; no DDO run.
  t.regex(first.stdout, /\n14 proxy runs trained, 0 reused, 0 failed;/);
  t.regex(first.stdout, /^Mixtures at 12k tokens, best first/);
  for (const name of ['uniform', 'natural', 'mine', 'theirs']) t.regex(first.stdout, new RegExp(`\\n\\d +${name} +\\d\\.\\d{4} `), name);
  const out = path.join(dir, 'out');
  const doc = JSON.parse(read(out, 'validation.json'));
  t.deepEqual(Object.keys(doc.mixtures), ['uniform', 'natural', 'mine', 'theirs']);
  t.deepEqual(doc.mixtures.mine.weights, { digits: 0.25, words: 0.5, code: 0.25 });
  t.deepEqual(doc.mixtures.theirs.weights, { digits: 0.5, words: 0.25, code: 0.25 });
  t.regex(doc.methods.mine.description, /--mixture mine=/);
  t.is(doc.verdict, null); // no AutoScale among them: the ranking says who wins
  t.is(doc.ranking.order.length, 4);
  const html = read(out, 'report.html');
  const comparison = html.match(/<figure class="chart" id="chart-comparison">([\s\S]*?)<\/figure>/)?.[1] ?? '';
  t.true(countMarks(comparison) > 0);
  t.false(html.includes('chart-weights'), 'no DDO stage, no compositions chart');

  const second = autoscale(...args);
  t.is(second.status, 0, second.stderr);
  t.regex(second.stdout, /\n0 proxy runs trained, 14 reused, 0 failed;/);

  const wrong = path.join(dir, 'wrong.json');
  writeFileSync(wrong, JSON.stringify({ novel: 1 }));
  const refused = autoscale('compare', configFile, '--mixture', `bad=${wrong}`, '--mixtures', 'uniform', '--quiet');
  t.is(refused.status, 1);
  t.regex(refused.stderr, /--mixture bad=.*wrong\.json: the weight of "novel": no domain "novel" in the data; the domains are digits, words, code/);
  t.regex(autoscale('compare', configFile, '--mixtures', 'uniform,regmx').stderr, /--mixtures names "regmx", which is neither a method/);
  t.regex(autoscale('compare', configFile, '--mixture', 'uniform=x.json').stderr, /--mixture uniform=x\.json: the name "uniform" is the name of a method's mixture/);
});

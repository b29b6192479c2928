// The package as users embed it: the library entry exports the public API on purpose (no internals,
// no CLI), its module graph never reaches the CLI (whose top-level await would make
// `require('autoscale-lm')` fail with ERR_REQUIRE_ASYNC_MODULE), and the CLI runs only when it is
// the program itself, not when a user's own file named cli.js imports it.
// scripts/pack-check.sh tests the packed tarball installed in a fresh project.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as api from '../../lib/index.js';
import { isMainModule } from '../../lib/cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The runtime names of the public API. A new public name is added here on purpose.
const PUBLIC_VALUES = [
  // native trainer, saved models
  'Model', 'backendInfo', 'MODEL_FILE_VERSION', 'ModelFileError', 'readModelFile', 'writeModelFile',
  // data layer
  'DataError', 'DEFAULT_HELD_OUT_FRACTION', 'loadDataConfig', 'parseDataConfig', 'getTokenizer', 'TOKENIZER_NAMES',
  'readDocuments', 'resolveSources', 'defaultCacheDir', 'prepareData', 'heldOutSet', 'heldOutWindows', 'MixtureSampler',
  'DEFAULT_DEMO_BYTES_PER_DOMAIN', 'DEMO_DOMAINS', 'demoDataConfig', 'demoDocuments',
  // DDO and AutoScale
  'DEFAULT_DDO_MULTIPLIERS', 'planDdoRuns', 'evalResponseCurve', 'fitResponseCurve', 'responseCurveSlope',
  'solveComposition', 'BASE_ROW', 'parseDdoResultsCsv', 'optimizeComposition', 'compositionAtTotal',
  'fitScaleTrajectory', 'geometricNextScale', 'predictComposition', 'supplyCaps',
  // statistics over seeds
  'calibratedLevel', 'DEFAULT_DRAWS', 'DEFAULT_LEVEL', 'replicatedDdo', 'noiseAudit', 'SNR_THRESHOLD', 'fitNoiseModel',
  'predictWithIntervals', 'budgetToReach', 'pairedDifference', 'tokenSaving', 'verdictOf', 'parseDdoReplicatesCsv', 'perturbationId',
  // composition files
  'compositionFromTokens', 'parseComposition', 'parseTokenCount', 'readCompositionFile',
  // one proxy run
  'domainLosses', 'evalSteps', 'learningRate', 'trainProxyRun',
  // pipeline: config, registry, runner, report, runPipeline
  'ConfigError', 'DEFAULT_EVAL', 'DEFAULT_MODEL', 'DEFAULT_TRAINING', 'DEFAULTS', 'parsePipelineConfig',
  'openRegistry', 'Registry', 'runKey', 'planCapacity', 'runPool', 'renderReport', 'runPipeline', 'tokensToReach',
  'PROXY_RUN_FORMAT', 'DEFAULT_MAX_RELATIVE_SD', 'runPilot', 'compareMixtures',
  // other mixture methods
  'capToSupply', 'dmlOptimum', 'naturalMixture', 'randomMixtures', 'regmixOptimum', 'uniformMixture', 'unimaxMixture',
];

test('the library entry exports exactly the public API: no internals, no CLI', (t) => {
  t.deepEqual(Object.keys(api).sort(), [...PUBLIC_VALUES].sort());
  for (const internal of ['fsyncDirectory', 'writeFileAtomic', 'formatCount', 'formatDuration', 'buildProgram', 'runOp', 'canonicalJson']) {
    t.false(internal in api, internal);
  }
});

/** The lib/ modules that `file` imports, transitively (static and dynamic imports of relative paths). */
function importGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  for (const match of source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), match[1]!.replace(/\.js$/, '.ts'));
    importGraph(target, seen);
  }
  return seen;
}

test('the library entry\'s module graph never reaches the CLI (its top-level await breaks require())', (t) => {
  const graph = [...importGraph(path.join(root, 'lib/index.ts'))].map((f) => path.relative(root, f));
  t.true(graph.length > 20, `the scan follows imports (${graph.length} modules)`);
  const cli = graph.filter((f) => f === 'lib/cli.ts' || f.startsWith('lib/cli/'));
  t.deepEqual(cli, []);
});

test('isMainModule compares real paths: a bin symlink is the CLI, another file named cli.js is not', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'autoscale-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cliFile = path.join(root, 'lib/cli.ts');
  const cliUrl = pathToFileURL(cliFile).href;
  t.true(isMainModule(cliFile, cliUrl));
  t.true(isMainModule(path.join(root, 'lib/cli'), cliUrl), 'without the extension, as `node dist/cli` resolves it');
  symlinkSync(cliFile, path.join(dir, 'autoscale'));
  t.true(isMainModule(path.join(dir, 'autoscale'), cliUrl), 'through a symlink, as node_modules/.bin/autoscale');
  writeFileSync(path.join(dir, 'cli.ts'), '');
  t.false(isMainModule(path.join(dir, 'cli.ts'), cliUrl), 'a user\'s own cli.ts');
  t.false(isMainModule(path.join(dir, 'missing.js'), cliUrl));
  t.false(isMainModule(undefined, cliUrl));
});

test('a user\'s own cli.js that imports the CLI module runs its own code, not autoscale\'s CLI', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'autoscale-user-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
  writeFileSync(
    path.join(dir, 'cli.js'),
    `import { buildProgram } from ${JSON.stringify(pathToFileURL(path.join(root, 'lib/cli.ts')).href)};\n` +
      `console.log('user cli ran;', typeof buildProgram);\n`,
  );
  const result = spawnSync(process.execPath, ['--import=tsx', path.join(dir, 'cli.js'), 'info'], { cwd: root, encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout, 'user cli ran; function\n'); // autoscale's `info` would print its version and backends
});

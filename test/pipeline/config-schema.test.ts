// The config's JSON Schema and help come from its zod schema: the shipped schema file is what the schema
// generates, real configs validate against it, a config may name it with "$schema", and `autoscale run --help`
// prints the schema's defaults.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEMO_CONFIG } from '../../lib/cli/run.js';
import {
  DEFAULT_TRAINING,
  describeDefaults,
  parsePipelineConfig,
  PIPELINE_CONFIG_SCHEMA_FILE,
  pipelineConfigJsonSchema,
  pipelineConfigJsonSchemaText,
  type JsonSchema,
} from '../../lib/pipeline-config.js';
import { writeTinyCorpus } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const minimal = { data: 'demo', scales: [100000, 200000], target: 2000000 };

test('the shipped JSON Schema is the one the config schema generates (npm run schema writes it)', (t) => {
  const shipped = readFileSync(path.join(root, PIPELINE_CONFIG_SCHEMA_FILE), 'utf8');
  t.is(shipped, pipelineConfigJsonSchemaText(), `${PIPELINE_CONFIG_SCHEMA_FILE} is stale: run \`npm run schema\``);
  const check = spawnSync(process.execPath, ['--import=tsx', path.join(root, 'scripts/config-schema.ts'), '--check'], { cwd: root, encoding: 'utf8' });
  t.is(check.status, 0, check.stderr);
});

test('the package ships the JSON Schema (package.json "files")', (t) => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] };
  t.true(pkg.files.includes(path.dirname(PIPELINE_CONFIG_SCHEMA_FILE)));
});

/**
 * The JSON Schema keywords z.toJSONSchema writes for this config, checked as draft-07 defines them; no validator
 * is installed here. Returns the problems (empty: valid), each with its JSON path.
 */
function validate(schema: JsonSchema, value: unknown, at = '$'): string[] {
  const problems: string[] = [];
  const s = schema as JsonSchema & Record<string, any>;
  if (s.anyOf) {
    const results = (s.anyOf as JsonSchema[]).map((alternative) => validate(alternative, value, at));
    if (results.every((r) => r.length > 0)) problems.push(`${at}: matches no alternative (${results.map((r) => r[0]).join(' | ')})`);
  }
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v);
  if (types.length > 0 && !types.some((ty) => ty === typeOf(value) || (ty === 'number' && typeOf(value) === 'integer'))) {
    return [...problems, `${at}: is ${typeOf(value)}, not ${types.join(' or ')}`];
  }
  if ('const' in s && value !== s.const) problems.push(`${at}: is not ${JSON.stringify(s.const)}`);
  if (s.enum && !(s.enum as unknown[]).includes(value)) problems.push(`${at}: is not one of ${JSON.stringify(s.enum)}`);
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) problems.push(`${at}: < minimum ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) problems.push(`${at}: > maximum ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) problems.push(`${at}: <= exclusiveMinimum ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) problems.push(`${at}: >= exclusiveMaximum ${s.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    if (s.minLength !== undefined && value.length < s.minLength) problems.push(`${at}: shorter than ${s.minLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern as string).test(value)) problems.push(`${at}: does not match ${s.pattern}`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) problems.push(`${at}: fewer than ${s.minItems} items`);
    if (s.items) value.forEach((item, i) => problems.push(...validate(s.items as JsonSchema, item, `${at}[${i}]`)));
  } else if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    for (const key of (s.required as string[] | undefined) ?? []) if (!(key in object)) problems.push(`${at}: lacks "${key}"`);
    for (const [key, item] of Object.entries(object)) {
      const property = s.properties?.[key];
      if (property) problems.push(...validate(property, item, `${at}.${key}`));
      else if (s.additionalProperties === false) problems.push(`${at}: has the unknown field "${key}"`);
      else if (typeof s.additionalProperties === 'object') problems.push(...validate(s.additionalProperties as JsonSchema, item, `${at}.${key}`));
    }
  }
  return problems;
}

/** The README's example config (the JSON block after "A pipeline config is one JSON file"). */
function readmeConfig(): unknown {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /A pipeline config is one JSON file[^\n]*\n+```json\n([\s\S]*?)\n```/.exec(readme);
  if (!block) throw new Error('README.md has no example config after "A pipeline config is one JSON file"');
  return JSON.parse(block[1]!);
}

test('the demo config, the README example and a test corpus config validate against the JSON Schema', (t) => {
  const schema = pipelineConfigJsonSchema();
  const dir = mkdtempSync(path.join(tmpdir(), 'autoscale-config-schema-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tiny = { data: writeTinyCorpus(dir), scales: [3000, 6000], target: 60000, model: { contextLength: 16, width: 16, layers: 1, heads: 2 } };
  for (const [name, config] of [['demo', DEMO_CONFIG], ['README', readmeConfig()], ['tiny', tiny]] as const) {
    t.deepEqual(validate(schema, JSON.parse(JSON.stringify(config))), [], name);
  }
});

test('the JSON Schema rejects an unknown field, a wrong type, a missing field and a value out of range as the parser does, and a bad data config', (t) => {
  const schema = pipelineConfigJsonSchema();
  // The last field: whether parsePipelineConfig rejects it too (it leaves "data" to the data layer, which rejects it later).
  const cases: [unknown, RegExp, boolean?][] = [
    [{ ...minimal, taget: 5 }, /unknown field "taget"/],
    [{ ...minimal, training: { lr: 'fast' } }, /\$\.training\.lr: is string, not number/],
    [{ data: 'demo', target: 5 }, /lacks "scales"/],
    [{ ...minimal, model: { heads: 0 } }, /\$\.model\.heads: < minimum 1/],
    [{ ...minimal, multipliers: [1 / 3, 1e300] }, /\$\.multipliers\[1\]: > maximum 1000/],
    [{ ...minimal, data: { domains: [{ name: 'my books', sources: ['a'] }] } }, /\$\.data/, false],
    [{ ...minimal, validation: { evalPoints: 8 } }, /\$\.validation/],
  ];
  for (const [config, problem, parserRejects = true] of cases) {
    t.regex(validate(schema, config).join('\n'), problem, JSON.stringify(config));
    if (parserRejects) t.throws(() => parsePipelineConfig(config), undefined, JSON.stringify(config));
  }
});

test('a config may name its JSON Schema with "$schema": accepted and left out of the parsed config', (t) => {
  const config = parsePipelineConfig({ $schema: `./node_modules/autoscale-lm/${PIPELINE_CONFIG_SCHEMA_FILE}`, ...minimal });
  t.false('$schema' in config);
  t.deepEqual(config, parsePipelineConfig(minimal));
  t.throws(() => parsePipelineConfig({ $schema: 5, ...minimal }), { message: /^config: \$schema: must be a string/ });
});

test('the help\'s defaults are the schema\'s: each training default and the other sections\' as the parser fills them', (t) => {
  const help = describeDefaults();
  const parsed = parsePipelineConfig(minimal);
  for (const [key, value] of Object.entries(DEFAULT_TRAINING)) t.true(help.includes(`"${key}": ${value}`), key);
  t.is(parsed.training.lr, DEFAULT_TRAINING.lr);
  for (const [field, value] of [
    ['windowsPerDomain', parsed.eval.windowsPerDomain],
    ['contextLength', parsed.model.contextLength],
    ['maxEpochs', parsed.maxEpochs],
    ['level', parsed.intervals.level],
    ['draws', parsed.intervals.draws],
    ['queue', JSON.stringify(parsed.runner.queue)],
    ['cacheDir', JSON.stringify(parsed.cacheDir)],
    ['backend', JSON.stringify(parsed.backend)],
  ] as const) {
    t.true(help.includes(`"${field}": ${value}`), field);
  }
  for (const required of ['data', 'scales', 'target']) t.true(help.includes(`"${required}" (required)`), required);
  const run = spawnSync(process.execPath, ['--import=tsx', path.join(root, 'lib/cli.ts'), 'run', '--help'], { cwd: root, encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  t.true(run.stdout.includes(help), 'autoscale run --help prints describeDefaults()');
});

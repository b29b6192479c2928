import test from 'ava';
import { ConfigError, parsePipelineConfig } from '../../lib/pipeline-config.js';

const minimal = { data: 'demo', scales: [100000, 200000], target: 2000000 };

test('a minimal config gets the documented defaults', (t) => {
  const config = parsePipelineConfig(minimal);
  t.like(config, { backend: 'auto', base: 'uniform', seeds: [0], validation: null, out: 'out/autoscale' });
  t.like(config.model, { contextLength: 64, width: 64, layers: 2, heads: 4 });
  t.is(config.training.lr, 3e-3);
  t.deepEqual(config.multipliers, [1 / 3, 3]);
});

// Each bad config, and the field its error must name.
const bad: [string, Record<string, unknown>, string][] = [
  ['missing data', { scales: [1, 2], target: 3 }, 'data'],
  ['one scale', { ...minimal, scales: [100000] }, 'scales'],
  ['decreasing scales', { ...minimal, scales: [200000, 100000] }, 'scales[1]'],
  ['target not beyond scales', { ...minimal, target: 150000 }, 'target'],
  ['negative lr', { ...minimal, training: { lr: -1 } }, 'training.lr'],
  ['unknown training field', { ...minimal, training: { learningRate: 1 } }, 'training.learningRate'],
  ['heads not dividing width', { ...minimal, model: { width: 30, heads: 4 } }, 'model.heads'],
  ['fractional context', { ...minimal, model: { contextLength: 12.5 } }, 'model.contextLength'],
  ['multiplier 1', { ...minimal, multipliers: [1, 3] }, 'multipliers[0]'],
  ['multiplier 1e300', { ...minimal, multipliers: [1 / 3, 1e300] }, 'multipliers[1]'],
  ['multiplier 1e-4', { ...minimal, multipliers: [1e-4, 3] }, 'multipliers[0]'],
  ['multiplier 1001', { ...minimal, multipliers: [0.5, 1001] }, 'multipliers[1]'],
  ['unknown backend', { ...minimal, backend: 'tpu' }, 'backend'],
  ['validation too small', { ...minimal, validation: { scale: 1000 } }, 'validation.scale'],
  ['typo at the root', { ...minimal, taget: 5 }, 'taget'],
  ['base with a negative weight', { ...minimal, base: { books: -1 } }, 'base.books'],
  ['string seed', { ...minimal, seeds: ['a'] }, 'seeds[0]'],
];

for (const [name, raw, field] of bad) {
  test(`a bad config is rejected naming the field: ${name}`, (t) => {
    const error = t.throws(() => parsePipelineConfig(raw), { instanceOf: ConfigError });
    t.is(error?.field, field);
    t.true(error?.message.startsWith(`config: ${field}: `), error?.message);
  });
}

test('the demo config is valid', async (t) => {
  const { DEMO_CONFIG } = await import('../../lib/cli/run.js');
  const config = parsePipelineConfig(JSON.parse(JSON.stringify(DEMO_CONFIG)));
  t.is(config.data, 'demo');
  t.true(config.scales.length >= 2 && config.target > config.scales[config.scales.length - 1]!);
});

test('a multiplier outside [0.001, 1000] is refused with the range and the value', (t) => {
  t.throws(() => parsePipelineConfig({ ...minimal, multipliers: [1 / 3, 1e300] }), { message: 'config: multipliers[1]: must be within [0.001, 1000] (a factor on one domain\'s base quantity; the paper uses 1/3 and 3), got 1e+300' });
  t.deepEqual(parsePipelineConfig({ ...minimal, multipliers: [0.001, 1000] }).multipliers, [0.001, 1000]);
});

test('a number beyond the float64 range (1e999, read as Infinity) is "not a finite number", not "got null"', (t) => {
  // JSON.parse is what reads a config file; JSON.stringify(Infinity) would print null.
  const raw = JSON.parse('{"data": "demo", "scales": [1e5, 1e999], "target": 2e6}') as Record<string, unknown>;
  const error = t.throws(() => parsePipelineConfig(raw), { instanceOf: ConfigError });
  t.is(error?.field, 'scales[1]');
  t.regex(error?.message ?? '', /is not a finite number: Infinity/);
  t.regex(error?.message ?? '', /1e999/);
  t.notRegex(error?.message ?? '', /null/);
});

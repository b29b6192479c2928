// The pipeline is planned whole before its first run: a run that asks a domain for more than its training
// tokens x maxEpochs, or a target beyond the whole supply, is refused with the run, the domain, the tokens,
// the supply and the fix, and nothing is trained; repeated data within maxEpochs is allowed and noted.
import test from 'ava';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BudgetError } from '../../lib/pipeline/budget.js';
import { runPipeline, trainProxy } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { openRegistry } from '../../lib/registry.js';
import { tinySetup } from './fixtures/tiny.js';

// The tiny corpus's training tokens per domain (fixtures/tiny.ts, held-out fraction 0.2).
const SUPPLY = { digits: 8884, words: 14092, code: 9918 };

/** Runs the pipeline of `overrides`, expects a BudgetError, and checks that no run was started. */
async function refused(t: import('ava').ExecutionContext, overrides: Record<string, unknown>): Promise<string> {
  const { raw, dir } = tinySetup(overrides);
  const error = await t.throwsAsync(runPipeline({ config: parsePipelineConfig(raw) }), { instanceOf: BudgetError });
  t.is((error as BudgetError).code, 'ERR_BUDGET');
  const file = path.join(dir, 'cache', 'runs.sqlite');
  if (existsSync(file)) {
    const registry = openRegistry(file);
    t.deepEqual(registry.list(), [], 'no run was started');
    registry.close();
  }
  t.false(existsSync(path.join(dir, 'cache', 'checkpoints')), 'no run wrote a checkpoint');
  return error?.message ?? '';
}

test('a DDO run past maxEpochs is refused before the first run, naming the run, the domain, the tokens, the supply and the fixes', async (t) => {
  // At N=24k a domain's x3 run asks 24000 tokens: 2.70 epochs of digits.
  const message = await refused(t, { maxEpochs: 2, scales: [12000, 24000], target: 240000, validation: null });
  t.is(
    message,
    `run N=24k digits x3 would train 24000 tokens of domain "digits", which has ${SUPPLY.digits} training tokens: 2.70 epochs, more than maxEpochs (2). ` +
      '1 more run(s) exceed it too: N=24k code x3. Nothing was trained. Fix: raise maxEpochs to at least 2.71; or lower scales[1] (24000) to at most 17768; ' +
      'or use multipliers of at most 2.22 (not 3); or add training text to "digits".',
  );
});

test('multipliers that would train many times a domain\'s supply are refused before anything trains', async (t) => {
  const message = await refused(t, { multipliers: [0.33, 1000], validation: null });
  t.regex(message, /^run N=6k digits x1000 would train 2000000 tokens of domain "digits", which has 8884 training tokens: 225 epochs, more than maxEpochs \(10\)\. 5 more run\(s\)/);
  t.regex(message, /use multipliers of at most 44\.4 \(not 1000\)/);
});

test('a target beyond the total supply is refused before the DDO runs, not after them', async (t) => {
  const total = SUPPLY.digits + SUPPLY.words + SUPPLY.code;
  const message = await refused(t, { target: 400000, validation: null });
  t.is(
    message,
    `target: 400000 tokens is more than the data can supply: ${total} training tokens over all domains x maxEpochs (10) = ${total * 10}. ` +
      `Nothing was trained. Fix: lower target to at most ${total * 10}; or raise maxEpochs to at least 12.17; or add training text.`,
  );
});

test('validation runs that could exceed a domain\'s supply are refused before the DDO runs', async (t) => {
  // Uniform at 30k: 10000 tokens of digits > 8884 x 1.
  t.regex(await refused(t, { maxEpochs: 1, target: 30000, validation: { scale: 30000 } }), /^validation\.scale: the uniform validation run at 30000 tokens would train 10000 tokens of domain "digits", which has 8884 training tokens: 1\.13 epochs, more than maxEpochs \(1\)\. Nothing was trained\. Fix: lower validation\.scale to at most 26652;/);
  // The N=6k DDO optimum at 60k: digits may get 1 - (1/3)(2/3) = 77.8% of the tokens (the others at their lowest multiplier).
  t.regex(
    await refused(t, { maxEpochs: 3, validation: { scale: 60000 } }),
    /^validation\.scale: the validation run of the DDO optimum of N=6k at 60000 tokens may train up to 46667 tokens of domain "digits" \(a weight of up to 77\.8%: its solved multiplier up to 3, the others' down to 1\/3\), which has 8884 training tokens: 5\.25 epochs, more than maxEpochs \(3\)\. Nothing was trained\. Fix: lower validation\.scale to at most 34266;/,
  );
});

test('repeated data within maxEpochs is trained and noted once per domain', async (t) => {
  const { raw } = tinySetup({ scales: [12000, 24000], target: 240000, validation: null });
  const lines: string[] = [];
  const result = await runPipeline({ config: parsePipelineConfig(raw), log: (line) => lines.push(line) });
  t.is(result.failed, 0);
  const note = `digits: the DDO runs repeat its ${SUPPLY.digits} training tokens up to 2.70 times (N=24k digits x3: 24000 tokens); allowed by maxEpochs 10`;
  t.true(result.diagnostics.includes(note), result.diagnostics.join('\n'));
  t.true(lines.includes(`[plan] ${note}`));
  t.is(result.diagnostics.filter((d) => /^words: the DDO runs repeat/.test(d)).length, 1);
});

test('autoscale train refuses tokens past maxEpochs and says how many the domain allows', async (t) => {
  const { raw } = tinySetup({ validation: null, maxEpochs: 2 });
  const error = await t.throwsAsync(trainProxy({ config: parsePipelineConfig(raw), quantities: { digits: 20000, words: 1000 } }), { instanceOf: BudgetError });
  t.regex(error?.message ?? '', /^run train N=21k seed 0 would train 20000 tokens of domain "digits", which has 8884 training tokens: 2\.25 epochs, more than maxEpochs \(2\)\. Nothing was trained\. Fix: raise maxEpochs to at least 2\.26; or give --tokens digits=17768 or fewer; or add training text to "digits"\.$/);
});

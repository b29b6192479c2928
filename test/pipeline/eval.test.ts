// `autoscale train --save` and `autoscale eval` as a user runs them: a round trip that reproduces the
// trained run's held-out losses, and the errors for bad model files and mismatched data.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModelFile, writeModelFile } from '../../lib/model-file.js';
import { readTensorFile } from '../../lib/tensor-file.js';
import { tinySetup } from './fixtures/tiny.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const autoscale = (...args: string[]) =>
  spawnSync(process.execPath, ['--import=tsx', path.join(root, 'lib/cli.ts'), ...args], { cwd: root, encoding: 'utf8' });

interface EvalJson {
  run: string;
  sameData: boolean;
  domains: { domain: string; windows: number; loss: number; perplexity: number }[];
  mean: { loss: number; perplexity: number };
}

test('train --save then eval reproduces the run\'s held-out losses; the errors name the file and the fix', (t) => {
  const { dir, raw, configFile } = tinySetup();
  const modelFile = path.join(dir, 'tiny.model');
  const trained = autoscale('train', configFile, '--tokens', 'digits=2000,code=1k', '--save', modelFile, '--json');
  t.is(trained.status, 0, trained.stderr);
  const record = JSON.parse(trained.stdout) as { key: string; result: { losses: Record<string, number> } };
  const { header, parameters } = readModelFile(modelFile);
  t.is(header.run, record.key);
  t.deepEqual(header.model, { vocabSize: 256, contextLength: 16, width: 16, layers: 1, heads: 2 });
  t.is(header.tokenizer, 'byte');
  t.is(parameters.length, header.parameters);
  // A safetensors-layout file with the model's own tensors (PyTorch reads it: tensor-file.test.ts).
  t.deepEqual(readTensorFile(modelFile).tensors.map((x) => `${x.name}[${x.shape.join(',')}]`).slice(0, 3), ['wte[256,16]', 'wpe[16,16]', 'ln1w[1,16]']);

  // Same held-out windows (the config's eval.windowsPerDomain = 8), same parameters: the same losses.
  const evaluated = autoscale('eval', modelFile, configFile, '--json');
  t.is(evaluated.status, 0, evaluated.stderr);
  const doc = JSON.parse(evaluated.stdout) as EvalJson;
  t.is(doc.run, record.key);
  t.true(doc.sameData);
  t.deepEqual(doc.domains.map((d) => d.domain).sort(), Object.keys(record.result.losses).sort());
  for (const d of doc.domains) {
    t.is(d.windows, 8);
    t.true(Math.abs(d.loss - record.result.losses[d.domain]!) <= 1e-9, `${d.domain}: ${d.loss} vs ${record.result.losses[d.domain]}`);
    t.true(Math.abs(d.perplexity - Math.exp(d.loss)) <= 1e-9);
  }
  const table = autoscale('eval', modelFile, configFile, '--windows', '2');
  t.is(table.status, 0, table.stderr);
  t.regex(table.stdout, /\ndigits +2 +\d\.\d{4} +\d+\.\d{2}\n/);
  t.regex(table.stdout, /\nmean +\d\.\d{4} +\d+\.\d{2}\n$/);

  // A reused run has no parameters: --save says so and fails.
  const again = autoscale('train', configFile, '--tokens', 'digits=2000,code=1k', '--save', path.join(dir, 'again.model'));
  t.is(again.status, 1);
  t.regex(again.stderr, /reused from the registry, which keeps no parameters.*fix:/);

  const fails = (args: string[], message: RegExp): void => {
    const result = autoscale('eval', ...args);
    t.is(result.status, 1, result.stderr);
    t.regex(result.stderr, message);
  };
  fails([path.join(dir, 'missing.model'), configFile], /missing\.model: no such model file; fix:/);
  const bytes = readFileSync(modelFile);
  const truncated = path.join(dir, 'truncated.model');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
  fails([truncated, configFile], /truncated\.model: truncated: .*fix: write it again/);
  const garbage = path.join(dir, 'garbage.model');
  writeFileSync(garbage, 'not a model at all');
  fails([garbage, configFile], /garbage\.model: not an autoscale model file.*fix:/);
  const badHeader = Buffer.from(bytes);
  badHeader.write('{"format":"x', 8, 'utf8');
  const corrupt = path.join(dir, 'corrupt.model');
  writeFileSync(corrupt, badHeader);
  fails([corrupt, configFile], /corrupt\.model: corrupt header.*fix:/);

  // Tokenizer mismatch: refused before any tokenizing.
  const gpt2Config = path.join(dir, 'gpt2.json');
  writeFileSync(gpt2Config, JSON.stringify({ ...raw, data: { ...(raw.data as object), tokenizer: 'gpt2' } }));
  fails([modelFile, gpt2Config], /trained with the "byte" tokenizer but .*gpt2\.json uses "gpt2"; fix:/);

  // A context longer than the held-out text.
  const long = path.join(dir, 'long.model');
  writeModelFile(long, { model: { ...header.model, contextLength: 100000 }, tokenizer: 'byte', run: header.run, data: header.data, parameters: new Float32Array(4) });
  fails([long, configFile], /long\.model reads windows of 100001 tokens .*"digits" holds out \d+.*fix: hold out more text/);
});

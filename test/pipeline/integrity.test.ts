// Runs are reused for exactly the tokens they were trained on: a damaged shard is tokenized again
// (and its runs, trained on the right tokens, are still valid), a cache entry with other tokens
// under the same sources gets another data key and so trains its runs anew.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ShardManifest } from '../../lib/data/index.js';
import { trainProxy } from '../../lib/pipeline/run.js';
import { parsePipelineConfig } from '../../lib/pipeline-config.js';
import { Model } from '../../lib/native.js';
import type { ProxyModel } from '../../lib/train.js';
import { tinySetup } from './fixtures/tiny.js';

// Overwrites a shard with other valid byte-tokenizer ids of the same size.
function scramble(file: string): void {
  const bytes = readFileSync(file);
  const ids = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) ids[i] = 48 + ((ids[i]! * 7) % 10);
  writeFileSync(file, new Uint8Array(ids.buffer));
}

test('a shard overwritten with same-size ids is tokenized again, said in the log, and the run is reused; other tokens under the same sources train anew', async (t) => {
  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const train = async (): Promise<{ key: string; reused: boolean; data: string; losses: Record<string, number>; log: string[] }> => {
    const log: string[] = [];
    const { record, reused } = await trainProxy({ config, quantities: { digits: 2000, code: 1000 }, log: (line) => log.push(line) });
    t.is(record.status, 'finished');
    return { key: record.key, reused, data: (record.spec as { data: string }).data, losses: record.result!.losses, log };
  };
  const first = await train();
  t.false(first.reused);

  const dataDir = path.join(config.cacheDir, 'data');
  const entries = readdirSync(dataDir).filter((name) => !name.startsWith('.'));
  // The digits domain's entry: the one whose manifest names it.
  const entry = path.join(dataDir, entries.find((name) => (JSON.parse(readFileSync(path.join(dataDir, name, 'manifest.json'), 'utf8')) as ShardManifest).domain === 'digits')!);
  scramble(path.join(entry, 'tokens-00000.bin'));
  const second = await train();
  t.true(second.log.some((line) => /^\[data\] digits: .*; damaged cache entry tokenized again \(tokens-00000\.bin: its SHA-256 is/.test(line)), second.log.join('\n'));
  t.true(second.reused); // the same tokens as the run was trained on
  t.is(second.key, first.key);

  // Before: the run key followed the sources, so this reused the run trained on other tokens.
  scramble(path.join(entry, 'tokens-00000.bin'));
  const manifest = JSON.parse(readFileSync(path.join(entry, 'manifest.json'), 'utf8')) as ShardManifest;
  manifest.shards[0]!.sha256 = createHash('sha256').update(readFileSync(path.join(entry, 'tokens-00000.bin'))).digest('hex');
  writeFileSync(path.join(entry, 'manifest.json'), JSON.stringify(manifest));
  const third = await train();
  t.false(third.reused);
  t.not(third.data, first.data);
  t.not(third.key, first.key);
  t.notDeepEqual(third.losses, first.losses);
});

test('a NaN in a stopped run\'s checkpoint is discarded with the reason in the log, and the rerun finishes with an uninterrupted run\'s losses', async (t) => {
  const quantities = { digits: 3000, words: 1000 };
  const clean = await trainProxy({ config: parsePipelineConfig(tinySetup().raw), quantities });
  t.is(clean.record.status, 'finished');

  const { raw } = tinySetup();
  const config = parsePipelineConfig(raw);
  const controller = new AbortController();
  let steps = 0;
  const stopAfterFive = (model: ProxyModel): ProxyModel => ({
    trainStep: async (tokens, lr) => {
      const result = await model.trainStep(tokens, lr);
      if (++steps === 5) controller.abort();
      return result;
    },
    evalLoss: (windows) => model.evalLoss(windows),
    getParameters: () => model.getParameters(),
    setParameters: (parameters) => model.setParameters(parameters),
    getOptimizerState: () => model.getOptimizerState(),
    setOptimizerState: (state) => model.setOptimizerState(state),
    dispose: () => model.dispose(),
  });
  await t.throwsAsync(trainProxy({ config, quantities, signal: controller.signal, hooks: { wrapModel: stopAfterFive } }), { name: 'AbortError' });
  const checkpoint = path.join(config.cacheDir, 'checkpoints', clean.record.key, 'checkpoint.bin');
  // The parameters are the first of the three float32 vectors that end the file (old format and new).
  const model = new Model({ vocabSize: 256, ...config.model }, { backend: 'cpu', threads: 1 });
  const parameters = model.numParameters;
  model.dispose();
  const bytes = readFileSync(checkpoint);
  bytes.writeFloatLE(Number.NaN, bytes.length - 12 * parameters + 4 * 10);
  writeFileSync(checkpoint, bytes);

  const log: string[] = [];
  const rerun = await trainProxy({ config, quantities, log: (line) => log.push(line) });
  t.is(rerun.record.status, 'finished', rerun.record.error ?? ''); // before: failed, on this and every rerun
  t.deepEqual(rerun.record.result!.losses, clean.record.result!.losses);
  t.true(log.some((line) => line.includes('checkpoint.bin: checkpoint discarded (') && line.endsWith('); the run trains from the start')), log.join('\n'));
});

// `autoscale train`: one proxy run of a pipeline config with given tokens per domain, through the
// registry (a finished run is reused) and with checkpoints (an interrupted run resumes).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseTokenCount } from '../composition.js';
import { parseDataConfig } from '../data/config.js';
import { writeModelFile } from '../model-file.js';
import { Model, type ParameterTensor } from '../native.js';
import { trainProxy, type PipelineHooks, type ProxyRunSpec } from '../pipeline/run.js';
import { parsePipelineConfig } from '../pipeline-config.js';
import type { ProxyModel } from '../train.js';
import { demoDataFor } from './run.js';

/** Parses "books=1e5,code=200k" into token counts. */
export function parseQuantities(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`--tokens: "${part}" is not domain=count; write e.g. --tokens books=1e5,code=200k`);
    const domain = part.slice(0, eq).trim();
    if (domain in out) throw new Error(`--tokens names "${domain}" twice`);
    out[domain] = parseTokenCount(part.slice(eq + 1), `--tokens ${domain}`);
  }
  if (Object.keys(out).length === 0) throw new Error('--tokens is empty; write e.g. --tokens books=1e5,code=200k');
  return out;
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .argument('<config>', 'pipeline config (JSON): its data, model, training, eval, backend and cacheDir are used')
    .requiredOption('--tokens <list>', 'training tokens per domain, e.g. books=1e5,code=200k (domains left out get none)')
    .option('--seed <n>', 'seed of the initialisation and the data order (default: the config\'s first seed)')
    .option('--json', 'print the registry record (spec, result with the loss curve) as JSON')
    .option('--save <file>', 'write the final parameters to <file> for `autoscale eval`; only when the run is trained now (the registry keeps no parameters)')
    .description('Train one proxy run (or reuse it from the registry) and print its per-domain held-out losses')
    .action(async (file: string, options: { tokens: string; seed?: string; json?: boolean; save?: string }) => {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      const config = parsePipelineConfig(raw);
      const seed = options.seed === undefined ? undefined : Number(options.seed);
      if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) throw new Error(`--seed must be a whole number >= 0, got ${options.seed}`);
      const baseDir = path.dirname(path.resolve(file));
      // --save: keep the parameters the model holds when the run disposes it (after its last step).
      let finalParameters: Float32Array | undefined;
      let layout: readonly ParameterTensor[] | undefined; // the native model's, so the file names each tensor
      const hooks: PipelineHooks | undefined = options.save === undefined ? undefined : {
        wrapModel: (model) => {
          layout = model instanceof Model ? model.parameterLayout : undefined;
          return keepingParameters(model, (p) => { finalParameters = p; });
        },
      };
      const dataConfig = await demoDataFor(config);  // "data": "demo", as `autoscale run` accepts it
      const { record, reused } = await trainProxy({
        config,
        ...(dataConfig === undefined ? {} : { dataConfig }),
        baseDir,
        quantities: parseQuantities(options.tokens),
        ...(seed === undefined ? {} : { seed }),
        ...(hooks === undefined ? {} : { hooks }),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      if (options.save !== undefined && record.status === 'finished' && record.result) {
        if (reused || !finalParameters) {
          process.stderr.write(
            `--save: run ${record.key.slice(0, 12)} was reused from the registry, which keeps no parameters, so nothing was written to ${options.save}; ` +
              'fix: give --save the first time a run is trained, or train it again into an empty cache (a copy of the config with another "cacheDir")\n',
          );
          process.exitCode = 1;
        } else {
          const spec = record.spec as ProxyRunSpec;
          writeModelFile(options.save, {
            model: { vocabSize: spec.vocabSize, ...config.model },
            tokenizer: (dataConfig ?? parseDataConfig(config.data, baseDir, 'data.')).tokenizer,
            run: record.key,
            data: spec.data,
            parameters: finalParameters,
            ...(layout === undefined ? {} : { layout }),
          });
          process.stderr.write(`parameters written to ${options.save}\n`);
        }
      }
      if (options.json) {
        process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
        return;
      }
      if (record.status !== 'finished' || !record.result) {
        process.stderr.write(`the run failed: ${record.error ?? 'no result'}${record.errorCode ? ` [${record.errorCode}]` : ''}\n`);
        process.exitCode = 1;
        return;
      }
      const lines = [`run ${record.key.slice(0, 12)}${reused ? ' (reused from the registry)' : ''}: ${record.result.steps} steps, ${record.result.tokens} tokens`];
      for (const [domain, loss] of Object.entries(record.result.losses)) lines.push(`${domain.padEnd(12)} ${loss.toFixed(4)}`);
      const values = Object.values(record.result.losses);
      lines.push(`${'mean'.padEnd(12)} ${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(4)}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

/** A model that hands its parameters to `keep` just before it is disposed. */
function keepingParameters(model: ProxyModel, keep: (parameters: Float32Array) => void): ProxyModel {
  return {
    trainStep: (tokens, lr) => model.trainStep(tokens, lr),
    evalLoss: (windows) => model.evalLoss(windows),
    getParameters: () => model.getParameters(),
    setParameters: (parameters) => model.setParameters(parameters),
    getOptimizerState: () => model.getOptimizerState(),
    setOptimizerState: (state) => model.setOptimizerState(state),
    dispose: () => {
      try {
        keep(model.getParameters());
      } catch {
        // a model that failed mid-operation: nothing to keep (the run failed and nothing is saved)
      } finally {
        model.dispose();
      }
    },
  };
}

// `autoscale eval`: the held-out loss per domain of a saved model (`autoscale train --save`) on the
// held-out documents of a data config, one batched forward pass per domain.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadDataConfig } from '../data/config.js';
import { defaultCacheDir, prepareData } from '../data/prepare.js';
import { heldOutWindows } from '../data/held-out.js';
import { getTokenizer } from '../data/tokenizer.js';
import { readModelFile } from '../model-file.js';
import { Model } from '../native.js';
import { DEFAULT_EVAL, DEFAULTS } from '../pipeline-config.js';

/** The per-domain result of `autoscale eval`. */
export interface DomainEval {
  domain: string;
  windows: number;
  /** Mean loss (nats per token) over the windows. */
  loss: number;
  perplexity: number;
}

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${option} must be a whole number >= 1, got ${text}`);
  return n;
}

/** Cache folder and default windows: a pipeline config's (cacheDir/data, eval.windowsPerDomain), else the data defaults. */
function configDefaults(file: string): { cacheDir: string; windows: number } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    raw = undefined; // loadDataConfig reports unreadable or invalid JSON
  }
  const object = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  if (typeof object.data === 'object' && object.data !== null && !('domains' in object)) {
    const cacheDir = typeof object.cacheDir === 'string' ? object.cacheDir : DEFAULTS.cacheDir;
    const evalSection = object.eval as { windowsPerDomain?: unknown } | undefined;
    const windows = typeof evalSection?.windowsPerDomain === 'number' ? evalSection.windowsPerDomain : DEFAULT_EVAL.windowsPerDomain;
    return { cacheDir: path.join(path.resolve(cacheDir), 'data'), windows };
  }
  return { cacheDir: defaultCacheDir(), windows: DEFAULT_EVAL.windowsPerDomain };
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .argument('<model-file>', 'parameters written by `autoscale train <config> --tokens ... --save <model-file>`')
    .argument('<data-config>', 'data config JSON (or a pipeline config with a "data" object) whose held-out documents are evaluated')
    .option('--windows <n>', `held-out windows per domain (default: the pipeline config's eval.windowsPerDomain, else ${DEFAULT_EVAL.windowsPerDomain})`)
    .option('--cache <dir>', 'shard cache folder (default: a pipeline config\'s cacheDir/data, else $AUTOSCALE_CACHE or ~/.cache/autoscale-lm)')
    .option('--backend <name>', 'cpu, cuda or auto', 'auto')
    .option('--threads <n>', 'CPU threads (default: all)')
    .option('--json', 'print the per-domain losses as JSON')
    .description('Evaluate a saved model: held-out loss and perplexity per domain of a data config')
    .action(async (modelFile: string, configFile: string, options: { windows?: string; cache?: string; backend: string; threads?: string; json?: boolean }) => {
      if (!['cpu', 'cuda', 'auto'].includes(options.backend)) throw new Error(`--backend must be cpu, cuda or auto, got "${options.backend}"`);
      const threads = options.threads === undefined ? 0 : positiveInteger(options.threads, '--threads');
      const { header, parameters } = readModelFile(modelFile);
      const config = await loadDataConfig(configFile);
      const defaults = configDefaults(configFile);
      const maxWindows = options.windows === undefined ? defaults.windows : positiveInteger(options.windows, '--windows');
      const T = header.model.contextLength;

      // The text must be tokenized as the model was trained: same tokenizer, same vocabulary.
      if (config.tokenizer !== header.tokenizer) {
        throw new Error(
          `${modelFile} was trained with the "${header.tokenizer}" tokenizer but ${configFile} uses "${config.tokenizer}"; ` +
            `fix: set "tokenizer": "${header.tokenizer}" in the data config, or evaluate a model trained with "${config.tokenizer}"`,
        );
      }
      const vocabSize = getTokenizer(config.tokenizer).vocabSize;
      if (vocabSize !== header.model.vocabSize) {
        throw new Error(
          `${modelFile} has a vocabulary of ${header.model.vocabSize} ids but the "${config.tokenizer}" tokenizer of ${configFile} has ${vocabSize}; ` +
            'fix: evaluate with the data config the model was trained on',
        );
      }

      const cacheDir = path.resolve(options.cache ?? defaults.cacheDir);
      const prepared = await prepareData(config, { cacheDir });
      const short = prepared.domains.filter((d) => d.heldOut.tokens.length < T + 1);
      if (short.length > 0) {
        throw new Error(
          `${modelFile} reads windows of ${T + 1} tokens (context length ${T}) but ${short.map((d) => `"${d.name}" holds out ${d.heldOut.tokens.length}`).join(', ')} tokens in ${configFile}; ` +
            'fix: hold out more text (heldOut.fraction or heldOut.documents in the data config, or more documents), or evaluate a model with a shorter context',
        );
      }
      if (prepared.key !== header.data) {
        process.stderr.write(`note: ${configFile} prepares other data than the run of ${modelFile} was trained on; its held-out text may overlap that run's training text\n`);
      }

      const model = new Model(header.model, { backend: options.backend as 'cpu' | 'cuda' | 'auto', threads });
      let results: DomainEval[];
      try {
        if (model.numParameters !== header.parameters) {
          throw new Error(
            `${modelFile} holds ${header.parameters} parameters but its model shape needs ${model.numParameters}; ` +
              'fix: the file is corrupt or from another trainer build; write it again with `autoscale train ... --save`',
          );
        }
        model.setParameters(parameters);
        results = [];
        for (const domain of prepared.domains) {
          const windows = heldOutWindows(prepared, domain.name, T, maxWindows);
          const perWindow = await model.evalLoss(windows);
          let sum = 0;
          for (const loss of perWindow) sum += loss;
          const loss = sum / perWindow.length;
          results.push({ domain: domain.name, windows: perWindow.length, loss, perplexity: Math.exp(loss) });
        }
      } finally {
        model.dispose();
      }
      const meanLoss = results.reduce((a, r) => a + r.loss, 0) / results.length;
      if (options.json) {
        const doc = {
          model: path.resolve(modelFile),
          run: header.run,
          data: prepared.key,
          sameData: prepared.key === header.data,
          backend: model.backend,
          domains: results,
          mean: { loss: meanLoss, perplexity: Math.exp(meanLoss) },
        };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        return;
      }
      const lines = [`model ${header.run.slice(0, 12)} (${header.parameters} parameters, context ${T}) on ${configFile}`];
      lines.push(`${'domain'.padEnd(12)} ${'windows'.padStart(7)} ${'loss'.padStart(8)} ${'perplexity'.padStart(10)}`);
      for (const r of results) {
        lines.push(`${r.domain.padEnd(12)} ${String(r.windows).padStart(7)} ${r.loss.toFixed(4).padStart(8)} ${r.perplexity.toFixed(2).padStart(10)}`);
      }
      lines.push(`${'mean'.padEnd(12)} ${''.padStart(7)} ${meanLoss.toFixed(4).padStart(8)} ${Math.exp(meanLoss).toFixed(2).padStart(10)}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

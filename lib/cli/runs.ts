// `autoscale runs`: the run registry, listed: every proxy run with its status and results.
import type { Command } from 'commander';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { DEFAULTS } from '../pipeline-config.js';
import { isInterrupted, openRegistry, type RunRecord, type RunStatus } from '../registry.js';
import { formatCount } from '../format.js';
import type { ProxyRunResult } from '../train.js';

/** The registry file inside a cache folder. */
export function registryFile(cacheDir: string): string {
  return path.join(cacheDir, 'runs.sqlite');
}

function meanLoss(result: ProxyRunResult | null): number | null {
  if (!result) return null;
  const values = Object.values(result.losses);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

function statusOf(record: RunRecord): string {
  if (record.status === 'running' && isInterrupted(record)) return 'interrupted';
  return record.status;
}

export function registerRunsCommand(program: Command): void {
  program
    .command('runs')
    .description('List the proxy runs in the run registry: status, tokens, held-out losses, time, errors')
    .option('--cache <dir>', 'cache folder holding runs.sqlite (the config\'s "cacheDir")', DEFAULTS.cacheDir)
    .option('--status <status>', 'only runs with this status: running | finished | failed')
    .option('--json', 'print the records as JSON (spec, result and all)')
    .option('--forget-failed', 'delete the failed runs so that the next `autoscale run` retries them')
    .action((options: { cache: string; status?: string; json?: boolean; forgetFailed?: boolean }) => {
      const file = registryFile(options.cache);
      if (!existsSync(file)) {
        process.stderr.write(`autoscale runs: no registry at ${file} yet; \`autoscale run\` creates it\n`);
        if (options.json) process.stdout.write('[]\n');
        return;
      }
      if (options.status && !['running', 'finished', 'failed'].includes(options.status)) {
        throw new Error(`--status must be running, finished or failed, got "${options.status}"`);
      }
      const registry = openRegistry(file);
      try {
        if (options.forgetFailed) {
          const n = registry.forget({ status: 'failed' });
          process.stdout.write(`forgot ${n} failed run(s)\n`);
          return;
        }
        const records = registry.list<ProxyRunResult>(options.status ? { status: options.status as RunStatus } : {});
        if (options.json) {
          process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
          return;
        }
        const counts = registry.counts();
        const lines = [`${file}: ${counts.finished} finished, ${counts.failed} failed, ${counts.running} running or interrupted`];
        lines.push(['key', 'status', 'tokens', 'loss', 'seconds', 'tries', 'label / error'].join('\t'));
        for (const r of records) {
          const loss = meanLoss(r.result);
          lines.push(
            [
              r.key.slice(0, 12),
              statusOf(r),
              r.result ? formatCount(r.result.tokens) : '-',
              loss === null ? '-' : loss.toFixed(4),
              r.durationS === null ? '-' : r.durationS.toFixed(1),
              String(r.attempts),
              r.label + (r.worker ? ` (worker ${r.worker})` : '') + (r.error ? `: ${r.error}${r.errorCode ? ` [${r.errorCode}]` : ''}` : ''),
            ].join('\t'),
          );
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        registry.close();
      }
    });
}

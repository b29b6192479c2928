// `autoscale info`: version and backends.
import type { Command } from 'commander';
import { backendInfo } from '../native.js';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('Print the version and the available compute backends (CPU threads, CUDA devices)')
    .option('--json', 'print JSON: {"version", "backends": {"cpu": {...}, "cuda": {...}}}')
    .action((options: { json?: boolean }) => {
      const info = backendInfo();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return;
      }
      const cuda = info.backends.cuda;
      const lines = [
        `autoscale-lm ${info.version}`,
        `cpu:  available, ${info.backends.cpu.threads} threads; GEMM blocking ${info.backends.cpu.gemm}`,
        `cuda: ${cuda.compiled ? 'compiled in' : 'not compiled in'}; ` +
          (cuda.available
            ? `${cuda.devices.length} device(s): ${cuda.devices.map((d) => `#${d.index} ${d.name}`).join(', ')}`
            : `unavailable${cuda.reason ? ` (${cuda.reason})` : ''}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

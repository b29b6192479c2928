#!/usr/bin/env node
// The `autoscale` command. Each subcommand lives in lib/cli/<name>.ts and registers itself here.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerInfoCommand } from './cli/info.js';
import { registerRunCommand } from './cli/run.js';
import { registerRunsCommand } from './cli/runs.js';
import { registerTrainCommand } from './cli/train.js';
import { registerDdoCommand } from './cli/ddo.js';
import { registerPredictCommand } from './cli/predict.js';
import { registerDataCommand } from './cli/data.js';
import { registerBenchCommand } from './cli/bench.js';
import { registerEvalCommand } from './cli/eval.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Builds the `autoscale` program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command('autoscale')
    .description('AutoScale: compute-optimal pretraining data composition from small-scale DDO runs')
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();
  registerInfoCommand(program);
  registerRunCommand(program);
  registerRunsCommand(program);
  registerTrainCommand(program);
  registerDdoCommand(program);
  registerPredictCommand(program);
  registerDataCommand(program);
  registerBenchCommand(program);
  registerEvalCommand(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    // commander signals --help/--version and its own usage errors through exitOverride.
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') {
      process.exitCode = 0;
      return;
    }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`autoscale: ${message}\n`);
    process.exitCode = 1;
  }
}

// Run when executed as a script (not when imported by tests).
const invoked = process.argv[1] ? new URL(`file://${process.argv[1]}`).pathname : '';
if (invoked.endsWith('/cli.js') || invoked.endsWith('/cli.ts')) {
  await main(process.argv);
}

#!/usr/bin/env node
// The `autoscale` command. Each subcommand lives in lib/cli/<name>.ts and registers itself here.
import { Command } from 'commander';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerInfoCommand } from './cli/info.js';
import { registerRunCommand } from './cli/run.js';
import { registerRunsCommand } from './cli/runs.js';
import { registerTrainCommand } from './cli/train.js';
import { registerDdoCommand } from './cli/ddo.js';
import { registerPredictCommand } from './cli/predict.js';
import { registerDataCommand } from './cli/data.js';
import { registerBenchCommand } from './cli/bench.js';
import { registerEvalCommand } from './cli/eval.js';
import { registerPilotCommand } from './cli/pilot.js';
import { registerWorkerCommand } from './cli/worker.js';
import { registerCompareCommand } from './cli/compare.js';

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
  registerPilotCommand(program);
  registerCompareCommand(program);
  registerRunsCommand(program);
  registerTrainCommand(program);
  registerDdoCommand(program);
  registerPredictCommand(program);
  registerDataCommand(program);
  registerBenchCommand(program);
  registerEvalCommand(program);
  registerWorkerCommand(program);
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

/**
 * True when `script` (process.argv[1]) is this file: the real path of both compared, so the CLI runs
 * through a bin symlink (node_modules/.bin/autoscale) and not when a user's own cli.js imports
 * the package. A script given without its extension (`node dist/cli`) is matched as Node resolves it.
 *
 * @example isMainModule(process.argv[1], import.meta.url)
 */
export function isMainModule(script: string | undefined, moduleUrl: string): boolean {
  if (!script) return false;
  let self: string;
  try {
    self = realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
  for (const candidate of [script, `${script}${path.extname(self)}`]) {
    try {
      if (realpathSync(path.resolve(candidate)) === self) return true;
    } catch {
      // not a file: try the next spelling
    }
  }
  return false;
}

// Run when executed as the `autoscale` command (not when imported).
if (isMainModule(process.argv[1], import.meta.url)) {
  await main(process.argv);
}

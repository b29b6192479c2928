// Helpers of the data tests: temporary folders removed after each test, small corpora written to them.
import type { ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDataConfig, prepareData, type DataConfig, type PreparedData } from '../../lib/data/index.js';

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'autoscale-data-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes files (relative path -> content) under dir. */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

/** A data config from a plain object, paths relative to dir. */
export function config(dir: string, value: unknown): DataConfig {
  return parseDataConfig(value, dir);
}

/**
 * A corpus of `domains` domains, each of `documents` documents made only of that domain's letters
 * (domain 0: a-e, domain 1: f-j, ...), each document starting with a unique marker "<d:k>", written as
 * one JSONL file per domain and prepared with the byte tokenizer.
 */
export async function letterCorpus(
  t: ExecutionContext,
  options: { domains: number; documents: number; documentBytes: number; heldOut?: unknown },
): Promise<PreparedData> {
  const dir = tempDir(t);
  const names = Array.from({ length: options.domains }, (_, d) => `d${d}`);
  for (const [d, name] of names.entries()) {
    const lines: string[] = [];
    for (let k = 0; k < options.documents; k++) lines.push(JSON.stringify({ text: letterDocument(d, k, options.documentBytes) }));
    writeFiles(dir, { [`${name}.jsonl`]: `${lines.join('\n')}\n` });
  }
  const data = config(dir, {
    tokenizer: 'byte',
    heldOut: options.heldOut ?? { fraction: 0.1, seed: 0 },
    domains: names.map((name) => ({ name, sources: [`${name}.jsonl`] })),
  });
  return prepareData(data, { cacheDir: path.join(dir, 'cache') });
}

/** Domain d's document k: "<d:k>" then letters of domain d (5 letters per domain) to `bytes` bytes. */
export function letterDocument(d: number, k: number, bytes: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxy'.slice(5 * d, 5 * d + 5);
  let text = `<${d}:${k}>`;
  let x = (d * 7919 + k * 104729) >>> 0;
  while (text.length < bytes) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    text += letters[(x >>> 16) % 5];
  }
  return text;
}

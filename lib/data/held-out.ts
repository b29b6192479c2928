// The held-out evaluation windows, cut from the held-out side of the split (split.ts) of prepared
// data (prepare.ts). Their own module, so that split.ts, which prepare.ts uses, does not need
// PreparedData in turn.

import { DataError } from './errors.js';
import type { PreparedData, PreparedDomain } from './prepare.js';
/**
 * Held-out evaluation windows of one domain: up to `maxWindows` windows of contextLength + 1 tokens
 * (inputs window[0..T), targets window[1..T]), as one Uint16Array of W * (T + 1) ids. The held-out
 * stream is cut at stride T (each held-out token is a target of at most one window) and, when more
 * windows exist than asked for, W are taken evenly spread over it. The result depends only on the
 * prepared data, T and maxWindows: it is the same for every run.
 *
 * @example
 * const windows = heldOutWindows(prepared, 'books', 256, 64); // windows.length === W * 257, W <= 64
 */
export function heldOutWindows(prepared: PreparedData, domain: string, contextLength: number, maxWindows: number): Uint16Array {
  const found = findDomain(prepared, domain);
  checkWindowOptions(contextLength, maxWindows);
  const tokens = found.heldOut.tokens;
  const available = Math.floor((tokens.length - 1) / contextLength);
  if (available < 1) {
    throw new DataError('ERR_DATA_EMPTY',
      `domain "${domain}" holds out ${tokens.length} tokens, fewer than one window of ${contextLength + 1}; ` +
        'fix: hold out more (heldOut.fraction or heldOut.documents) or use a shorter context');
  }
  const count = Math.min(maxWindows, available);
  const width = contextLength + 1;
  const windows = new Uint16Array(count * width);
  for (let k = 0; k < count; k++) {
    const start = Math.floor((k * available) / count) * contextLength;
    windows.set(tokens.subarray(start, start + width), k * width);
  }
  return windows;
}

/** Held-out windows of every domain, concatenated for one batched forward pass. */
export interface HeldOutSet {
  /** Domain names, in prepared order. */
  domains: string[];
  /** All windows, domain after domain: sum(counts) * (T + 1) ids. */
  windows: Uint16Array;
  /** Windows per domain, in `domains` order. */
  counts: number[];
}

/**
 * heldOutWindows for every domain, concatenated domain after domain (the shape the trainer's
 * per-domain evaluation takes).
 *
 * @example
 * const evalSet = heldOutSet(prepared, 256, 64); // evalSet.counts[i] windows of evalSet.domains[i]
 */
export function heldOutSet(prepared: PreparedData, contextLength: number, maxWindowsPerDomain: number): HeldOutSet {
  const parts = prepared.domains.map((d) => heldOutWindows(prepared, d.name, contextLength, maxWindowsPerDomain));
  const windows = new Uint16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    windows.set(part, at);
    at += part.length;
  }
  return { domains: prepared.domains.map((d) => d.name), windows, counts: parts.map((part) => part.length / (contextLength + 1)) };
}

function findDomain(prepared: PreparedData, name: string): PreparedDomain {
  const found = prepared.domains.find((d) => d.name === name);
  if (!found) {
    throw new DataError('ERR_DATA_SAMPLER', `no domain "${name}" in the prepared data; fix: use one of ${prepared.domains.map((d) => `"${d.name}"`).join(', ')}`);
  }
  return found;
}

function checkWindowOptions(contextLength: number, maxWindows: number): void {
  if (!Number.isSafeInteger(contextLength) || contextLength < 1) {
    throw new DataError('ERR_DATA_SAMPLER', `contextLength is ${contextLength}; fix: give a whole number of tokens >= 1`);
  }
  if (!Number.isSafeInteger(maxWindows) || maxWindows < 1) {
    throw new DataError('ERR_DATA_SAMPLER', `maxWindows is ${maxWindows}; fix: give a whole number >= 1`);
  }
}

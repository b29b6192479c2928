// The run spec: everything that determines a proxy run's result. Its canonical hash (registry.runKey) is the
// run's registry key, and executeRun (execute.ts) trains a run from the spec alone, so what is hashed is
// exactly what is run.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { addonCandidates, backendInfo } from '../native.js';
import type { PipelineConfig } from '../pipeline-config.js';

/** Bumped whenever what a proxy run computes changes (trainer loop, schedule, sampler): old results stop matching. */
export const PROXY_RUN_FORMAT = 1;

/** Everything that determines a proxy run's result; its canonical hash is the run's registry key. */
export interface ProxyRunSpec {
  kind: 'proxy-run';
  format: number;
  /** Package version. */
  version: string;
  /**
   * What the trainer is (nativeResultId): sha256 (first 16 hex) of the native addon binary, so a rebuilt trainer (new
   * kernels, new float rounding) gets new keys; for CPU runs followed by "+kc" and the GEMM's panel depth, which the
   * same binary chooses from the machine's L1d and which fixes the order of its sums.
   */
  native: string;
  /** PreparedData.key: the exact training and held-out tokens. */
  data: string;
  vocabSize: number;
  model: PipelineConfig['model'];
  training: Omit<PipelineConfig['training'], 'checkpointEverySeconds' | 'evalPoints'>;
  evalPoints: number;
  windowsPerDomain: number;
  seed: number;
  /** Training tokens asked of each domain (whole tokens; the sampler realises round(N_i / T) windows). */
  quantities: Record<string, number>;
  backend: 'cpu' | 'cuda';
}

/** What every run of one config shares: the spec less the run's own quantities, seed and evaluation points. */
export type SharedSpec = Omit<ProxyRunSpec, 'quantities' | 'seed' | 'evalPoints'>;

let addonHash: string | undefined;

/** Hash of the addon file the binding loads (the first candidate that exists); "none" when there is none. */
export function nativeBuildId(): string {
  if (addonHash === undefined) {
    const file = addonCandidates().find((candidate) => existsSync(candidate));
    addonHash = file ? createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16) : 'none';
  }
  return addonHash;
}

const KC_MARK = '+kc';

/**
 * The trainer a run's result depends on: nativeBuildId(), and for the CPU backend "+kc<KC>", the GEMM's panel depth
 * on this machine (backendInfo().backends.cpu.gemmKc). One binary sums the GEMM's products in panels of KC, chosen from
 * the L1d size, so on a machine with another L1d (32 KB: 256; 48 KB: 384 with AVX-512) it trains to other bits.
 */
export function nativeResultId(backend: 'cpu' | 'cuda'): string {
  const build = nativeBuildId();
  return backend === 'cpu' && build !== 'none' ? `${build}${KC_MARK}${backendInfo().backends.cpu.gemmKc}` : build;
}

/** A nativeResultId's parts: the addon's hash, and for a CPU run the GEMM's panel depth (undefined otherwise). */
export function parseNativeResultId(id: string): { build: string; kc: string | undefined } {
  const [build, kc] = id.split(KC_MARK);
  return { build: build!, kc };
}

/**
 * The part of the spec a config fixes for all its runs, given the prepared data and the resolved backend.
 * Checkpoint cadence and evaluation points of the config are left out: they do not change a run's result
 * (evalPoints is set per run by makeSpec, as validation runs evaluate more often).
 *
 * @example sharedSpec(config, { key: prepared.key, vocabSize: prepared.vocabSize }, 'cpu', backendInfo().version)
 */
export function sharedSpec(
  config: PipelineConfig,
  data: { key: string; vocabSize: number },
  backend: 'cpu' | 'cuda',
  version: string,
): SharedSpec {
  const { checkpointEverySeconds: _checkpoints, evalPoints: _points, ...training } = config.training;
  return {
    kind: 'proxy-run',
    format: PROXY_RUN_FORMAT,
    version,
    native: nativeResultId(backend),
    data: data.key,
    vocabSize: data.vocabSize,
    model: config.model,
    training,
    windowsPerDomain: config.eval.windowsPerDomain,
    backend,
  };
}

/**
 * The spec of one run: the shared part plus its quantities (rounded to whole tokens), seed and evaluation points.
 *
 * @example runKey(makeSpec(shared, { books: 1e5, code: 2e5 }, 0, 2)) // the run's registry key
 */
export function makeSpec(shared: SharedSpec, quantities: Record<string, number>, seed: number, evalPoints: number): ProxyRunSpec {
  // Field order as the registry has always stored it (the key hashes a canonical form, so order is cosmetic).
  return {
    kind: shared.kind,
    format: shared.format,
    version: shared.version,
    native: shared.native,
    data: shared.data,
    vocabSize: shared.vocabSize,
    model: shared.model,
    training: shared.training,
    evalPoints,
    windowsPerDomain: shared.windowsPerDomain,
    seed,
    quantities: roundQuantities(quantities),
    backend: shared.backend,
  };
}

function roundQuantities(tokens: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(tokens).map(([d, n]) => [d, Math.max(0, Math.round(n))]));
}

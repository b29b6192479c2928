// The mixture sampler: a training stream that realises a composition exactly.
//
// Unit of account. A training window is T + 1 consecutive tokens of ONE domain's training stream
// (its training documents in source order, each followed by endOfText); the trainer reads inputs
// window[0..T) and targets window[1..T], so a window contributes T training tokens (targets) of its
// domain. A quantity N_i becomes w_i = round(N_i / T) windows, so the run trains on exactly w_i * T
// tokens of domain i, within T/2 of N_i ("to within one window").
//
// Which windows. An epoch of domain i cuts its stream of L_i tokens into P_i = floor((L_i - 1) / T)
// windows at stride T from a random offset in [0, L_i - 1 - P_i * T], and visits them in a random
// order. Window j of the run is window perm_e[j mod P_i] of epoch e = floor(j / P_i): no window
// repeats before the domain's supply is used up; then another epoch starts, and it is counted.
//
// Interleaving, with common random numbers. Window j of domain i gets the key (j + u_ij) / w_i with
// u_ij uniform in [0, 1): each domain's windows are spread evenly but at random over the run
// (stratified), and the run is all windows sorted by key, cut into batches of B. Every random choice
// of domain i (epoch orders, offsets, u_ij) comes from streams named by (seed, domain name, purpose),
// never from the other domains' quantities. So two runs that differ only in domain i's quantity
// contain the same windows of every other domain in the same relative order, and domain i's
// windows in the smaller run are the first ones of the larger: their loss difference measures the
// composition, not the sampling noise.
import { DataError } from './errors.js';
import type { PreparedData } from './prepare.js';
import { RandomStream } from './random.js';

/** Options of the sampler. */
export interface MixtureOptions {
  /** T: training tokens per window (a window holds T + 1 ids). */
  contextLength: number;
  /** B: windows per batch (the last batch may hold fewer). */
  batchSize: number;
  /** Seed of every random choice. */
  seed: number;
}

/** What the run takes from one domain. */
export interface DomainPlan {
  name: string;
  /** Position in PreparedData.domains (the ids in MixtureBatch.domains). */
  index: number;
  /** N_i as asked. */
  requestedTokens: number;
  /** w_i = round(N_i / T). */
  windows: number;
  /** Training tokens of this domain in the run: windows * T. */
  tokens: number;
  /** Unique training tokens the domain has (its supply). */
  uniqueTokens: number;
  /** Windows in one pass over the domain: floor((uniqueTokens - 1) / T). */
  windowsPerEpoch: number;
  /** Passes over the supply: windows / windowsPerEpoch (1.5: half the data is seen twice). */
  epochs: number;
  /** Epochs begun: ceil(windows / windowsPerEpoch); above 1 means data repeats. */
  epochsStarted: number;
  /** Windows that repeat an earlier window's position in the supply: max(0, windows - windowsPerEpoch). */
  repeatedWindows: number;
}

/** One batch of the training stream. */
export interface MixtureBatch {
  /** Batch number, from 0. */
  index: number;
  /** rows * (T + 1) token ids, window after window. */
  tokens: Uint16Array;
  /** Windows in this batch: B, except possibly in the last batch. */
  rows: number;
  /** Domain index (PreparedData.domains order) of each window. */
  domains: Uint16Array;
  /** Training tokens (targets) per domain in this batch, in PreparedData.domains order. */
  tokensByDomain: number[];
}

interface DomainStream {
  tokens: Uint16Array;
  windowsPerEpoch: number;
  slack: number;
  name: string;
  epochs: Map<number, { order: Uint32Array; offset: number }>;
}

/**
 * The training stream of one proxy run: exactly round(N_i / T) windows of each domain i, interleaved
 * at random, deterministic from the seed, addressable by batch index (so a resumed run sees the same
 * batches). Quantities name domains of the prepared data; a domain left out gets 0 tokens.
 *
 * @example
 * const sampler = new MixtureSampler(prepared, { books: 3e6, code: 1e6 }, { contextLength: 256, batchSize: 16, seed: 1 });
 * sampler.domains.map((d) => [d.name, d.tokens, d.epochs]);
 * for (const batch of sampler.batches()) await model.trainStep(batch.tokens, lr);
 */
export class MixtureSampler {
  readonly contextLength: number;
  readonly batchSize: number;
  readonly seed: number;
  /** One plan per prepared domain, in PreparedData.domains order. */
  readonly domains: readonly DomainPlan[];
  /** Windows in the run: the sum of the plans' windows. */
  readonly totalWindows: number;
  /** Batches (optimizer steps) in the run: ceil(totalWindows / batchSize). */
  readonly steps: number;

  private readonly rowDomain: Uint16Array;
  private readonly rowWindow: Uint32Array;
  private readonly streams: DomainStream[];

  constructor(prepared: PreparedData, quantities: Readonly<Record<string, number>>, options: MixtureOptions) {
    const { contextLength: T, batchSize, seed } = options;
    checkInteger('contextLength', T, 1);
    checkInteger('batchSize', batchSize, 1);
    checkInteger('seed', seed, 0);
    if (prepared.domains.length > 65535) throw new DataError('ERR_DATA_SAMPLER', 'more than 65535 domains; fix: merge domains');
    const names = new Set(prepared.domains.map((d) => d.name));
    for (const [name, quantity] of Object.entries(quantities)) {
      if (!names.has(name)) {
        throw new DataError('ERR_DATA_SAMPLER',
          `quantities name the domain "${name}", which the prepared data lacks; fix: use only ${[...names].map((n) => `"${n}"`).join(', ')}`);
      }
      if (typeof quantity !== 'number' || !Number.isFinite(quantity) || quantity < 0) {
        throw new DataError('ERR_DATA_SAMPLER', `the quantity of domain "${name}" is ${quantity}; fix: give a token count >= 0`);
      }
    }
    this.contextLength = T;
    this.batchSize = batchSize;
    this.seed = seed;

    this.streams = prepared.domains.map((d) => {
      const windowsPerEpoch = Math.max(0, Math.floor((d.train.tokens.length - 1) / T));
      return { tokens: d.train.tokens, windowsPerEpoch, slack: d.train.tokens.length - 1 - windowsPerEpoch * T, name: d.name, epochs: new Map() };
    });
    this.domains = prepared.domains.map((d, i): DomainPlan => {
      const requestedTokens = quantities[d.name] ?? 0;
      const windows = Math.round(requestedTokens / T);
      const windowsPerEpoch = this.streams[i]!.windowsPerEpoch;
      if (windows > 0 && windowsPerEpoch < 1) {
        throw new DataError('ERR_DATA_SAMPLER',
          `domain "${d.name}" has ${d.trainTokens} training tokens, fewer than one window of ${T + 1}; ` +
            'fix: use a shorter context, add text to the domain, or give it a quantity of 0');
      }
      return {
        name: d.name,
        index: i,
        requestedTokens,
        windows,
        tokens: windows * T,
        uniqueTokens: d.trainTokens,
        windowsPerEpoch,
        epochs: windowsPerEpoch > 0 ? windows / windowsPerEpoch : 0,
        epochsStarted: windowsPerEpoch > 0 ? Math.ceil(windows / windowsPerEpoch) : 0,
        repeatedWindows: Math.max(0, windows - windowsPerEpoch),
      };
    });
    this.totalWindows = this.domains.reduce((sum, plan) => sum + plan.windows, 0);
    if (this.totalWindows === 0) {
      throw new DataError('ERR_DATA_SAMPLER', `the quantities hold less than half a window (${T} tokens) in every domain; fix: ask for more tokens`);
    }
    if (this.totalWindows > 0xffffffff) throw new DataError('ERR_DATA_SAMPLER', `${this.totalWindows} windows are too many; fix: use a longer context or fewer tokens`);
    this.steps = Math.ceil(this.totalWindows / batchSize);

    // Merge the domains' windows by key (j + u_ij) / w_i; within a domain keys increase with j.
    this.rowDomain = new Uint16Array(this.totalWindows);
    this.rowWindow = new Uint32Array(this.totalWindows);
    const active = this.domains.filter((plan) => plan.windows > 0);
    const jitter = active.map((plan) => new RandomStream(seed, plan.name, 'slots'));
    const next = active.map(() => 0);
    const keys = active.map((plan, a) => jitter[a]!.next() / plan.windows);
    for (let row = 0; row < this.totalWindows; row++) {
      let best = -1;
      for (let a = 0; a < active.length; a++) {
        if (next[a]! < active[a]!.windows && (best < 0 || keys[a]! < keys[best]!)) best = a;
      }
      const plan = active[best]!;
      this.rowDomain[row] = plan.index;
      this.rowWindow[row] = next[best]!;
      const j = ++next[best]!;
      if (j < plan.windows) keys[best] = (j + jitter[best]!.next()) / plan.windows;
    }
  }

  /**
   * The token windows of batch `index` (0-based): rows * (T + 1) ids, rows = batchSize except
   * possibly in the last batch.
   *
   * @example
   * const tokens = sampler.batch(0); // tokens.length === Math.min(B, sampler.totalWindows) * (T + 1)
   */
  batch(index: number): Uint16Array {
    const [from, to] = this.rowRange(index);
    const width = this.contextLength + 1;
    const tokens = new Uint16Array((to - from) * width);
    for (let row = from; row < to; row++) {
      const start = this.windowStart(this.rowDomain[row]!, this.rowWindow[row]!);
      tokens.set(this.streams[this.rowDomain[row]!]!.tokens.subarray(start, start + width), (row - from) * width);
    }
    return tokens;
  }

  /**
   * The domain index of each window of batch `index` (PreparedData.domains order).
   *
   * @example
   * sampler.batchDomains(0) // Uint16Array [2, 0, 4, ...]
   */
  batchDomains(index: number): Uint16Array {
    const [from, to] = this.rowRange(index);
    return this.rowDomain.slice(from, to);
  }

  /**
   * The batches from `from` (default 0) to the end, with their per-domain bookkeeping.
   *
   * @example
   * for (const batch of sampler.batches()) seen[batch.index] = batch.tokensByDomain;
   */
  *batches(from = 0): Generator<MixtureBatch> {
    for (let index = from; index < this.steps; index++) {
      const domains = this.batchDomains(index);
      const tokensByDomain = this.domains.map(() => 0);
      for (const d of domains) tokensByDomain[d] = tokensByDomain[d]! + this.contextLength;
      yield { index, tokens: this.batch(index), rows: domains.length, domains, tokensByDomain };
    }
  }

  [Symbol.iterator](): Generator<MixtureBatch> {
    return this.batches();
  }

  private rowRange(index: number): [number, number] {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.steps) {
      throw new DataError('ERR_DATA_SAMPLER', `batch index ${index} is outside 0..${this.steps - 1}; fix: ask for a batch of this run`);
    }
    const from = index * this.batchSize;
    return [from, Math.min(from + this.batchSize, this.totalWindows)];
  }

  // Token offset of the domain's window j in its training stream.
  private windowStart(domain: number, j: number): number {
    const stream = this.streams[domain]!;
    const epoch = Math.floor(j / stream.windowsPerEpoch);
    let pass = stream.epochs.get(epoch);
    if (!pass) {
      const random = new RandomStream(this.seed, stream.name, 'epoch', epoch);
      pass = { offset: random.integer(stream.slack + 1), order: random.permutation(stream.windowsPerEpoch) };
      stream.epochs.set(epoch, pass);
    }
    return pass.offset + pass.order[j % stream.windowsPerEpoch]! * this.contextLength;
  }
}

function checkInteger(field: string, value: number, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new DataError('ERR_DATA_SAMPLER', `${field} is ${value}; fix: give a whole number >= ${min}`);
  }
}

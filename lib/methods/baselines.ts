// The reference mixtures that need no proxy run: uniform, natural (proportional to each domain's unique
// tokens), UniMax (Chung et al. 2023, "UniMax: Fairer and more effective language sampling for large-scale
// multilingual pretraining"), and the supply cap every method's answer goes through before it is trained:
// a domain cannot give a run more than maxEpochs passes over its unique tokens.

import { formatSignificant, formatTokens } from '../format.js';
import { checkDomainNames, mixtureVector, toRecord } from './simplex.js';
import type { MethodResult, SupplyLimit } from './types.js';

// Shares within this relative margin of their cap count as at the cap: rounding in the redistribution (a sum
// of D shares, one division) is ~1e-16 relative; 1e-12 keeps a share equal to its cap from being "cut".
const CAP_TOLERANCE = 1e-12;

/**
 * Checks a SupplyLimit against the domains of a mixture: budget and maxEpochs positive and finite, a finite
 * supply >= 0 for exactly those domains. Returns the supplies in the order of `domains`.
 *
 * @example checkSupplyLimit({ supply: { a: 10 }, budget: 5, maxEpochs: 1 }, ['a'], 'x') // [10]
 */
export function checkSupplyLimit(limit: SupplyLimit, domains: readonly string[], what: string): number[] {
  if (limit === null || typeof limit !== 'object') throw new Error(`${what}: the supply limit must be an object { supply, budget, maxEpochs }`);
  const { supply, budget, maxEpochs } = limit;
  if (typeof budget !== 'number' || !Number.isFinite(budget) || budget <= 0) {
    throw new Error(`${what}: budget (total training tokens) must be a positive number, got ${budget}`);
  }
  if (typeof maxEpochs !== 'number' || !Number.isFinite(maxEpochs) || maxEpochs <= 0) {
    throw new Error(`${what}: maxEpochs (passes allowed over a domain's unique tokens) must be a positive number, got ${maxEpochs}`);
  }
  if (supply === null || typeof supply !== 'object') throw new Error(`${what}: supply must be an object {domain: unique tokens}`);
  const known = new Set(domains);
  for (const key of Object.keys(supply)) {
    if (!known.has(key)) throw new Error(`${what}: supply names domain "${key}", which the mixture does not have (domains: ${domains.join(', ')}); give supply and mixture the same domains`);
  }
  return domains.map((d) => {
    if (!(d in supply)) throw new Error(`${what}: supply has no entry for domain "${d}"; give the unique-token count of every domain`);
    const s = supply[d];
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) throw new Error(`${what}: supply of "${d}" must be a finite token count >= 0, got ${s}`);
    return s;
  });
}

// The error when even every domain at its cap cannot fill the budget, with the two fixes and their numbers.
function budgetError(what: string, limit: SupplyLimit, totalSupply: number): Error {
  const most = limit.maxEpochs * totalSupply;
  const epochsNeeded = totalSupply > 0 ? limit.budget / totalSupply : Infinity;
  const epochsFix = Number.isFinite(epochsNeeded) ? `, or allow at least ${formatSignificant(epochsNeeded, 3)} epochs (maxEpochs)` : '';
  return new Error(
    `${what}: the data cannot fill a ${formatTokens(limit.budget)}-token budget: ${formatSignificant(limit.maxEpochs, 4)} epochs ` +
      `of the ${formatTokens(totalSupply)} unique tokens give at most ${formatTokens(most)} tokens. ` +
      `Train on at most ${formatTokens(most)} tokens${epochsFix}, or add data.`,
  );
}

/**
 * Caps each share at maxEpochs * supply / budget and gives the excess to the uncapped domains in proportion to
 * their shares, repeating until no share exceeds its cap (water-filling). `capped` lists the domains that end at
 * their cap: those cut to it, and those the redistributed excess would have pushed past it. Shares already within their caps are
 * returned unchanged. If the uncapped domains all have share 0 while tokens remain to place, the remainder is
 * spread evenly over them (said in the notes). Throws when even every domain at its cap cannot fill the budget.
 *
 * @example
 * capToSupply({ a: 0.5, b: 0.3, c: 0.2 }, { supply: { a: 10, b: 100, c: 100 }, budget: 100, maxEpochs: 2 })
 * // weights { a: 0.2, b: 0.48, c: 0.32 }, capped ['a']
 */
export function capToSupply(weights: Record<string, number>, limit: SupplyLimit): MethodResult {
  const what = 'capToSupply';
  const domains = Object.keys(weights ?? {});
  checkDomainNames(domains, what);
  const w = mixtureVector(weights, domains, `${what}: weights`);
  const supply = checkSupplyLimit(limit, domains, what);
  const caps = supply.map((s) => (limit.maxEpochs * s) / limit.budget);
  const totalSupply = supply.reduce((a, s) => a + s, 0);
  if (caps.reduce((a, c) => a + c, 0) < 1 - CAP_TOLERANCE) throw budgetError(what, limit, totalSupply);

  const isCapped = domains.map(() => false);
  const out = [...w];
  const notes: string[] = [];
  for (;;) {
    const remaining = 1 - caps.reduce((a, c, i) => a + (isCapped[i] ? c : 0), 0);
    const free = domains.map((_, i) => i).filter((i) => !isCapped[i]);
    if (free.length === 0) break;
    let basis = free.map((i) => w[i]!);
    let basisSum = basis.reduce((a, x) => a + x, 0);
    if (basisSum === 0) {
      if (remaining > CAP_TOLERANCE) {
        notes.push(
          `The uncapped domains (${free.map((i) => domains[i]).join(', ')}) had share 0; the remaining ${formatSignificant(remaining, 3)} of the budget was spread evenly over them.`,
        );
      }
      basis = free.map(() => 1);
      basisSum = free.length;
    }
    free.forEach((i, k) => (out[i] = (Math.max(remaining, 0) * basis[k]!) / basisSum));
    const over = free.filter((i) => out[i]! > caps[i]! * (1 + CAP_TOLERANCE));
    if (over.length === 0) break;
    for (const i of over) {
      isCapped[i] = true;
      out[i] = caps[i]!;
    }
  }
  const capped = domains.filter((_, i) => isCapped[i]);
  const capNotes = capped.map((d) => {
    const i = domains.indexOf(d);
    const cap = `${formatSignificant(limit.maxEpochs, 4)} epochs of its ${formatTokens(supply[i]!)} unique tokens in a ${formatTokens(limit.budget)}-token run`;
    return out[i]! < w[i]!
      ? `"${d}" was cut from ${formatSignificant(w[i]!, 3)} to ${formatSignificant(out[i]!, 3)} of the budget: ${cap}.`
      : `"${d}" was held at ${formatSignificant(out[i]!, 3)} of the budget (${cap}); it had ${formatSignificant(w[i]!, 3)} and the excess of the others would have taken it higher.`;
  });
  notes.unshift(...capNotes);
  if (capped.length > 0) notes.push(`The excess went to the uncapped domains in proportion to their shares.`);
  return { weights: toRecord(domains, out), capped, notes };
}

/**
 * Every domain the same share 1/D, then capped to the supply when a limit is given.
 *
 * @example uniformMixture(['a', 'b']) // weights { a: 0.5, b: 0.5 }, capped [], notes []
 */
export function uniformMixture(domains: string[], limit?: SupplyLimit): MethodResult {
  checkDomainNames(domains, 'uniformMixture');
  const weights = toRecord(domains, domains.map(() => 1 / domains.length));
  return capIfLimited(weights, limit);
}

/**
 * Shares proportional to each domain's unique tokens (the "natural" or token distribution), then capped to the
 * supply when a limit is given.
 *
 * @example naturalMixture({ a: 1e6, b: 3e6 }) // weights { a: 0.25, b: 0.75 }
 */
export function naturalMixture(supply: Record<string, number>, limit?: SupplyLimit): MethodResult {
  const what = 'naturalMixture';
  const domains = Object.keys(supply ?? {});
  checkDomainNames(domains, what);
  const tokens = domains.map((d) => {
    const s = supply[d];
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) throw new Error(`${what}: supply of "${d}" must be a finite token count >= 0, got ${s}`);
    return s;
  });
  const total = tokens.reduce((a, s) => a + s, 0);
  if (total <= 0) throw new Error(`${what}: every domain has 0 unique tokens; give the token count of each domain`);
  const weights = toRecord(domains, tokens.map((s) => s / total));
  return capIfLimited(weights, limit);
}

/**
 * UniMax (Chung et al. 2023, Algorithm 1): go through the domains from the smallest supply to the largest; each
 * gets the uniform share of what is left of the budget, or maxEpochs passes over its unique tokens if that is
 * less. Small domains are thus capped at maxEpochs epochs and the large ones share the rest evenly. The domains
 * are those of `limit.supply`. Ties in supply are taken in name order (the result does not depend on it).
 *
 * @example
 * unimaxMixture({ supply: { a: 10, b: 100, c: 100 }, budget: 100, maxEpochs: 2 })
 * // weights { a: 0.2, b: 0.4, c: 0.4 }, capped ['a']
 */
export function unimaxMixture(limit: SupplyLimit): MethodResult {
  const what = 'unimaxMixture';
  if (limit === null || typeof limit !== 'object') throw new Error(`${what}: the supply limit must be an object { supply, budget, maxEpochs }`);
  const domains = Object.keys(limit.supply ?? {});
  checkDomainNames(domains, what);
  const supply = checkSupplyLimit(limit, domains, what);
  const totalSupply = supply.reduce((a, s) => a + s, 0);
  if (limit.maxEpochs * totalSupply < limit.budget * (1 - CAP_TOLERANCE)) throw budgetError(what, limit, totalSupply);

  const order = domains.map((_, i) => i).sort((i, j) => supply[i]! - supply[j]! || (domains[i]! < domains[j]! ? -1 : 1));
  const tokens = new Array<number>(domains.length).fill(0);
  const isCapped = domains.map(() => false);
  let remaining = limit.budget;
  order.forEach((i, k) => {
    const share = remaining / (domains.length - k);
    const most = limit.maxEpochs * supply[i]!;
    isCapped[i] = most < share * (1 - CAP_TOLERANCE);
    tokens[i] = Math.min(most, share);
    remaining -= tokens[i]!;
  });
  const sum = tokens.reduce((a, x) => a + x, 0);
  const weights = toRecord(domains, tokens.map((x) => x / sum));
  const capped = domains.filter((_, i) => isCapped[i]);
  const notes = capped.map((d) => {
    const i = domains.indexOf(d);
    return `"${d}" gets ${formatSignificant(limit.maxEpochs, 4)} epochs of its ${formatTokens(supply[i]!)} unique tokens (share ${formatSignificant(weights[d]!, 3)}), less than an even share; the larger domains share the rest evenly.`;
  });
  return { weights, capped, notes };
}

/** capToSupply when a supply limit is given, else the weights as they are (nothing capped, no notes). */
export function capIfLimited(weights: Record<string, number>, limit: SupplyLimit | undefined): MethodResult {
  return limit === undefined ? { weights, capped: [], notes: [] } : capToSupply(weights, limit);
}

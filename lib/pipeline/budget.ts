// Budgets: what each run asks of each domain against the domain's training supply x maxEpochs, and the
// target against the whole supply, checked when the pipeline is planned, before the first run trains. A run
// over budget is refused with the run, the domain, the tokens, the supply and the fix; repeated data within
// maxEpochs stays allowed and is noted. (The AutoScale prediction is capped at the supply instead, as
// DESIGN.md documents: lib/autoscale.ts.)
import { formatMultiplier, formatTokens } from '../format.js';
import type { PipelineConfig } from '../pipeline-config.js';
import type { DdoScalePlan, RunSlot, Setup } from './plan.js';

/** A plan that asks more of a domain than its supply allows: nothing has been trained. */
export class BudgetError extends Error {
  readonly code = 'ERR_BUDGET';
  constructor(message: string) {
    super(message);
    this.name = 'BudgetError';
  }
}

/** Each domain's supply: its unique training tokens, and the passes over them a run may make. */
export interface Supply {
  trainTokens: Record<string, number>;
  maxEpochs: number;
}

/** The supply of the prepared data under a config's maxEpochs. */
export function budgetSupply(setup: Pick<Setup, 'prepared'>, maxEpochs: number): Supply {
  return { trainTokens: Object.fromEntries(setup.prepared.domains.map((d) => [d.name, d.trainTokens])), maxEpochs };
}

/** One run's demand on one domain. */
export interface Demand {
  slot: RunSlot;
  domain: string;
  tokens: number;
  /** tokens / the domain's training tokens. */
  epochs: number;
}

/** Whole tokens a domain may give one run: training tokens x maxEpochs (+1: run quantities are rounded to whole tokens). */
function allowance(supply: Supply, domain: string): number {
  return (supply.trainTokens[domain] ?? 0) * supply.maxEpochs + 1;
}

const epochsText = (epochs: number): string => (epochs >= 100 ? epochs.toFixed(0) : epochs >= 10 ? epochs.toFixed(1) : epochs.toFixed(2));
const roundUp = (x: number, digits: number): number => Math.ceil(x * 10 ** digits) / 10 ** digits;
const roundDown = (x: number, significant: number): number => {
  const scale = 10 ** (significant - 1 - Math.floor(Math.log10(x)));
  return Math.floor(x * scale) / scale;
};

/** Every run's demand on every domain it trains on, largest epochs first. */
export function demandsOf(slots: readonly RunSlot[], supply: Supply): Demand[] {
  const out: Demand[] = [];
  for (const slot of slots) {
    for (const [domain, tokens] of Object.entries(slot.spec.quantities)) {
      if (!(tokens > 0)) continue;
      const have = supply.trainTokens[domain] ?? 0;
      out.push({ slot, domain, tokens, epochs: have > 0 ? tokens / have : Infinity });
    }
  }
  return out.sort((a, b) => b.epochs - a.epochs);
}

/** The sentence that refuses `worst` (and counts the other runs over budget), ending with its fixes. */
function overdrawMessage(worst: Demand, over: Demand[], supply: Supply, fixes: string[]): string {
  const have = supply.trainTokens[worst.domain] ?? 0;
  const others = [...new Set(over.filter((o) => o.slot !== worst.slot).map((o) => o.slot.label))];
  const more = others.length === 0 ? '' : ` ${others.length} more run(s) exceed it too: ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', ...' : ''}.`;
  return (
    `run ${worst.slot.label} would train ${Math.round(worst.tokens)} tokens of domain "${worst.domain}", which has ${have} training tokens: ` +
    `${epochsText(worst.epochs)} epochs, more than maxEpochs (${supply.maxEpochs}).${more} Nothing was trained. Fix: ${[...fixes, `add training text to "${worst.domain}"`].join('; or ')}.`
  );
}

/**
 * Refuses runs that ask a domain for more than its training tokens x maxEpochs (BudgetError: the worst run,
 * the domain, the tokens, the supply, the fixes `fixesFor` gives plus "add training text"), and returns one
 * note per domain that some run repeats (more than one epoch, within maxEpochs), naming the run that repeats it most.
 *
 * @example checkRuns(slots, supply, (worst) => [`raise maxEpochs to at least ${Math.ceil(worst.epochs)}`], 'the DDO runs')
 */
export function checkRuns(slots: readonly RunSlot[], supply: Supply, fixesFor: (worst: Demand) => string[], what: string): string[] {
  const demands = demandsOf(slots, supply);
  const over = demands.filter((d) => d.tokens > allowance(supply, d.domain));
  if (over.length > 0) throw new BudgetError(overdrawMessage(over[0]!, over, supply, fixesFor(over[0]!)));
  const notes: string[] = [];
  const noted = new Set<string>();
  for (const d of demands) {
    if (d.epochs <= 1 || noted.has(d.domain)) continue;
    noted.add(d.domain);
    notes.push(
      `${d.domain}: ${what} repeat its ${supply.trainTokens[d.domain]} training tokens up to ${epochsText(d.epochs)} times ` +
        `(${d.slot.label}: ${Math.round(d.tokens)} tokens); allowed by maxEpochs ${supply.maxEpochs}`,
    );
  }
  return notes;
}

/** Fixes for a run over budget that every kind of run shares: more epochs. */
function epochsFix(worst: Demand): string {
  return `raise maxEpochs to at least ${roundUp(worst.epochs, 2)}`;
}

/**
 * The whole pipeline's budget, before the first run: every DDO run at every scale and the validation runs
 * (uniform exactly; the largest scale's DDO optimum at its most extreme, every domain's multiplier within the
 * bounds) against each domain's supply, and the target against the total supply. Throws BudgetError naming
 * the run (or field), the domain, the tokens, the supply and the fix; returns notes on repeated data.
 *
 * @example const { notes } = checkPipelineBudget(config, setup, planDdo(config, setup)); notes.forEach(log)
 */
export function checkPipelineBudget(config: PipelineConfig, setup: Setup, plans: readonly DdoScalePlan[]): { notes: string[] } {
  const supply = budgetSupply(setup, config.maxEpochs);
  const { domains } = setup;
  const ddoSlots = plans.flatMap((p) => p.slots);

  const notes = checkRuns(ddoSlots, supply, (worst) => {
    const cap = allowance(supply, worst.domain) - 1;
    const fixes = [epochsFix(worst)];
    const index = config.scales.indexOf(worst.slot.scale);
    // A DDO run's quantities grow in proportion to its scale.
    fixes.push(`lower scales[${index}] (${worst.slot.scale}) to at most ${Math.floor((worst.slot.scale * cap) / worst.tokens)}`);
    if (worst.slot.domain === worst.domain && worst.slot.multiplier > 1) {
      const largest = (worst.slot.multiplier * cap) / worst.tokens;
      if (largest > 1) fixes.push(`use multipliers of at most ${roundDown(largest, 3)} (not ${formatMultiplier(worst.slot.multiplier)})`);
    }
    return fixes;
  }, 'the DDO runs');

  const total = domains.reduce((sum, d) => sum + (supply.trainTokens[d] ?? 0), 0);
  if (config.target > total * supply.maxEpochs) {
    throw new BudgetError(
      `target: ${config.target} tokens is more than the data can supply: ${total} training tokens over all domains x maxEpochs (${supply.maxEpochs}) = ` +
        `${Math.floor(total * supply.maxEpochs)}. Nothing was trained. Fix: lower target to at most ${Math.floor(total * supply.maxEpochs)}; ` +
        `or raise maxEpochs to at least ${roundUp(config.target / total, 2)}; or add training text.`,
    );
  }

  checkValidationScale(config, setup, plans[plans.length - 1]!);
  return { notes };
}

/**
 * The validation runs known before DDO against each domain's supply: uniform exactly, and (when "ddo" is among the
 * mixtures and `largest`, the largest DDO scale's plan, is given) the largest scale's DDO optimum at its most
 * extreme, every domain's multiplier within the bounds. Throws BudgetError with the fixes. (The other methods' mixtures
 * are capped at the supply; own mixtures are checked when resolved, lib/pipeline/mixtures.ts.)
 */
export function checkValidationScale(config: PipelineConfig, setup: Setup, largest: DdoScalePlan | null): void {
  const supply = budgetSupply(setup, config.maxEpochs);
  const { domains } = setup;
  const lo = config.bounds.min ?? Math.min(...config.multipliers);
  const hi = config.bounds.max ?? Math.max(...config.multipliers);
  if (config.validation) {
    const scale = config.validation.scale;
    const ddoNamed = config.validation.mixtures.some((m) => m.kind === 'method' && m.method === 'ddo');
    const m = domains.length;
    for (const d of domains) {
      const have = supply.trainTokens[d] ?? 0;
      const cap = have * supply.maxEpochs;
      // Uniform: scale / m tokens of every domain.
      const uniform = scale / m;
      if (uniform > cap + 1) {
        throw new BudgetError(
          `validation.scale: the uniform validation run at ${scale} tokens would train ${Math.round(uniform)} tokens of domain "${d}", which has ${have} training tokens: ` +
            `${epochsText(uniform / have)} epochs, more than maxEpochs (${supply.maxEpochs}). Nothing was trained. Fix: lower validation.scale to at most ` +
            `${Math.floor(m * Math.min(...domains.map((e) => (supply.trainTokens[e] ?? 0) * supply.maxEpochs)))}; or raise maxEpochs to at least ${roundUp(uniform / have, 2)}; ` +
            `or add training text to "${d}"; or drop "validation".`,
        );
      }
      // The largest scale's DDO optimum: multiplier x_d <= hi, and every other domain at x >= lo, with the total fixed.
      if (!largest || !ddoNamed) continue;
      const w0 = largest.base[d]! / largest.scale;
      const weight = Math.min(1, hi * w0, 1 - lo * (1 - w0));
      const tokens = weight * scale;
      if (tokens > cap + 1) {
        const fixes = [`lower validation.scale to at most ${Math.floor(cap / weight)}`, `raise maxEpochs to at least ${roundUp(tokens / have, 2)}`];
        if (hi * w0 <= 1 - lo * (1 - w0) && cap / (scale * w0) > 1) fixes.push(`set bounds.max to at most ${roundDown(cap / (scale * w0), 3)}`);
        fixes.push(`add training text to "${d}"`, 'drop "validation"');
        throw new BudgetError(
          `validation.scale: the validation run of the DDO optimum of N=${formatTokens(largest.scale)} at ${scale} tokens may train up to ${Math.round(tokens)} tokens of domain "${d}" ` +
            `(a weight of up to ${(100 * weight).toFixed(1)}%: its solved multiplier up to ${formatMultiplier(hi)}, the others' down to ${formatMultiplier(lo)}), which has ${have} training tokens: ${epochsText(tokens / have)} epochs, ` +
            `more than maxEpochs (${supply.maxEpochs}). Nothing was trained. Fix: ${fixes.join('; or ')}.`,
        );
      }
    }
  }
}

/**
 * The validation runs once their mixtures are known (after DDO): within the budget by construction (the DDO
 * optimum within what checkPipelineBudget allowed, the AutoScale mixture capped at the supply); returns notes
 * on repeated data, and throws BudgetError should a mixture exceed it all the same.
 */
export function checkValidationRuns(slots: readonly RunSlot[], supply: Supply): string[] {
  return checkRuns(slots, supply, (worst) => [epochsFix(worst), `lower validation.scale to at most ${Math.floor((worst.slot.scale * (allowance(supply, worst.domain) - 1)) / worst.tokens)}`], 'the validation runs');
}

/** The one run of `autoscale train`: refused over maxEpochs (fix: fewer tokens of the domain, or more epochs); notes on repeats. */
export function checkTrainRun(slot: RunSlot, supply: Supply): string[] {
  return checkRuns([slot], supply, (worst) => [epochsFix(worst), `give --tokens ${worst.domain}=${Math.floor(allowance(supply, worst.domain) - 1)} or fewer`], 'this run');
}

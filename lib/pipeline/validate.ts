// The validation stage: the mixtures of "validation.mixtures" at the validation scale, every one on every seed,
// compared seed by seed and ranked. Planned in two steps: planComparison, before any run (the mixtures the data
// alone determines, checked against the supply, and the random-mixture runs RegMix and DML fit), and
// runValidationStage, after the DDO stage and those runs (the DDO, AutoScale, RegMix and DML mixtures, then the
// validation runs themselves).
import { formatTokens } from '../format.js';
import type { MixtureEntry, PipelineConfig, ValidationSection } from '../pipeline-config.js';
import type { Registry } from '../registry.js';
import type { MixtureMethodSummary, ValidationSummary } from '../report.js';
import { validationSummary } from './analyse.js';
import { budgetSupply, checkRuns, checkValidationRuns } from './budget.js';
import type { SlotsEnvironment, SlotsOutcome } from './execute.js';
import { mixtureSamples, planMixtureSearch, type MixtureSearchPlan } from './mixture-search.js';
import { isFixedMixture, MixtureUnavailableError, resolveMixture, type MixtureSources, type ResolvedMixture } from './mixtures.js';
import { planValidation, type RunSlot, type Setup } from './plan.js';

/** What the validation stage knows before any run. */
export interface ComparisonPlan {
  /** The random-mixture runs (null: neither "regmix" nor "dml" is named). */
  search: MixtureSearchPlan | null;
  /** The mixtures the data alone determines (uniform, natural, UniMax, own mixtures), by their entry. */
  fixed: Map<MixtureEntry, ResolvedMixture>;
  /** Caps and repeated data of the random-mixture runs. */
  notes: string[];
}

/**
 * Before any run: the random-mixture runs and the mixtures the data alone determines. Throws (BudgetError,
 * ConfigError, an Error naming a domain the data lacks) before anything is trained.
 *
 * @example const comparison = planComparison(config, setup); comparison.search?.slots.length // regmix.runs
 */
export function planComparison(config: PipelineConfig & { validation: ValidationSection }, setup: Setup): ComparisonPlan {
  const search = planMixtureSearch(config, setup);
  const notes = [...(search?.notes ?? [])];
  if (search) {
    notes.push(...checkRuns(search.slots, budgetSupply(setup, config.maxEpochs), (worst) => [`lower regmix.scale (${worst.slot.scale})`], 'the random-mixture runs'));
  }
  const fixed = new Map<MixtureEntry, ResolvedMixture>();
  for (const entry of config.validation.mixtures) {
    if (isFixedMixture(entry)) fixed.set(entry, resolveMixture(entry, config, setup, config.validation.scale, { ddo: null, search: null }));
  }
  return { search, fixed, notes };
}

export interface ValidationStageInput {
  config: PipelineConfig & { validation: ValidationSection };
  setup: Setup;
  registry: Registry;
  env: SlotsEnvironment;
  trainSlots: (slots: RunSlot[], env: SlotsEnvironment) => Promise<SlotsOutcome>;
  comparison: ComparisonPlan;
  /** The DDO stage's results (null: it did not run, and no mixture named needs it). */
  ddo: MixtureSources['ddo'];
}

export interface ValidationStageResult {
  summary: ValidationSummary;
  slots: RunSlot[];
  outcome: SlotsOutcome;
  diagnostics: string[];
}

/**
 * The validation stage once the DDO stage and the random-mixture runs are done: every mixture named (a method that
 * cannot give one, such as RegMix with too few finished runs, is left out with the reason), trained on every seed
 * and at the token-saving budgets, then summarised and ranked.
 */
export async function runValidationStage(input: ValidationStageInput): Promise<ValidationStageResult> {
  const { config, setup, registry, env, comparison } = input;
  const { scale } = config.validation;
  const diagnostics: string[] = [];
  const search = comparison.search ? { plan: comparison.search, ...mixtureSamples(comparison.search, registry, setup.evalWeights) } : null;
  const sources: MixtureSources = { ddo: input.ddo, search };
  const mixtures: ResolvedMixture[] = [];
  const unavailable: string[] = [];
  for (const entry of config.validation.mixtures) {
    let mixture = comparison.fixed.get(entry);
    if (!mixture) {
      try {
        mixture = resolveMixture(entry, config, setup, scale, sources);
      } catch (error) {
        if (!(error instanceof MixtureUnavailableError)) throw error;
        unavailable.push(error.message);
        diagnostics.push(`validation: ${error.message}`);
        continue;
      }
    }
    mixtures.push(mixture);
    const { origin } = mixture;
    if (origin.method === 'autoscale') {
      for (const d of origin.capped) diagnostics.push(`validation: the AutoScale mixture at N=${formatTokens(scale)} is capped at ${d}'s training tokens x maxEpochs; the rest was redistributed`);
    } else {
      if (origin.capped.length) diagnostics.push(`validation: the ${mixture.name} mixture at N=${formatTokens(scale)} is capped at the training tokens x maxEpochs of ${origin.capped.join(', ')}; the rest was redistributed`);
      for (const note of origin.notes) diagnostics.push(`validation: ${mixture.name}: ${note}`);
    }
  }
  const plan = planValidation(config, config.validation, setup, mixtures);
  diagnostics.push(...checkValidationRuns(plan.slots, budgetSupply(setup, config.maxEpochs)));
  const outcome = await input.trainSlots(plan.slots, env);
  diagnostics.push(...outcome.diagnostics);
  const methods: Record<string, MixtureMethodSummary> = Object.fromEntries(mixtures.map((m) => [m.name, m.origin]));
  const summary = validationSummary(plan, registry, setup.evalWeights, config.intervals.level, { methods, unavailable });
  for (const curve of summary.curves) {
    if (curve.failed) diagnostics.push(`validation runs of ${curve.mixture} failed (${curve.failed}): the comparison uses the seeds that finished`);
  }
  return { summary, slots: plan.slots, outcome, diagnostics };
}

/** The mixtures of a validation without a single finished run (their comparison, and the verdict, are missing). */
export function lostMixtures(summary: ValidationSummary | null): { mixture: string; failed: string | null }[] {
  return summary?.curves.filter((c) => c.meanFinal === null).map((c) => ({ mixture: c.mixture, failed: c.failed })) ?? [];
}

// The shapes shared by the mixture methods compared against DDO and AutoScale (uniform, natural, UniMax,
// RegMix, Data Mixing Laws). A method maps what it knows (domain names, unique-token supply, proxy runs) to
// training weights over the domains; every method returns the same result shape so the pipeline, the
// validation runs and the report treat them alike.

/** A method's mixture, with what the user should know about how it was reached. */
export interface MethodResult {
  /** Share of the training tokens per domain: every domain of the input present, each >= 0, summing to 1. */
  weights: Record<string, number>;
  /**
   * Domains whose share was cut to maxEpochs * supply / budget (see capToSupply): cut from what the method
   * wanted, or stopped there while the excess of other cut domains was redistributed.
   */
  capped: string[];
  /** Sentences: caps, fit quality, search, anything the user should know. */
  notes: string[];
}

/**
 * How much data a domain can give a run: `supply` unique tokens per domain, `budget` total training tokens,
 * `maxEpochs` times a domain's data may be seen at most. A domain's share is then at most
 * maxEpochs * supply / budget.
 */
export interface SupplyLimit {
  supply: Record<string, number>;
  budget: number;
  maxEpochs: number;
}

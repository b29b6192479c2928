// The DDO results table (runs.csv): the contract between whoever trained the proxy runs (our runner, or a
// PyTorch user) and the DDO fit. Header `domain,multiplier,loss`; one row `base,1,<loss>` for the base run;
// one row per perturbation run: the perturbed domain, the multiplier applied to it, the run's evaluation loss
// (or perplexity). A perturbation never has multiplier 1, so the rule is unambiguous even for a domain named
// "base": the row `base,1,<loss>` is the base run, a row `base,<m != 1>,<loss>` perturbs the domain "base".
// Parsing is pure: text in, validated table out, errors naming the source and line.

export interface DdoResultRow {
  domain: string;
  multiplier: number;
  loss: number;
  /** 1-based line in the source. */
  line: number;
}

export interface DdoResults {
  /** Evaluation loss of the base run. */
  baseLoss: number;
  /** Perturbed domains in order of first appearance. */
  domains: string[];
  /** Perturbation rows (the base row excluded). */
  runs: DdoResultRow[];
}

/** The domain name that marks the base run's row (with multiplier 1; with another multiplier, a domain named so). */
export const BASE_ROW = 'base';

function splitCsvLine(line: string, where: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new SyntaxError(`${where}: unterminated quoted field; close it with "`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      const rest = line.indexOf(',', i);
      const tail = (rest < 0 ? line.slice(i) : line.slice(i, rest)).trim();
      if (tail) throw new SyntaxError(`${where}: text after a closing quote ("${tail}")`);
      fields.push(field);
      if (rest < 0) return fields;
      i = rest + 1;
    } else {
      const rest = line.indexOf(',', i);
      field = rest < 0 ? line.slice(i) : line.slice(i, rest);
      fields.push(field.trim());
      if (rest < 0) return fields;
      i = rest + 1;
    }
  }
}

function parseNumber(text: string, where: string, what: string, example: string): number {
  const v = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(v)) throw new SyntaxError(`${where}: ${what} "${text}" is not a number; write e.g. ${example}`);
  return v;
}

/**
 * Parses and validates a DDO results CSV. Checks: the header, three fields per row, numbers, positive
 * multipliers and losses, exactly one base row `base,1,<loss>`, no repeated (domain, multiplier) pair, no
 * perturbation row with multiplier 1, and at least two multipliers per domain (three points with the base).
 * Rows `base,<m != 1>,<loss>` are perturbations of a domain named "base".
 *
 * @example
 * parseDdoResultsCsv('domain,multiplier,loss\nbase,1,3.2\nweb,0.333,3.3\nweb,3,3.15\n', 'runs.csv')
 * // { baseLoss: 3.2, domains: ['web'], runs: [{ domain: 'web', multiplier: 0.333, loss: 3.3, line: 3 }, ...] }
 */
export function parseDdoResultsCsv(text: string, source = 'runs.csv'): DdoResults {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new SyntaxError(`${source}: empty file; it needs the header "domain,multiplier,loss" and one row per run`);
  const header = splitCsvLine(lines[headerIndex]!, `${source} line ${headerIndex + 1}`).map((h) => h.toLowerCase());
  if (header.join(',') !== 'domain,multiplier,loss') {
    throw new SyntaxError(`${source} line ${headerIndex + 1}: header is "${lines[headerIndex]!.trim()}"; it must be "domain,multiplier,loss"`);
  }
  let baseLoss: number | null = null;
  let baseLine = 0;
  const runs: DdoResultRow[] = [];
  const seen = new Map<string, number>();
  const domains: string[] = [];
  for (let k = headerIndex + 1; k < lines.length; k++) {
    const raw = lines[k]!;
    if (raw.trim() === '') continue;
    const line = k + 1;
    const where = `${source} line ${line}`;
    const fields = splitCsvLine(raw, where);
    if (fields.length !== 3) throw new SyntaxError(`${where}: ${fields.length} fields; each row needs domain,multiplier,loss`);
    const [domain, mText, lText] = fields as [string, string, string];
    if (domain === '') throw new SyntaxError(`${where}: empty domain name`);
    const multiplier = parseNumber(mText, where, 'multiplier', '3 or 0.3333');
    const loss = parseNumber(lText, where, 'loss', '3.217');
    if (!(loss > 0)) throw new RangeError(`${where}: loss ${lText} must be positive (a validation loss or perplexity)`);
    if (!(multiplier > 0)) throw new RangeError(`${where}: multiplier ${mText} must be positive`);
    if (domain === BASE_ROW && multiplier === 1) {
      if (baseLoss !== null) throw new RangeError(`${where}: a second base row (the first is on line ${baseLine}); keep one`);
      baseLoss = loss;
      baseLine = line;
      continue;
    }
    if (multiplier === 1) {
      throw new RangeError(`${where}: domain "${domain}" with multiplier 1 is the base run; put its loss in the row "base,1,<loss>"`);
    }
    const key = `${domain}\u0000${multiplier}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw new RangeError(`${where}: duplicate run (domain "${domain}", multiplier ${mText}), first on line ${prev}; keep one row per run`);
    }
    seen.set(key, line);
    if (!domains.includes(domain)) domains.push(domain);
    runs.push({ domain, multiplier, loss, line });
  }
  if (baseLoss === null) {
    const named = runs.find((r) => r.domain === BASE_ROW);
    if (named) {
      throw new RangeError(
        `${source} line ${named.line}: the base row has multiplier ${named.multiplier}; it must be 1. ` +
          `(Without a row "base,1,<loss>", rows "base,<multiplier>,<loss>" read as perturbations of a domain named "base": add the base run's row.)`,
      );
    }
    throw new RangeError(`${source}: no base row; add "base,1,<loss of the base run>"`);
  }
  if (domains.length === 0) throw new RangeError(`${source}: no perturbation rows; add rows "<domain>,<multiplier>,<loss>"`);
  for (const d of domains) {
    const ms = runs.filter((r) => r.domain === d).map((r) => r.multiplier);
    if (ms.length < 2) {
      throw new RangeError(`${source}: domain "${d}" has one perturbation run (multiplier ${ms[0]}); DDO needs at least two per domain (e.g. 0.3333 and 3)`);
    }
  }
  return { baseLoss, domains, runs };
}

/** One (run, seed) row of a replicated results table. */
export interface DdoReplicateRow {
  /** The perturbed domain, or null for a base row. */
  domain: string | null;
  multiplier: number;
  loss: number;
  seed: number;
  line: number;
}

/** A results table with replicates: rows per seed, each seed with its own base row. */
export interface DdoReplicates {
  /** Perturbed domains in order of first appearance. */
  domains: string[];
  /** Seeds in order of first appearance. */
  seeds: number[];
  rows: DdoReplicateRow[];
}

/** The run id the DDO plan gives a perturbation: "<domain>@<multiplier to 6 significant digits>". */
export function perturbationId(domain: string, multiplier: number): string {
  return `${domain}@${Number(multiplier.toPrecision(6))}`;
}

/**
 * Parses a DDO results CSV with replicates: header `domain,multiplier,loss,seed` (or the three-column header of
 * parseDdoResultsCsv, read as seed 0). Each seed has its own base row `base,1,<loss>,<seed>`; a (domain,
 * multiplier) pair appears at most once per seed. A domain named "base" is allowed: its rows have a multiplier
 * other than 1, and the row with domain "base" and multiplier 1 is always the base run.
 *
 * @example
 * parseDdoReplicatesCsv('domain,multiplier,loss,seed\nbase,1,3.2,0\nweb,3,3.1,0\nweb,0.3333,3.3,0\nbase,1,3.25,1\n...')
 * // { domains: ['web'], seeds: [0, 1], rows: [...] }
 */
export function parseDdoReplicatesCsv(text: string, source = 'runs.csv'): DdoReplicates {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new SyntaxError(`${source}: empty file; it needs the header "domain,multiplier,loss" (or "domain,multiplier,loss,seed") and one row per run`);
  const header = splitCsvLine(lines[headerIndex]!, `${source} line ${headerIndex + 1}`).map((h) => h.toLowerCase());
  const withSeed = header.join(',') === 'domain,multiplier,loss,seed';
  if (!withSeed && header.join(',') !== 'domain,multiplier,loss') {
    throw new SyntaxError(`${source} line ${headerIndex + 1}: header is "${lines[headerIndex]!.trim()}"; it must be "domain,multiplier,loss" or "domain,multiplier,loss,seed"`);
  }
  const rows: DdoReplicateRow[] = [];
  const seen = new Map<string, number>();
  const domains: string[] = [];
  const seeds: number[] = [];
  for (let k = headerIndex + 1; k < lines.length; k++) {
    const raw = lines[k]!;
    if (raw.trim() === '') continue;
    const line = k + 1;
    const where = `${source} line ${line}`;
    const fields = splitCsvLine(raw, where);
    const want = withSeed ? 4 : 3;
    if (fields.length !== want) throw new SyntaxError(`${where}: ${fields.length} fields; each row needs ${withSeed ? 'domain,multiplier,loss,seed' : 'domain,multiplier,loss'}`);
    const [name, mText, lText] = fields as [string, string, string];
    if (name === '') throw new SyntaxError(`${where}: empty domain name`);
    const multiplier = parseNumber(mText, where, 'multiplier', '3 or 0.3333');
    const loss = parseNumber(lText, where, 'loss', '3.217');
    const seed = withSeed ? parseNumber(fields[3]!, where, 'seed', '0') : 0;
    if (!(loss > 0)) throw new RangeError(`${where}: loss ${lText} must be positive (a validation loss or perplexity)`);
    if (!(multiplier > 0)) throw new RangeError(`${where}: multiplier ${mText} must be positive`);
    if (!(Number.isInteger(seed) && seed >= 0)) throw new RangeError(`${where}: seed ${fields[3]} must be an integer >= 0`);
    const isBase = name === BASE_ROW && multiplier === 1;
    if (!isBase && multiplier === 1) {
      throw new RangeError(`${where}: domain "${name}" with multiplier 1 is the base run; put its loss in the row "base,1,<loss>${withSeed ? ',<seed>' : ''}"`);
    }
    const key = `${isBase ? '' : name}\u0000${multiplier}\u0000${seed}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw new RangeError(`${where}: ${isBase ? 'a second base row' : `duplicate run (domain "${name}", multiplier ${mText})`}${withSeed ? ` for seed ${seed}` : ''}, first on line ${prev}; keep one row per run${withSeed ? ' and seed' : ''}`);
    }
    seen.set(key, line);
    if (!seeds.includes(seed)) seeds.push(seed);
    if (!isBase && !domains.includes(name)) domains.push(name);
    rows.push({ domain: isBase ? null : name, multiplier, loss, seed, line });
  }
  if (rows.length === 0) throw new RangeError(`${source}: no rows; add "base,1,<loss of the base run>${withSeed ? ',<seed>' : ''}" and one row per perturbation run`);
  for (const seed of seeds) {
    if (!rows.some((r) => r.domain === null && r.seed === seed)) {
      throw new RangeError(`${source}: seed ${seed} has no base row; add "base,1,<loss of its base run>${withSeed ? `,${seed}` : ''}" (every seed is normalised by its own base run)`);
    }
  }
  if (domains.length === 0) throw new RangeError(`${source}: no perturbation rows; add rows "<domain>,<multiplier>,<loss>${withSeed ? ',<seed>' : ''}"`);
  for (const d of domains) {
    const ms = new Set(rows.filter((r) => r.domain === d).map((r) => r.multiplier));
    if (ms.size < 2) {
      throw new RangeError(`${source}: domain "${d}" has one multiplier (${[...ms][0]}); DDO needs at least two per domain (e.g. 0.3333 and 3)`);
    }
  }
  return { domains, seeds, rows };
}

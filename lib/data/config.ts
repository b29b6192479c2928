// The data config: which domains, where their text is, how to tokenize it and how much to hold out.
// One zod schema (dataConfigSchema) holds every field, its rule and its default; every message names the
// field and the fix. The pipeline config's JSON Schema describes its "data" field with it.
//
// {
//   "tokenizer": "byte",                        // "byte" (vocab 256) or "gpt2" (GPT-2 BPE, vocab 50257)
//   "heldOut": { "fraction": 0.1, "seed": 0 },  // or { "documents": 20 }; by document, per domain
//   "invalidUtf8": "error",                     // or "replace" (U+FFFD); a source may override it
//   "domains": [
//     { "name": "books", "sources": ["corpora/books/", "extra/*.txt"] },
//     { "name": "web", "sources": [{ "path": "web.jsonl", "field": "text" }] },
//     { "name": "news", "sources": [{ "path": "news.txt", "separator": "\n\n\n" }] }
//   ]
// }
//
// A source is a path string or an object { path, format?, field?, separator?, invalidUtf8? }. A path
// is a file, a directory (every non-hidden file under it, recursively, in sorted order) or a glob
// (`*`, `?`, `**`). Format: "jsonl" for .jsonl/.ndjson files (one JSON object per line, the text in
// `field`, default "text"), "text" otherwise (one document per file, or documents split at
// `separator`). Relative paths resolve against `baseDir` (the config file's folder).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { firstIssue, jsonPath, nullAsMissing, strictSection, type RawIssue } from '../schema-issues.js';
import { DataError } from './errors.js';
import { TOKENIZER_NAMES, type TokenizerName } from './tokenizer.js';

/** Default held-out share of each domain. */
export const DEFAULT_HELD_OUT_FRACTION = 0.1;

const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The problem with a value as the messages say it: "is missing", or "is <the value as JSON>". */
function isValue(input: unknown): string {
  return input === undefined ? 'is missing' : `is ${JSON.stringify(input)}`;
}

/**
 * Every issue of a field reads "<problem>; fix: <fix>": give it to the field's schema and to each of its checks.
 *
 * @example z.number(fix('give a non-negative integer')).min(0, fix('give a non-negative integer'))
 */
function fix(hint: string, problem: (input: unknown) => string = isValue) {
  return { error: (issue: RawIssue) => `${problem(issue.input)}; fix: ${hint}` };
}

/** An object of exactly these fields; `expected` says what to give instead of something else. */
function section<Shape extends z.ZodRawShape>(shape: Shape, expected: string) {
  return strictSection(shape, {
    unknownField: (fields) => `is not a known field; fix: use only ${fields}`,
    notAnObject: (input) => `${isValue(input)}; fix: give ${expected}`,
  });
}

/** A non-empty list (`hint`: what to list). */
function nonEmptyList<T extends z.ZodType>(item: T, hint: string) {
  const message = fix(hint, (input) => (input === undefined ? 'is missing' : 'is not a non-empty array'));
  return z.array(item, message).min(1, message);
}

const policyFix = fix('use "error" (stop at invalid UTF-8) or "replace" (decode it as U+FFFD)');
const invalidUtf8Policy = z.enum(['error', 'replace'], policyFix).meta({ description: 'Bytes that are not valid UTF-8: "error" stops with the offset, "replace" decodes them as U+FFFD.' });

/** What to do with bytes that are not valid UTF-8: fail with the offset, or decode them as U+FFFD. */
export type InvalidUtf8Policy = z.output<typeof invalidUtf8Policy>;

const pathFix = fix('give a file, directory or glob', (input) => (input === undefined ? 'is missing' : 'is not a non-empty string'));
const fieldFix = fix('name the JSONL key holding the text, e.g. "text"');
const separatorFix = fix('give a non-empty string such as "\\n\\n\\n", or leave it out for one document per file');

const sourceObject = section(
  {
    path: z.string(pathFix).min(1, pathFix).meta({ description: 'A file, a directory (every non-hidden file under it) or a glob (*, ?, **); relative to the config file\'s folder.' }),
    format: z
      .enum(['text', 'jsonl'], fix('use "text" or "jsonl" (or leave it out to infer it from the extension)'))
      .optional()
      .meta({ description: '"jsonl": one JSON object per line; "text": one document per file, or split at separator. Default: jsonl for .jsonl/.ndjson files, text otherwise.' }),
    field: nullAsMissing(z.string(fieldFix).min(1, fieldFix).default('text')).meta({ description: 'JSONL: the key holding the document text (a dotted path allowed: "meta.body").' }),
    separator: z.string(separatorFix).min(1, separatorFix).nullable().default(null).meta({ description: 'Text: the string between documents; null: one document per file.' }),
    invalidUtf8: invalidUtf8Policy.optional().meta({ description: 'This source\'s UTF-8 policy; default: the config\'s "invalidUtf8".' }),
  },
  'a path string or an object { "path", ... }',
);

/** A source: a path string, or an object with a path and how to read it. */
const source = z.union([z.string().transform((file) => ({ path: file })).pipe(sourceObject), sourceObject], fix('give a path string or an object { "path", ... }'));

/** One source of a domain, validated, with an absolute path. */
export type SourceSpec = Omit<z.output<typeof sourceObject>, 'invalidUtf8'> & { invalidUtf8: InvalidUtf8Policy };
/** How a source file is read. */
export type SourceFormat = NonNullable<SourceSpec['format']>;

const domain = section(
  {
    name: z
      .string(fix('give a name of 1-64 letters, digits, "_", "-" or "." starting with a letter or digit'))
      .regex(DOMAIN_NAME, fix('give a name of 1-64 letters, digits, "_", "-" or "." starting with a letter or digit'))
      .meta({ description: 'Letters, digits, "_", "-" and "."; unique in the config.' }),
    sources: nonEmptyList(source, 'list files, directories or globs: "sources": ["books/", "more/*.txt"]').meta({
      description: 'Each a path (a file, a directory or a glob) or an object {"path", "format", "field", "separator", "invalidUtf8"}.',
    }),
  },
  'an object { "name", "sources" }',
);

/** One domain: a name and its sources. */
export interface DomainSpec {
  /** Letters, digits, '_', '-', '.'; unique in the config. */
  name: string;
  sources: SourceSpec[];
}

const seedFix = fix('give a non-negative integer');
const fractionFix = fix('give a share strictly between 0 and 1, e.g. 0.1');
const documentsFix = fix('give a whole number of documents >= 1');

/** Both "fraction" and "documents": said before either is checked, since one of them is to go. */
function bothSplits(value: unknown, ctx: z.core.$RefinementCtx): unknown {
  if (isObject(value) && value.fraction !== undefined && value.documents !== undefined) {
    ctx.addIssue({ code: 'custom', input: value, message: 'sets both "fraction" and "documents"; fix: keep one of them' });
  }
  return value;
}

const heldOutFields = section(
  {
    fraction: nullAsMissing(z.number(fractionFix).gt(0, fractionFix).lt(1, fractionFix).optional()).meta({
      description: `Held-out share of each domain's tokens, reached by whole documents (default ${DEFAULT_HELD_OUT_FRACTION}).`,
    }),
    documents: z.number(documentsFix).int(documentsFix).min(1, documentsFix).optional().meta({ description: 'Or an exact number of held-out documents per domain.' }),
    seed: nullAsMissing(z.number(seedFix).int(seedFix).min(0, seedFix).default(0)).meta({ description: 'The split depends on this seed and each document\'s content only.' }),
  },
  'an object { "fraction": 0.1, "seed": 0 } or { "documents": 20 }',
);
const heldOutSection = z
  .preprocess(bothSplits, heldOutFields)
  .transform((heldOut): HeldOutSpec => ({
    fraction: heldOut.documents === undefined ? (heldOut.fraction ?? DEFAULT_HELD_OUT_FRACTION) : undefined,
    documents: heldOut.documents,
    seed: heldOut.seed,
  }))
  .meta({ description: 'How each domain\'s documents are split into training and held-out documents.' });

/** How each domain's documents are split into training and held-out documents. */
export interface HeldOutSpec {
  /** Held-out share of each domain's tokens, reached by whole documents (0 < fraction < 1). */
  fraction: number | undefined;
  /** Or an exact number of held-out documents per domain. */
  documents: number | undefined;
  /** The split depends on this seed and each document's content only. */
  seed: number;
}

/**
 * The data config as written (relative paths, a source's UTF-8 policy left to the config's): parseDataConfig
 * resolves the paths against the config file's folder.
 */
export const dataConfigSchema = section(
  {
    tokenizer: nullAsMissing(z.enum(TOKENIZER_NAMES, fix(`use one of ${TOKENIZER_NAMES.map((n) => `"${n}"`).join(', ')}`)).default('byte')).meta({
      description: '"byte" (vocab 256) or "gpt2" (GPT-2 BPE, vocab 50257).',
    }),
    heldOut: heldOutSection.prefault({}),
    invalidUtf8: invalidUtf8Policy.default('error'),
    domains: nonEmptyList(domain, 'list the domains: "domains": [{ "name": "books", "sources": ["books/"] }, ...]')
      .check((ctx) => {
        const seen = new Set<string>();
        ctx.value.forEach((d, i) => {
          if (seen.has(d.name)) ctx.issues.push({ code: 'custom', input: d.name, path: [i, 'name'], message: `repeats "${d.name}"; fix: give each domain a different name` });
          seen.add(d.name);
        });
      })
      .meta({ description: 'The domains of the mixture, each a name and its sources.' }),
  },
  'a JSON object with "domains"',
).meta({ title: 'autoscale-lm data config', description: 'Which domains, where their text is, how to tokenize it and how much to hold out.' });

/** A validated data config. */
export interface DataConfig {
  tokenizer: TokenizerName;
  heldOut: HeldOutSpec;
  domains: DomainSpec[];
}

/**
 * Validates a parsed JSON value as a data config. A full pipeline config with a `data` object is
 * accepted too (its `data` is used). Relative source paths resolve against `baseDir`.
 *
 * @example
 * const config = parseDataConfig({ tokenizer: 'byte', domains: [{ name: 'books', sources: ['books/'] }] }, '/corpora');
 * config.domains[0].sources[0].path // '/corpora/books/'
 */
export function parseDataConfig(value: unknown, baseDir: string, fieldPrefix = ''): DataConfig {
  if (isObject(value) && isObject(value.data) && !('domains' in value)) {
    return parseDataConfig(value.data, baseDir, `${fieldPrefix}data.`);
  }
  const result = dataConfigSchema.safeParse(value, { reportInput: true });
  if (!result.success) {
    const { issue, path: at } = firstIssue(result.error.issues);
    const root = fieldPrefix.replace(/\.$/, '') || 'config';
    // The root's own fields are named without a prefix ("tokenizer"), an unknown one after the root ("config.tokeniser").
    const field = at.length === 0 ? root : issue.code === 'unrecognized_keys' && at.length === 1 ? `${root}.${jsonPath(at)}` : `${fieldPrefix}${jsonPath(at)}`;
    throw new DataError('ERR_DATA_CONFIG', `${field} ${issue.message}`);
  }
  const { tokenizer, invalidUtf8, heldOut, domains } = result.data;
  return {
    tokenizer,
    heldOut,
    domains: domains.map((d) => ({
      name: d.name,
      sources: d.sources.map((s) => ({ ...s, path: path.resolve(baseDir, s.path), invalidUtf8: s.invalidUtf8 ?? invalidUtf8 })),
    })),
  };
}

/**
 * Reads and validates a data config file (JSON). Relative paths in it resolve against its folder.
 *
 * @example
 * const config = await loadDataConfig('corpora/data.json');
 */
export async function loadDataConfig(file: string): Promise<DataConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DataError('ERR_DATA_SOURCE', `cannot read the data config ${file}: ${(error as Error).message}; fix: check the path`, { file });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError('ERR_DATA_CONFIG', `${file} is not valid JSON (${(error as Error).message}); fix: correct the JSON syntax`, { file });
  }
  try {
    return parseDataConfig(value, path.dirname(path.resolve(file)));
  } catch (error) {
    if (error instanceof DataError) throw new DataError(error.code, `${file}: ${error.message}`, { file });
    throw error;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// The data config: which domains, where their text is, how to tokenize it and how much to hold out.
// Validated field by field; every message names the field and the fix.
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
import { DataError } from './errors.js';
import { TOKENIZER_NAMES, type TokenizerName } from './tokenizer.js';

/** What to do with bytes that are not valid UTF-8: fail with the offset, or decode them as U+FFFD. */
export type InvalidUtf8Policy = 'error' | 'replace';

/** How a source file is read. */
export type SourceFormat = 'text' | 'jsonl';

/** One source of a domain, validated, with an absolute path. */
export interface SourceSpec {
  /** Absolute file, directory or glob. */
  path: string;
  /** Forced format; undefined: from the extension (.jsonl/.ndjson: jsonl, else text). */
  format: SourceFormat | undefined;
  /** JSONL: the key (dotted path allowed: "meta.body") holding the document text. */
  field: string;
  /** Text: the string between documents; null: one document per file. */
  separator: string | null;
  invalidUtf8: InvalidUtf8Policy;
}

/** One domain: a name and its sources. */
export interface DomainSpec {
  /** Letters, digits, '_', '-', '.'; unique in the config. */
  name: string;
  sources: SourceSpec[];
}

/** How each domain's documents are split into training and held-out documents. */
export interface HeldOutSpec {
  /** Held-out share of each domain's tokens, reached by whole documents (0 < fraction < 1). */
  fraction: number | undefined;
  /** Or an exact number of held-out documents per domain. */
  documents: number | undefined;
  /** The split depends on this seed and each document's content only. */
  seed: number;
}

/** A validated data config. */
export interface DataConfig {
  tokenizer: TokenizerName;
  heldOut: HeldOutSpec;
  domains: DomainSpec[];
}

/** Default held-out share of each domain. */
export const DEFAULT_HELD_OUT_FRACTION = 0.1;

const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

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
  const at = (field: string): string => `${fieldPrefix}${field}`;
  const root = expectObject(value, fieldPrefix.replace(/\.$/, '') || 'config', 'a JSON object with "domains"');
  checkKeys(root, ['tokenizer', 'heldOut', 'invalidUtf8', 'domains'], fieldPrefix.replace(/\.$/, '') || 'config');

  const tokenizer = root.tokenizer ?? 'byte';
  if (typeof tokenizer !== 'string' || !(TOKENIZER_NAMES as readonly string[]).includes(tokenizer)) {
    fail(at('tokenizer'), `is ${JSON.stringify(tokenizer)}`, `use one of ${TOKENIZER_NAMES.map((n) => `"${n}"`).join(', ')}`);
  }
  const invalidUtf8 = parsePolicy(root.invalidUtf8, at('invalidUtf8'), 'error');
  const heldOut = parseHeldOut(root.heldOut, at('heldOut'));

  if (!Array.isArray(root.domains) || root.domains.length === 0) {
    fail(at('domains'), root.domains === undefined ? 'is missing' : 'is not a non-empty array',
      'list the domains: "domains": [{ "name": "books", "sources": ["books/"] }, ...]');
  }
  const seen = new Set<string>();
  const domains = root.domains.map((entry: unknown, d: number): DomainSpec => {
    const field = at(`domains[${d}]`);
    const domain = expectObject(entry, field, 'an object { "name", "sources" }');
    checkKeys(domain, ['name', 'sources'], field);
    if (typeof domain.name !== 'string' || !DOMAIN_NAME.test(domain.name)) {
      fail(`${field}.name`, `is ${JSON.stringify(domain.name)}`,
        'give a name of 1-64 letters, digits, "_", "-" or "." starting with a letter or digit');
    }
    if (seen.has(domain.name)) fail(`${field}.name`, `repeats "${domain.name}"`, 'give each domain a different name');
    seen.add(domain.name);
    if (!Array.isArray(domain.sources) || domain.sources.length === 0) {
      fail(`${field}.sources`, domain.sources === undefined ? 'is missing' : 'is not a non-empty array',
        'list files, directories or globs: "sources": ["books/", "more/*.txt"]');
    }
    const sources = domain.sources.map((source: unknown, s: number) =>
      parseSource(source, `${field}.sources[${s}]`, baseDir, invalidUtf8));
    return { name: domain.name, sources };
  });
  return { tokenizer: tokenizer as TokenizerName, heldOut, domains };
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

function parseSource(value: unknown, field: string, baseDir: string, defaultPolicy: InvalidUtf8Policy): SourceSpec {
  if (typeof value === 'string') value = { path: value };
  const source = expectObject(value, field, 'a path string or an object { "path", ... }');
  checkKeys(source, ['path', 'format', 'field', 'separator', 'invalidUtf8'], field);
  if (typeof source.path !== 'string' || source.path.length === 0) {
    fail(`${field}.path`, source.path === undefined ? 'is missing' : 'is not a non-empty string', 'give a file, directory or glob');
  }
  const format = source.format;
  if (format !== undefined && format !== 'text' && format !== 'jsonl') {
    fail(`${field}.format`, `is ${JSON.stringify(format)}`, 'use "text" or "jsonl" (or leave it out to infer it from the extension)');
  }
  const textField = source.field ?? 'text';
  if (typeof textField !== 'string' || textField.length === 0) {
    fail(`${field}.field`, `is ${JSON.stringify(textField)}`, 'name the JSONL key holding the text, e.g. "text"');
  }
  const separator = source.separator ?? null;
  if (separator !== null && (typeof separator !== 'string' || separator.length === 0)) {
    fail(`${field}.separator`, `is ${JSON.stringify(separator)}`, 'give a non-empty string such as "\\n\\n\\n", or leave it out for one document per file');
  }
  return {
    path: path.resolve(baseDir, source.path),
    format,
    field: textField,
    separator,
    invalidUtf8: parsePolicy(source.invalidUtf8, `${field}.invalidUtf8`, defaultPolicy),
  };
}

function parseHeldOut(value: unknown, field: string): HeldOutSpec {
  if (value === undefined) return { fraction: DEFAULT_HELD_OUT_FRACTION, documents: undefined, seed: 0 };
  const heldOut = expectObject(value, field, 'an object { "fraction": 0.1, "seed": 0 } or { "documents": 20 }');
  checkKeys(heldOut, ['fraction', 'documents', 'seed'], field);
  const seed = heldOut.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    fail(`${field}.seed`, `is ${JSON.stringify(seed)}`, 'give a non-negative integer');
  }
  if (heldOut.fraction !== undefined && heldOut.documents !== undefined) {
    fail(field, 'sets both "fraction" and "documents"', 'keep one of them');
  }
  if (heldOut.documents !== undefined) {
    const documents = heldOut.documents;
    if (typeof documents !== 'number' || !Number.isSafeInteger(documents) || documents < 1) {
      fail(`${field}.documents`, `is ${JSON.stringify(documents)}`, 'give a whole number of documents >= 1');
    }
    return { fraction: undefined, documents, seed };
  }
  const fraction = heldOut.fraction ?? DEFAULT_HELD_OUT_FRACTION;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) {
    fail(`${field}.fraction`, `is ${JSON.stringify(fraction)}`, 'give a share strictly between 0 and 1, e.g. 0.1');
  }
  return { fraction, documents: undefined, seed };
}

function parsePolicy(value: unknown, field: string, fallback: InvalidUtf8Policy): InvalidUtf8Policy {
  if (value === undefined) return fallback;
  if (value !== 'error' && value !== 'replace') {
    fail(field, `is ${JSON.stringify(value)}`, 'use "error" (stop at invalid UTF-8) or "replace" (decode it as U+FFFD)');
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, field: string, expected: string): Record<string, unknown> {
  if (!isObject(value)) fail(field, `is ${value === undefined ? 'missing' : JSON.stringify(value)}`, `give ${expected}`);
  return value;
}

function checkKeys(object: Record<string, unknown>, allowed: string[], field: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      fail(`${field}.${key}`, 'is not a known field', `use only ${allowed.map((k) => `"${k}"`).join(', ')}`);
    }
  }
}

function fail(field: string, problem: string, fix: string): never {
  throw new DataError('ERR_DATA_CONFIG', `${field} ${problem}; fix: ${fix}`);
}

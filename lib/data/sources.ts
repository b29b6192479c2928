// Reading a domain's documents from its sources: files, directories and globs of plain text or JSONL,
// streamed in chunks so that large inputs never sit in memory whole (a single document does).
// UTF-8 is checked as the bytes arrive; a problem is reported with the file and the byte offset
// (and, for JSONL, the line).
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { DataError } from './errors.js';
import type { DomainSpec, InvalidUtf8Policy, SourceFormat, SourceSpec } from './config.js';

/** One file to read, with the options of the source it came from. */
export interface SourceFile {
  /** Absolute path. */
  path: string;
  format: SourceFormat;
  /** JSONL: key (dotted path) of the text. */
  field: string;
  /** Text: string between documents; null: the whole file is one document. */
  separator: string | null;
  invalidUtf8: InvalidUtf8Policy;
  /** Size in bytes when resolved. */
  bytes: number;
}

const READ_CHUNK_BYTES = 1 << 20;

/**
 * The files of a domain's sources, in config order (directories and globs expanded in sorted order).
 * Each real file is read once: links are resolved, a file reached again (through a link, or by a
 * glob and a directory of the same domain) is kept where it was first reached, and a link to a
 * folder that contains it (a cycle) is not followed. Throws a DataError naming the source and the
 * fix when a path is missing, unreadable, or matches nothing.
 *
 * @example
 * const files = await resolveSources(config.domains[0]); // [{ path: '/corpora/books/a.txt', format: 'text', ... }]
 */
export async function resolveSources(domain: DomainSpec): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  const seen = new Set<string>(); // real paths of the files taken so far
  for (const [s, source] of domain.sources.entries()) {
    const where = `domain "${domain.name}", sources[${s}]`;
    const paths = isGlob(source.path) ? await expandGlob(source.path, where) : await expandPath(source.path, where);
    for (const file of paths) {
      const real = await realpath(file).catch((error: unknown) => {
        throw sourceError(file, error, where);
      });
      if (seen.has(real)) continue;
      seen.add(real);
      files.push(await describeFile(file, source, where));
    }
  }
  return files;
}

/**
 * Streams the documents of one file: strings with at least one non-space character, in file order.
 * Text: one document per file, or split at the separator. JSONL: the text field of each non-blank line.
 * `onBytes` is told how many bytes were read after each chunk (for progress).
 *
 * @example
 * for await (const doc of readDocuments(file)) tokens += tokenizer.encode(doc).length;
 */
export async function* readDocuments(file: SourceFile, onBytes?: (bytes: number) => void): AsyncGenerator<string> {
  if (file.format === 'jsonl') {
    yield* readJsonlDocuments(file, onBytes);
    return;
  }
  const decoder = new Utf8Decoder(file.path, file.invalidUtf8);
  let pending = '';
  let searchFrom = 0;
  let first = true;
  for await (const chunk of readFileChunks(file.path)) {
    onBytes?.(chunk.length);
    let text = decoder.push(chunk);
    if (first && text.length > 0) {
      text = stripBom(text);
      first = false;
    }
    pending += text;
    if (file.separator !== null) {
      const separator = file.separator;
      let at = pending.indexOf(separator, searchFrom);
      let start = 0;
      while (at >= 0) {
        const doc = pending.slice(start, at);
        if (hasText(doc)) yield doc;
        start = at + separator.length;
        at = pending.indexOf(separator, start);
      }
      pending = pending.slice(start);
      searchFrom = Math.max(0, pending.length - separator.length + 1);
    }
  }
  pending += decoder.end();
  if (first) pending = stripBom(pending);
  if (hasText(pending)) yield pending;
}

/**
 * The raw bytes of a file in chunks of up to 1 MiB; a read error becomes a DataError naming the file.
 *
 * @example
 * for await (const chunk of readFileChunks('/corpora/a.txt')) hash.update(chunk);
 */
export async function* readFileChunks(file: string): AsyncGenerator<Buffer> {
  const stream = createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (error) {
    throw new DataError('ERR_DATA_SOURCE', `cannot read ${file} (${describeFsError(error)}); fix: check that the file exists and is readable`, { file });
  } finally {
    stream.destroy();
  }
}

/**
 * The byte offset of the first invalid UTF-8 sequence in `bytes`, or -1 if all of it is valid
 * (well-formed per Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF, no
 * truncated sequence at the end).
 *
 * @example
 * firstInvalidUtf8(Buffer.from([0x61, 0xff, 0x62])) // 1
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= n) return i; // truncated at the end
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= need; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

// Decodes a byte stream chunk by chunk, never splitting a character, checking validity as it goes.
class Utf8Decoder {
  private carry: Buffer = Buffer.alloc(0);
  private offset = 0; // file offset of carry[0]

  constructor(
    private readonly file: string,
    private readonly policy: InvalidUtf8Policy,
    private readonly where: (offset: number) => string = (offset) => `byte offset ${offset}`,
  ) {}

  push(chunk: Buffer): string {
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const cut = completePrefixLength(bytes);
    const piece = bytes.subarray(0, cut);
    this.carry = Buffer.from(bytes.subarray(cut));
    const text = this.decode(piece, this.offset);
    this.offset += cut;
    return text;
  }

  end(): string {
    const text = this.decode(this.carry, this.offset);
    this.offset += this.carry.length;
    this.carry = Buffer.alloc(0);
    return text;
  }

  decode(piece: Buffer, offset: number): string {
    if (this.policy === 'error' && !isUtf8(piece)) {
      const bad = offset + Math.max(0, firstInvalidUtf8(piece));
      throw new DataError('ERR_DATA_UTF8',
        `${this.file}: invalid UTF-8 at ${this.where(bad)}; fix: re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), ` +
          'or set "invalidUtf8": "replace" on the source or the config to decode bad bytes as U+FFFD',
        { file: this.file, offset: bad });
    }
    return piece.toString('utf8');
  }
}

// Length of the longest prefix of `bytes` that does not end inside a multi-byte character.
function completePrefixLength(bytes: Buffer): number {
  const n = bytes.length;
  for (let i = n - 1; i >= Math.max(0, n - 4); i--) {
    const b = bytes[i]!;
    if (b >= 0x80 && b <= 0xbf) continue; // continuation byte: look further back for the lead
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return i + length > n ? i : n;
  }
  return n;
}

async function* readJsonlDocuments(file: SourceFile, onBytes?: (bytes: number) => void): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let lineNumber = 1;
  let lineStart = 0; // file offset of the current line
  let fileOffset = 0; // file offset of the current chunk
  for await (const chunk of readFileChunks(file.path)) {
    onBytes?.(chunk.length);
    let from = 0;
    let newline = chunk.indexOf(10, from);
    while (newline >= 0) {
      parts.push(chunk.subarray(from, newline));
      const doc = parseJsonlLine(file, Buffer.concat(parts), lineNumber, lineStart);
      if (doc !== null) yield doc;
      parts = [];
      lineNumber++;
      lineStart = fileOffset + newline + 1;
      from = newline + 1;
      newline = chunk.indexOf(10, from);
    }
    if (from < chunk.length) parts.push(Buffer.from(chunk.subarray(from)));
    fileOffset += chunk.length;
  }
  if (parts.length > 0) {
    const doc = parseJsonlLine(file, Buffer.concat(parts), lineNumber, lineStart);
    if (doc !== null) yield doc;
  }
}

function parseJsonlLine(file: SourceFile, bytes: Buffer, line: number, lineStart: number): string | null {
  if (lineStart === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const decoder = new Utf8Decoder(file.path, file.invalidUtf8, (offset) => `line ${line} (byte offset ${offset})`);
  let text: string;
  try {
    text = decoder.decode(bytes, lineStart);
  } catch (error) {
    if (error instanceof DataError) throw new DataError(error.code, error.message, { file: file.path, line, offset: error.offset });
    throw error;
  }
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (!hasText(text)) return null;
  const where = `${file.path}:${line}`;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new DataError('ERR_DATA_JSONL',
      `${where}: malformed JSON (${(error as Error).message}); fix: write one complete JSON object per line`,
      { file: file.path, line, offset: lineStart });
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new DataError('ERR_DATA_JSONL',
      `${where}: the line is ${Array.isArray(record) ? 'an array' : JSON.stringify(record)}, not a JSON object; fix: write one object per line, e.g. {"${file.field}": "..."}`,
      { file: file.path, line, offset: lineStart });
  }
  let value: unknown = record;
  for (const key of file.field.split('.')) {
    value = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (value === undefined) {
    const keys = Object.keys(record).slice(0, 10).map((k) => `"${k}"`).join(', ') || 'none';
    throw new DataError('ERR_DATA_JSONL',
      `${where}: missing field "${file.field}" (keys: ${keys}); fix: add it to every line, or set "field" on the source to the key that holds the text`,
      { file: file.path, line, offset: lineStart });
  }
  if (typeof value !== 'string') {
    throw new DataError('ERR_DATA_JSONL',
      `${where}: field "${file.field}" is ${value === null ? 'null' : typeof value}, not a string; fix: store the document text as a JSON string`,
      { file: file.path, line, offset: lineStart });
  }
  return hasText(value) ? value : null;
}

async function describeFile(file: string, source: SourceSpec, where: string): Promise<SourceFile> {
  let bytes: number;
  try {
    bytes = (await stat(file)).size;
  } catch (error) {
    throw sourceError(file, error, where);
  }
  const extension = path.extname(file).toLowerCase();
  const format: SourceFormat = source.format ?? (extension === '.jsonl' || extension === '.ndjson' ? 'jsonl' : 'text');
  return { path: file, format, field: source.field, separator: source.separator, invalidUtf8: source.invalidUtf8, bytes };
}

async function expandPath(target: string, where: string): Promise<string[]> {
  let info;
  try {
    info = await stat(target);
  } catch (error) {
    throw sourceError(target, error, where);
  }
  if (info.isFile()) return [target];
  if (!info.isDirectory()) {
    throw new DataError('ERR_DATA_SOURCE', `${where}: ${target} is neither a file nor a directory; fix: point the source at text or JSONL files`, { file: target });
  }
  const files = await walk(target, where);
  if (files.length === 0) {
    throw new DataError('ERR_DATA_SOURCE', `${where}: directory ${target} holds no files; fix: add text files to it or remove the source`, { file: target });
  }
  return files;
}

async function expandGlob(pattern: string, where: string): Promise<string[]> {
  const segments = pattern.split(path.sep);
  const firstGlob = segments.findIndex(isGlob);
  const base = segments.slice(0, firstGlob).join(path.sep) || path.sep;
  const matcher = globToRegExp(segments.slice(firstGlob).join('/'));
  let files: string[];
  try {
    files = await walk(base, where);
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw sourceError(base, error, where);
  }
  const matched = files.filter((file) => matcher.test(path.relative(base, file).split(path.sep).join('/')));
  if (matched.length === 0) {
    throw new DataError('ERR_DATA_SOURCE', `${where}: no file matches ${pattern}; fix: check the pattern (relative paths resolve against the config file's folder)`, { file: pattern });
  }
  return matched;
}

// Every non-hidden regular file under `dir` (following links), sorted by path. `ancestors` holds the
// real paths of the folders above `dir` on this walk: a link back to one of them (or to `dir`
// itself) would be walked again and again until the path is too long, so it is skipped. A folder
// reached twice without a cycle (two links to one folder) is walked twice: a glob may match it under
// one name only, and resolveSources keeps each real file once.
async function walk(dir: string, where: string, ancestors: ReadonlySet<string> = new Set()): Promise<string[]> {
  let entries;
  let inside: Set<string>;
  try {
    const real = await realpath(dir);
    if (ancestors.has(real)) return [];
    inside = new Set(ancestors).add(real);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw sourceError(dir, error, where);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const info = await stat(full).catch(() => null);
      isDirectory = info?.isDirectory() ?? false;
      isFile = info?.isFile() ?? false;
    }
    if (isDirectory) files.push(...(await walk(full, where, inside)));
    else if (isFile) files.push(full);
  }
  return files;
}

function isGlob(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

// `**` any number of folders, `*` any name part, `?` one character; everything else literal.
function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else source += '.*';
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function sourceError(file: string, error: unknown, where: string): DataError {
  const code = (error as { code?: string }).code;
  const fix = code === 'ENOENT'
    ? "check the path (relative paths resolve against the config file's folder)"
    : code === 'EACCES' || code === 'EPERM'
      ? 'give this user read permission on it'
      : 'check that it exists and is readable';
  return new DataError('ERR_DATA_SOURCE', `${where}: cannot read ${file} (${describeFsError(error)}); fix: ${fix}`, { file });
}

function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return error instanceof Error ? error.message : String(error);
}

function hasText(text: string): boolean {
  return /\S/.test(text);
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

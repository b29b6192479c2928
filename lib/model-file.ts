// Model files: a trained proxy model's final parameters, as `autoscale train --save` writes them and
// `autoscale eval` reads them. Layout (little-endian):
//
//   "ASMF" | u32 header bytes | header JSON (utf-8) | parameters: header.parameters float32
//
// The header says everything needed to use the parameters: the model's shape, the tokenizer (so
// that evaluation text is tokenized the same way), the run that produced them and its data.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import type { ModelConfig } from './native.js';

/** Version of the model file layout; a reader refuses other versions. */
export const MODEL_FILE_VERSION = 1;
const MAGIC = Buffer.from('ASMF');
const FIX_REWRITE = 'fix: write it again with `autoscale train <config> --tokens ... --save <file>`';

/** The JSON header of a model file. */
export interface ModelFileHeader {
  format: 'autoscale-model';
  version: number;
  model: ModelConfig;
  /** Tokenizer of the training data (lib/data/tokenizer.ts name). */
  tokenizer: string;
  /** Registry key of the run that trained the parameters. */
  run: string;
  /** PreparedData.key of the data the run was trained on. */
  data: string;
  /** Number of float32 parameters that follow the header. */
  parameters: number;
}

export interface ModelFile {
  header: ModelFileHeader;
  parameters: Float32Array;
}

/** A model file that cannot be read or used; the message names the file and the fix. */
export class ModelFileError extends Error {
  readonly code = 'ERR_MODEL_FILE';
  readonly file: string;

  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ModelFileError';
    this.file = file;
  }
}

/**
 * Writes a model file atomically (see writeFileAtomic).
 *
 * @example
 * writeModelFile('tiny.model', { model: { vocabSize: 256, contextLength: 16, width: 16, layers: 1, heads: 2 },
 *   tokenizer: 'byte', run: record.key, data: record.spec.data, parameters: model.getParameters() });
 */
export function writeModelFile(
  file: string,
  contents: { model: ModelConfig; tokenizer: string; run: string; data: string; parameters: Float32Array },
): void {
  const { vocabSize, contextLength, width, layers, heads } = contents.model;
  const header: ModelFileHeader = {
    format: 'autoscale-model',
    version: MODEL_FILE_VERSION,
    model: { vocabSize, contextLength, width, layers, heads },
    tokenizer: contents.tokenizer,
    run: contents.run,
    data: contents.data,
    parameters: contents.parameters.length,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.byteLength, 0);
  const p = contents.parameters;
  writeFileAtomic(file, [MAGIC, length, json, new Uint8Array(p.buffer, p.byteOffset, p.byteLength)]);
}

/**
 * Reads and validates a model file: magic, version, header fields, size and finite parameters.
 * Throws a ModelFileError naming the file and the fix.
 *
 * @example
 * const { header, parameters } = readModelFile('tiny.model');
 * new Model(header.model).setParameters(parameters);
 */
export function readModelFile(file: string): ModelFile {
  let buffer: Buffer;
  try {
    buffer = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFileError(file, `no such model file; ${FIX_REWRITE}, or check the path`);
    throw new ModelFileError(file, `cannot read the model file (${code ?? (error as Error).message}); fix: check the path and its permissions`);
  }
  if (buffer.byteLength < 8 || !buffer.subarray(0, 4).equals(MAGIC)) {
    throw new ModelFileError(file, `not an autoscale model file (it does not start with "ASMF"); fix: pass a file written by \`autoscale train ... --save\``);
  }
  const headerBytes = buffer.readUInt32LE(4);
  if (8 + headerBytes > buffer.byteLength) {
    throw new ModelFileError(file, `truncated: its header claims ${headerBytes} bytes but the file has ${buffer.byteLength - 8} after the magic; ${FIX_REWRITE}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(buffer.subarray(8, 8 + headerBytes).toString('utf8'));
  } catch (error) {
    throw new ModelFileError(file, `corrupt header (${(error as Error).message}); ${FIX_REWRITE}`);
  }
  const header = checkHeader(file, value);
  const start = 8 + headerBytes;
  const expected = start + 4 * header.parameters;
  if (buffer.byteLength !== expected) {
    throw new ModelFileError(
      file,
      `${buffer.byteLength < expected ? 'truncated' : 'corrupt'}: the header says ${header.parameters} parameters (${expected} bytes in all) but the file has ${buffer.byteLength} bytes; ${FIX_REWRITE}`,
    );
  }
  // Copy into an aligned array (the header length leaves the floats at any byte offset).
  const parameters = new Float32Array(header.parameters);
  new Uint8Array(parameters.buffer).set(buffer.subarray(start, expected));
  for (let i = 0; i < parameters.length; i++) {
    if (!Number.isFinite(parameters[i]!)) throw new ModelFileError(file, `corrupt: parameter ${i} is ${parameters[i]}; ${FIX_REWRITE}`);
  }
  return { header, parameters };
}

function checkHeader(file: string, value: unknown): ModelFileHeader {
  const bad = (what: string): never => {
    throw new ModelFileError(file, `corrupt header: ${what}; ${FIX_REWRITE}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('not a JSON object');
  const h = value as Record<string, unknown>;
  if (h.format !== 'autoscale-model') return bad(`format is ${JSON.stringify(h.format)}, not "autoscale-model"`);
  if (h.version !== MODEL_FILE_VERSION) {
    throw new ModelFileError(
      file,
      `model file version ${JSON.stringify(h.version)}, but this autoscale reads version ${MODEL_FILE_VERSION}; fix: use the autoscale version that wrote it, or write it again with this one`,
    );
  }
  const wholePositive = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
  if (typeof h.model !== 'object' || h.model === null) return bad('no "model" object');
  const m = h.model as Record<string, unknown>;
  for (const key of ['vocabSize', 'contextLength', 'width', 'layers', 'heads'] as const) {
    if (!wholePositive(m[key])) bad(`model.${key} is ${JSON.stringify(m[key])}, not a whole number >= 1`);
  }
  if ((m.width as number) % (m.heads as number) !== 0) bad(`model.width ${m.width} is not a multiple of model.heads ${m.heads}`);
  for (const key of ['tokenizer', 'run', 'data'] as const) {
    if (typeof h[key] !== 'string' || (h[key] as string).length === 0) bad(`"${key}" is ${JSON.stringify(h[key])}, not a non-empty string`);
  }
  if (!wholePositive(h.parameters)) bad(`"parameters" is ${JSON.stringify(h.parameters)}, not a whole number >= 1`);
  return {
    format: 'autoscale-model',
    version: h.version,
    model: { vocabSize: m.vocabSize as number, contextLength: m.contextLength as number, width: m.width as number, layers: m.layers as number, heads: m.heads as number },
    tokenizer: h.tokenizer as string,
    run: h.run as string,
    data: h.data as string,
    parameters: h.parameters as number,
  };
}

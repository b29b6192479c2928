// The one tensor file format: checkpoints (lib/train.ts) and saved models (lib/model-file.ts) are
// both written and read here. The layout is safetensors' (https://huggingface.co/docs/safetensors),
// so a file loads in PyTorch or NumPy with the `safetensors` package as it is:
//
//   u64 little-endian N | N bytes of JSON header (utf-8, padded with spaces to a multiple of 8 with
//   the 8 length bytes) | the tensors' bytes, raw little-endian, one after another
//
//   header: { "__metadata__": { string: string }, "<name>": { "dtype": "F32", "shape": [..],
//             "data_offsets": [begin, end] }, ... }   (offsets in bytes from the end of the header;
//             the tensors tile the data exactly, no gap, nothing after the last)
//
// Integrity: the metadata entry "autoscale.sha256" holds the SHA-256 of the rest of the header
// (canonical form, see headerDigestInput) followed by all tensor bytes. It is computed after
// everything else is known and checked on every read, so a flipped bit, a tensor scaled by hand or
// a metadata field edited in place is refused rather than used. Files are written atomically
// (writeFileAtomic), so a killed writer leaves the old file or the new one, never a mix.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { writeFileAtomic } from './atomic-file.js';

/** Element types a tensor file holds (safetensors names). */
export type TensorDtype = 'F32' | 'F64' | 'I32' | 'U16' | 'U8';

/** The typed array of each dtype. */
export type TensorData = Float32Array | Float64Array | Int32Array | Uint16Array | Uint8Array;

/** One named tensor. `data.length` is the product of `shape`. */
export interface Tensor {
  name: string;
  dtype: TensorDtype;
  shape: readonly number[];
  data: TensorData;
}

/** A tensor file's contents: string metadata and tensors, in the order of their bytes. */
export interface TensorFileContents {
  metadata: Record<string, string>;
  tensors: Tensor[];
}

/** The metadata key of the checksum (see the top of this file). */
export const TENSOR_CHECKSUM_KEY = 'autoscale.sha256';

/** What is wrong with a tensor file that cannot be read. */
export type TensorFileProblem =
  | 'missing' // no such file
  | 'unreadable' // the file system refused it
  | 'old-format' // an "ASCK" checkpoint or "ASMF" model of autoscale before this format
  | 'not-safetensors' // does not have the safetensors layout at all
  | 'truncated' // shorter than its header says
  | 'corrupt-header' // the header is not valid JSON or breaks the layout's rules
  | 'checksum'; // no checksum, or the bytes do not match it

/** A tensor file that cannot be read; `problem` says which kind of problem, the message the details. */
export class TensorFileError extends Error {
  readonly code = 'ERR_TENSOR_FILE';
  readonly file: string;
  readonly problem: TensorFileProblem;
  /** The details without the file name. */
  readonly detail: string;

  constructor(file: string, problem: TensorFileProblem, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'TensorFileError';
    this.file = file;
    this.problem = problem;
    this.detail = detail;
  }
}

const DTYPES: Record<TensorDtype, { bytes: number; array: new (length: number) => TensorData }> = {
  F32: { bytes: 4, array: Float32Array },
  F64: { bytes: 8, array: Float64Array },
  I32: { bytes: 4, array: Int32Array },
  U16: { bytes: 2, array: Uint16Array },
  U8: { bytes: 1, array: Uint8Array },
};

// safetensors refuses headers above 100 MB; so do we, which also tells garbage from a header length.
const MAX_HEADER_BYTES = 100_000_000;
const OLD_MAGICS: Record<string, string> = { ASCK: 'an "ASCK" checkpoint', ASMF: 'an "ASMF" model file' };

/**
 * Encodes tensors and metadata in the safetensors layout, with the checksum entry added to the
 * metadata. Returns the file's bytes as chunks (the tensors' own buffers, not copied).
 *
 * @example
 * const chunks = encodeTensorFile({ metadata: { note: 'x' }, tensors: [{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }] });
 */
export function encodeTensorFile(contents: TensorFileContents): Uint8Array[] {
  if (os.endianness() !== 'LE') throw new Error('tensor files are little-endian; this machine is not');
  const names = new Set<string>();
  const entries: HeaderTensor[] = [];
  let offset = 0;
  for (const tensor of contents.tensors) {
    const info = DTYPES[tensor.dtype];
    if (!info) throw new Error(`tensor "${tensor.name}": dtype ${JSON.stringify(tensor.dtype)} is not one of ${Object.keys(DTYPES).join(', ')}`);
    if (tensor.name === '__metadata__' || tensor.name.length === 0 || names.has(tensor.name)) {
      throw new Error(`tensor name ${JSON.stringify(tensor.name)} is empty, reserved or used twice; give each tensor its own name`);
    }
    names.add(tensor.name);
    const elements = tensor.shape.reduce((product, d) => product * d, 1);
    if (!tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || elements !== tensor.data.length || !(tensor.data instanceof info.array)) {
      throw new Error(`tensor "${tensor.name}": shape [${tensor.shape.join(', ')}] needs ${elements} ${tensor.dtype} elements, got a ${tensor.data.constructor.name} of ${tensor.data.length}`);
    }
    entries.push({ name: tensor.name, dtype: tensor.dtype, shape: [...tensor.shape], begin: offset, end: offset + tensor.data.byteLength });
    offset += tensor.data.byteLength;
  }
  for (const [key, value] of Object.entries(contents.metadata)) {
    if (typeof value !== 'string') throw new Error(`metadata "${key}" is ${typeof value}; safetensors metadata values are strings`);
  }
  const metadata: Record<string, string> = { ...contents.metadata };
  delete metadata[TENSOR_CHECKSUM_KEY];
  const hash = createHash('sha256').update(headerDigestInput(metadata, entries));
  const data = contents.tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  for (const bytes of data) hash.update(bytes);
  metadata[TENSOR_CHECKSUM_KEY] = hash.digest('hex');

  const header: Record<string, unknown> = { __metadata__: metadata };
  for (const e of entries) header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padding = (8 - (json.byteLength % 8)) % 8; // the tensors start 8-byte aligned
  if (padding > 0) json = Buffer.concat([json, Buffer.alloc(padding, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength), 0);
  return [length, json, ...data];
}

/**
 * Writes a tensor file atomically (see encodeTensorFile for what it holds).
 *
 * @example
 * writeTensorFile('w.safetensors', { metadata: {}, tensors: [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }] });
 */
export function writeTensorFile(file: string, contents: TensorFileContents): void {
  writeFileAtomic(file, encodeTensorFile(contents));
}

/**
 * Reads a tensor file and checks it: the layout's rules, and the checksum. Throws a TensorFileError
 * whose `problem` says what is wrong (callers add the fix that fits their files).
 *
 * @example
 * const { metadata, tensors } = readTensorFile('w.safetensors');
 * tensors[0].data // Float32Array
 */
export function readTensorFile(file: string): TensorFileContents {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TensorFileError(file, 'missing', 'no such file');
    throw new TensorFileError(file, 'unreadable', `cannot read the file (${code ?? (error as Error).message})`);
  }
  return decodeTensorFile(bytes, file);
}

/**
 * decodeTensorFile(bytes, name) is readTensorFile for bytes already in memory; `file` names them in errors.
 *
 * @example
 * decodeTensorFile(Buffer.concat(encodeTensorFile(contents)), 'memory').tensors
 */
export function decodeTensorFile(bytes: Uint8Array, file: string): TensorFileContents {
  const fail = (problem: TensorFileProblem, detail: string): never => {
    throw new TensorFileError(file, problem, detail);
  };
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = buffer.subarray(0, 4).toString('latin1');
  if (buffer.byteLength >= 8 && OLD_MAGICS[magic]) fail('old-format', `${OLD_MAGICS[magic]} of an earlier autoscale, before the safetensors layout`);
  if (buffer.byteLength < 8) fail('not-safetensors', `${buffer.byteLength} bytes, shorter than the 8-byte header length`);
  const headerLength = buffer.readBigUInt64LE(0);
  if (headerLength > BigInt(MAX_HEADER_BYTES) || buffer[8] !== 0x7b /* { */) {
    fail('not-safetensors', 'it does not start with an 8-byte header length and a JSON header');
  }
  const dataStart = 8 + Number(headerLength);
  if (dataStart > buffer.byteLength) fail('truncated', `its header claims ${headerLength} bytes but the file has ${buffer.byteLength - 8} after the length`);
  let header: unknown;
  try {
    header = JSON.parse(buffer.subarray(8, dataStart).toString('utf8'));
  } catch (error) {
    return fail('corrupt-header', `the header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('corrupt-header', 'the header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: HeaderTensor[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('corrupt-header', '"__metadata__" is not an object');
      for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
        if (typeof text !== 'string') fail('corrupt-header', `metadata "${key}" is not a string`);
        metadata[key] = text as string;
      }
      continue;
    }
    entries.push(parseHeaderTensor(name, value, fail));
  }
  entries.sort((a, b) => a.begin - b.begin);
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at) fail('corrupt-header', `tensor "${e.name}" starts at byte ${e.begin} of the data, not at ${at} where the one before ends`);
    at = e.end;
  }
  const dataBytes = buffer.byteLength - dataStart;
  if (dataBytes < at) fail('truncated', `the header says ${at} bytes of tensors (${dataStart + at} bytes in all) but the file has ${buffer.byteLength} bytes`);
  if (dataBytes > at) fail('corrupt-header', `${dataBytes - at} bytes follow the last tensor`);

  const expected = metadata[TENSOR_CHECKSUM_KEY];
  if (expected === undefined) fail('checksum', `no "${TENSOR_CHECKSUM_KEY}" checksum in its metadata: not written by autoscale`);
  const withoutChecksum = { ...metadata };
  delete withoutChecksum[TENSOR_CHECKSUM_KEY];
  const actual = createHash('sha256').update(headerDigestInput(withoutChecksum, entries)).update(buffer.subarray(dataStart)).digest('hex');
  if (actual !== expected) fail('checksum', `its checksum is ${actual.slice(0, 16)}... but its header says ${String(expected).slice(0, 16)}...: the file was changed after it was written`);

  const tensors: Tensor[] = entries.map((e) => {
    // Copied into fresh, aligned arrays (the file's buffer may sit at any byte offset).
    const info = DTYPES[e.dtype];
    const data = new info.array((e.end - e.begin) / info.bytes);
    new Uint8Array(data.buffer).set(buffer.subarray(dataStart + e.begin, dataStart + e.end));
    return { name: e.name, dtype: e.dtype, shape: e.shape, data };
  });
  return { metadata, tensors };
}

interface HeaderTensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeaderTensor(name: string, value: unknown, fail: (problem: TensorFileProblem, detail: string) => never): HeaderTensor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('corrupt-header', `tensor "${name}" is not an object`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPES)) return fail('corrupt-header', `tensor "${name}" has dtype ${JSON.stringify(dtype)}; this reader knows ${Object.keys(DTYPES).join(', ')}`);
  const whole = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!Array.isArray(shape) || !shape.every(whole)) return fail('corrupt-header', `tensor "${name}" has shape ${JSON.stringify(shape)}, not a list of whole numbers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(whole) || offsets[1] < offsets[0]) {
    return fail('corrupt-header', `tensor "${name}" has data_offsets ${JSON.stringify(offsets)}, not [begin, end]`);
  }
  const elements = shape.reduce((product: number, d: number) => product * d, 1);
  const [begin, end] = offsets as [number, number];
  if (end - begin !== elements * DTYPES[dtype as TensorDtype].bytes) {
    return fail('corrupt-header', `tensor "${name}" of shape [${shape.join(', ')}] ${dtype} needs ${elements * DTYPES[dtype as TensorDtype].bytes} bytes, its offsets span ${end - begin}`);
  }
  return { name, dtype: dtype as TensorDtype, shape: shape as number[], begin, end };
}

// What the checksum covers besides the tensor bytes: the metadata (sorted by key, without the
// checksum) and every tensor's name, dtype, shape and offsets in data order, as one JSON text.
function headerDigestInput(metadata: Record<string, string>, entries: readonly HeaderTensor[]): string {
  const sorted = Object.keys(metadata).sort().map((key) => [key, metadata[key]]);
  const tensors = [...entries].sort((a, b) => a.begin - b.begin).map((e) => [e.name, e.dtype, e.shape, e.begin, e.end]);
  return JSON.stringify({ metadata: sorted, tensors });
}

// Model files: a trained proxy model's final parameters, as `autoscale train --save` writes them and
// `autoscale eval` reads them. A model file is a tensor file (lib/tensor-file.ts: the safetensors
// layout, checksummed), so it loads in PyTorch with `safetensors.torch.load_file` as it is:
//
//   tensors   the parameters as the model lays them out (wte [V, C], wpe [T, C], ln1w [L, C], ...,
//             GPT-2 order, float32), or one tensor "parameters" [n] when the layout is not given;
//             in both cases their bytes, in order, are the model's flat parameter vector
//   metadata  "autoscale.kind": "model", "autoscale.version", "autoscale.model" (the model's shape as
//             JSON), "autoscale.tokenizer", "autoscale.run", "autoscale.data", and the checksum
//
// The metadata says everything needed to use the parameters: the model's shape, the tokenizer (so
// that evaluation text is tokenized the same way), the run that produced them and its data.
import type { ModelConfig, ParameterTensor } from './native.js';
import { readTensorFile, TensorFileError, writeTensorFile, type Tensor } from './tensor-file.js';

/** Version of the model file's metadata; a reader refuses other versions. 2: the safetensors layout. */
export const MODEL_FILE_VERSION = 2;
const FIX_REWRITE = 'fix: write it again with `autoscale train <config> --tokens ... --save <file>`';

/** The header of a model file (kept in the tensor file's metadata). */
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
  /** Number of float32 parameters in the file. */
  parameters: number;
}

export interface ModelFile {
  header: ModelFileHeader;
  /** The flat parameter vector (all tensors' values in file order). */
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
 * Writes a model file atomically. With `layout` (Model.parameterLayout), each parameter tensor is
 * stored under its name and shape; without it, the vector is one tensor "parameters".
 *
 * @example
 * writeModelFile('tiny.model', { model: { vocabSize: 256, contextLength: 16, width: 16, layers: 1, heads: 2 },
 *   tokenizer: 'byte', run: record.key, data: record.spec.data, parameters: model.getParameters(), layout: model.parameterLayout });
 */
export function writeModelFile(
  file: string,
  contents: { model: ModelConfig; tokenizer: string; run: string; data: string; parameters: Float32Array; layout?: readonly ParameterTensor[] },
): void {
  const { vocabSize, contextLength, width, layers, heads } = contents.model;
  const p = contents.parameters;
  writeTensorFile(file, {
    metadata: {
      'autoscale.kind': 'model',
      'autoscale.version': String(MODEL_FILE_VERSION),
      'autoscale.model': JSON.stringify({ vocabSize, contextLength, width, layers, heads }),
      'autoscale.tokenizer': contents.tokenizer,
      'autoscale.run': contents.run,
      'autoscale.data': contents.data,
    },
    tensors: contents.layout ? layoutTensors(p, contents.layout) : [{ name: 'parameters', dtype: 'F32', shape: [p.length], data: p }],
  });
}

/**
 * Reads and validates a model file: the tensor file's layout and checksum, the metadata, and finite
 * float32 parameters. Throws a ModelFileError naming the file and the fix.
 *
 * @example
 * const { header, parameters } = readModelFile('tiny.model');
 * new Model(header.model).setParameters(parameters);
 */
export function readModelFile(file: string): ModelFile {
  let contents;
  try {
    contents = readTensorFile(file);
  } catch (error) {
    if (!(error instanceof TensorFileError)) throw error;
    throw new ModelFileError(file, describeProblem(error));
  }
  const header = checkHeader(file, contents.metadata, contents.tensors);
  const parameters = new Float32Array(header.parameters);
  let at = 0;
  for (const tensor of contents.tensors) {
    parameters.set(tensor.data as Float32Array, at);
    at += tensor.data.length;
  }
  for (let i = 0; i < parameters.length; i++) {
    if (!Number.isFinite(parameters[i]!)) throw new ModelFileError(file, `corrupt: parameter ${i} is ${parameters[i]}; ${FIX_REWRITE}`);
  }
  return { header, parameters };
}

// The parameter vector as the layout's named tensors (views into `parameters`, not copies).
function layoutTensors(parameters: Float32Array, layout: readonly ParameterTensor[]): Tensor[] {
  let at = 0;
  const tensors = layout.map((t): Tensor => {
    if (t.offset !== at || t.shape.reduce((a, b) => a * b, 1) !== t.size) {
      throw new Error(`writeModelFile: layout tensor "${t.name}" is at offset ${t.offset} with ${t.size} floats; the layout must tile the parameters in order`);
    }
    at += t.size;
    return { name: t.name, dtype: 'F32', shape: t.shape, data: parameters.subarray(t.offset, t.offset + t.size) };
  });
  if (at !== parameters.length) throw new Error(`writeModelFile: the layout covers ${at} parameters, the vector has ${parameters.length}`);
  return tensors;
}

function describeProblem(error: TensorFileError): string {
  switch (error.problem) {
    case 'missing':
      return `no such model file; ${FIX_REWRITE}, or check the path`;
    case 'unreadable':
      return `${error.detail}; fix: check the path and its permissions`;
    case 'old-format':
      return `${error.detail}; this autoscale reads model files in the safetensors layout only; ${FIX_REWRITE} (train the run again: the registry keeps no parameters)`;
    case 'not-safetensors':
      return `not an autoscale model file (${error.detail}); fix: pass a file written by \`autoscale train ... --save\``;
    case 'truncated':
      return `truncated: ${error.detail}; ${FIX_REWRITE}`;
    case 'corrupt-header':
      return `corrupt header (${error.detail}); ${FIX_REWRITE}`;
    case 'checksum':
      return `corrupt: ${error.detail}; ${FIX_REWRITE}`;
  }
}

function checkHeader(file: string, metadata: Record<string, string>, tensors: readonly Tensor[]): ModelFileHeader {
  const bad = (what: string): never => {
    throw new ModelFileError(file, `corrupt header: ${what}; ${FIX_REWRITE}`);
  };
  if (metadata['autoscale.kind'] !== 'model') {
    throw new ModelFileError(
      file,
      `not an autoscale model file (a tensor file whose "autoscale.kind" is ${JSON.stringify(metadata['autoscale.kind'])}, not "model"); fix: pass a file written by \`autoscale train ... --save\``,
    );
  }
  const version = Number(metadata['autoscale.version']);
  if (version !== MODEL_FILE_VERSION) {
    throw new ModelFileError(
      file,
      `model file version ${JSON.stringify(metadata['autoscale.version'])}, but this autoscale reads version ${MODEL_FILE_VERSION}; fix: use the autoscale version that wrote it, or write it again with this one`,
    );
  }
  let model: unknown;
  try {
    model = JSON.parse(metadata['autoscale.model'] ?? '');
  } catch {
    return bad(`"autoscale.model" is ${JSON.stringify(metadata['autoscale.model'])}, not the model's shape as JSON`);
  }
  const wholePositive = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
  if (typeof model !== 'object' || model === null) return bad('no "autoscale.model" object');
  const m = model as Record<string, unknown>;
  for (const key of ['vocabSize', 'contextLength', 'width', 'layers', 'heads'] as const) {
    if (!wholePositive(m[key])) bad(`model.${key} is ${JSON.stringify(m[key])}, not a whole number >= 1`);
  }
  if ((m.width as number) % (m.heads as number) !== 0) bad(`model.width ${m.width} is not a multiple of model.heads ${m.heads}`);
  const text = (key: 'tokenizer' | 'run' | 'data'): string => {
    const value = metadata[`autoscale.${key}`];
    if (typeof value !== 'string' || value.length === 0) bad(`"autoscale.${key}" is ${JSON.stringify(value)}, not a non-empty string`);
    return value as string;
  };
  let parameters = 0;
  for (const tensor of tensors) {
    if (tensor.dtype !== 'F32') bad(`tensor "${tensor.name}" is ${tensor.dtype}, not F32`);
    parameters += tensor.data.length;
  }
  if (parameters < 1) bad('it holds no parameters');
  return {
    format: 'autoscale-model',
    version,
    model: { vocabSize: m.vocabSize as number, contextLength: m.contextLength as number, width: m.width as number, layers: m.layers as number, heads: m.heads as number },
    tokenizer: text('tokenizer'),
    run: text('run'),
    data: text('data'),
    parameters,
  };
}

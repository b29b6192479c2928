// The one tensor file format (lib/tensor-file.ts): the safetensors layout, checksummed. Checkpoints
// and saved models are both such files; Python reads them with safetensors, or (where that package
// is absent) with a strict reading of the layout and PyTorch or NumPy.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readModelFile, writeModelFile } from '../../lib/model-file.js';
import { Model } from '../../lib/native.js';
import { decodeTensorFile, encodeTensorFile, readTensorFile, TENSOR_CHECKSUM_KEY, TensorFileError, writeTensorFile, type TensorFileContents } from '../../lib/tensor-file.js';
import { CHECKPOINT_FILE, readCheckpoint, trainProxyRun } from '../../lib/train.js';
import { FakeModel, fakeEvalSet, fakeStream } from './fixtures/fake-model.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'autoscale-tensor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sample = (): TensorFileContents => ({
  metadata: { note: 'hello', 'autoscale.kind': 'test' },
  tensors: [
    { name: 'w', dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2.5, 3e-8, 0, Math.fround(Math.PI), -0) },
    { name: 'ids', dtype: 'U16', shape: [3], data: Uint16Array.of(0, 65535, 7) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'counts', dtype: 'I32', shape: [1], data: Int32Array.of(-5) },
    { name: 'x64', dtype: 'F64', shape: [2], data: Float64Array.of(1 / 3, 1e300) },
    { name: 'bytes', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 255) },
  ],
});

const bytesOf = (contents: TensorFileContents): Buffer => Buffer.concat(encodeTensorFile(contents));

function problemOf(t: ExecutionContext, bytes: Uint8Array): string {
  const error = t.throws(() => decodeTensorFile(bytes, 'x.safetensors'), { instanceOf: TensorFileError });
  return `${error.problem}: ${error.detail}`;
}

test('a tensor file round-trips every tensor exactly, with its metadata and the checksum added', (t) => {
  const bytes = bytesOf(sample());
  const headerLength = Number(bytes.readBigUInt64LE(0));
  t.is((8 + headerLength) % 8, 0); // the tensors start 8-byte aligned, as safetensors writes them
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  t.deepEqual(header.w, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  t.deepEqual(header.ids, { dtype: 'U16', shape: [3], data_offsets: [24, 30] });
  const read = decodeTensorFile(bytes, 'x');
  t.deepEqual(read.tensors, sample().tensors);
  t.is(read.metadata.note, 'hello');
  t.regex(read.metadata[TENSOR_CHECKSUM_KEY]!, /^[0-9a-f]{64}$/);
  t.is(Object.is(read.tensors[0]!.data[5], -0), true);
});

test('every changed byte fails the checksum: a flipped bit, floats scaled by 1.5, metadata edited in place', (t) => {
  const bytes = bytesOf(sample());
  const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
  const flipped = Buffer.from(bytes);
  flipped[dataStart + 29] = flipped[dataStart + 29]! ^ 0x10;
  t.regex(problemOf(t, flipped), /^checksum: its checksum is [0-9a-f]{16}\.\.\. but its header says [0-9a-f]{16}\.\.\.: the file was changed after it was written$/);
  const scaled = Buffer.from(bytes);
  for (let i = 0; i < 6; i++) scaled.writeFloatLE(scaled.readFloatLE(dataStart + 4 * i) * 1.5, dataStart + 4 * i);
  t.regex(problemOf(t, scaled), /^checksum:/);
  const edited = Buffer.from(bytes.toString('latin1').replace('"hello"', '"jello"'), 'latin1');
  t.is(edited.length, bytes.length);
  t.regex(problemOf(t, edited), /^checksum:/);
  // A safetensors file that autoscale did not write has no checksum to check.
  const foreign = Buffer.from(bytes.toString('latin1').replace(`"${TENSOR_CHECKSUM_KEY}"`, '"autoscale.sha999"'), 'latin1');
  t.regex(problemOf(t, foreign), /^checksum: no "autoscale\.sha256" checksum in its metadata: not written by autoscale$/);
});

test('files that break the layout are refused, each with its problem', (t) => {
  const bytes = bytesOf(sample());
  t.regex(problemOf(t, Buffer.from('tiny')), /^not-safetensors: 4 bytes/);
  t.regex(problemOf(t, Buffer.from('not a model at all')), /^not-safetensors: it does not start with an 8-byte header length and a JSON header$/);
  t.regex(problemOf(t, Buffer.concat([Buffer.from('ASMF'), Buffer.alloc(20)])), /^old-format: an "ASMF" model file of an earlier autoscale/);
  t.regex(problemOf(t, bytes.subarray(0, bytes.length - 3)), /^truncated: the header says 53 bytes of tensors/);
  t.regex(problemOf(t, bytes.subarray(0, 20)), /^truncated: its header claims \d+ bytes but the file has 12/);
  t.regex(problemOf(t, Buffer.concat([bytes, Buffer.from([0])])), /^corrupt-header: 1 bytes follow the last tensor$/);
  const badJson = Buffer.from(bytes);
  badJson.write('{"w":', 8, 'latin1');
  t.regex(problemOf(t, badJson), /^corrupt-header: the header is not valid JSON/);
  // Offsets with a gap: rebuild a header by hand.
  const header = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } });
  const gap = Buffer.concat([Buffer.from(new BigUint64Array([BigInt(header.length)]).buffer), Buffer.from(header), Buffer.alloc(8)]);
  t.regex(problemOf(t, gap), /^corrupt-header: tensor "a" starts at byte 4 of the data, not at 0/);
  const wrongSize = JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } });
  t.regex(problemOf(t, Buffer.concat([Buffer.from(new BigUint64Array([BigInt(wrongSize.length)]).buffer), Buffer.from(wrongSize), Buffer.alloc(8)])), /^corrupt-header: tensor "a" of shape \[3\] F32 needs 12 bytes, its offsets span 8$/);
  const dir = tempDir(t);
  t.throws(() => readTensorFile(path.join(dir, 'none.safetensors')), { message: /none\.safetensors: no such file$/ });
  t.throws(() => encodeTensorFile({ metadata: {}, tensors: [{ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array(3) }] }), { message: /shape \[2\] needs 2 F32 elements, got a Float32Array of 3/ });
});

test('an old "ASMF" model file is refused with the fix: save it again', (t) => {
  const dir = tempDir(t);
  const old = path.join(dir, 'old.model');
  const json = Buffer.from(JSON.stringify({ format: 'autoscale-model', version: 1, parameters: 1 }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  writeFileSync(old, Buffer.concat([Buffer.from('ASMF'), length, json, Buffer.alloc(4)]));
  t.throws(() => readModelFile(old), {
    message: /old\.model: an "ASMF" model file of an earlier autoscale, before the safetensors layout; this autoscale reads model files in the safetensors layout only; fix: write it again with `autoscale train <config> --tokens \.\.\. --save <file>`/,
  });
});

// A Python that can read the files: the `safetensors` package, else PyTorch or NumPy over a strict
// reading of the layout (safetensors' own rules: header length, JSON object, offsets that tile the
// data exactly). Debian's python3-torch lives in /usr/bin/python3, which may not be the first python3.
const PYTHON_READER = String.raw`
import json, struct, sys
path = sys.argv[1]
raw = open(path, 'rb').read()
try:
    from safetensors import safe_open
    with safe_open(path, framework='np') as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata()
    reader = 'safetensors'
    out = {k: {'shape': list(v.shape), 'values': v.astype('float64').ravel().tolist()} for k, v in tensors.items()}
except ImportError:
    (n,) = struct.unpack('<Q', raw[:8])
    assert n <= 100_000_000 and raw[8:9] == b'{', 'header length or start'
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    assert isinstance(header, dict)
    metadata = header.pop('__metadata__', None)
    assert metadata is None or all(isinstance(v, str) for v in metadata.values())
    data = raw[8 + n:]
    end = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets']):
        begin, stop = info['data_offsets']
        assert begin == end, 'offsets must tile the data: ' + name
        assert info['dtype'] == 'F32'
        count = 1
        for d in info['shape']:
            count *= d
        assert stop - begin == 4 * count, 'size of ' + name
        end = stop
    assert end == len(data), 'the last tensor must end the file'
    try:
        import torch
        reader = 'torch ' + torch.__version__
        load = lambda b, e, shape: torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(shape)
        out = {k: (lambda x: {'shape': list(x.shape), 'values': x.double().flatten().tolist()})(load(*v['data_offsets'], v['shape'])) for k, v in header.items()}
    except ImportError:
        import numpy
        reader = 'numpy ' + numpy.__version__
        out = {k: {'shape': list(v['shape']), 'values': numpy.frombuffer(data[v['data_offsets'][0]:v['data_offsets'][1]], dtype='<f4').astype('float64').tolist()} for k, v in header.items()}
print(json.dumps({'reader': reader, 'metadata': metadata, 'tensors': out}))
`;

function findPython(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in ("safetensors", "torch", "numpy")) else 1)'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}
const python = findPython();

interface PythonRead {
  reader: string;
  metadata: Record<string, string>;
  tensors: Record<string, { shape: number[]; values: number[] }>;
}

function readInPython(t: ExecutionContext, file: string): PythonRead {
  const result = spawnSync(python!, ['-c', PYTHON_READER, file], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  const read = JSON.parse(result.stdout) as PythonRead;
  t.log(`read in Python by ${read.reader}`);
  return read;
}

(python ? test : test.skip)('Python reads a saved model as it is: named GPT-2 tensors, shapes, values and metadata', (t) => {
  const dir = tempDir(t);
  const config = { vocabSize: 256, contextLength: 16, width: 16, layers: 1, heads: 2 };
  const model = new Model(config, { backend: 'cpu', threads: 1, seed: 3 });
  const parameters = model.getParameters();
  const layout = model.parameterLayout;
  model.dispose();
  const file = path.join(dir, 'tiny.model');
  writeModelFile(file, { model: config, tokenizer: 'byte', run: 'r'.repeat(64), data: 'd'.repeat(32), parameters, layout });
  t.deepEqual(readModelFile(file).parameters, parameters);

  const read = readInPython(t, file);
  t.deepEqual(Object.keys(read.tensors).sort(), layout.map((p) => p.name).sort());
  for (const p of layout) {
    t.deepEqual(read.tensors[p.name]!.shape, [...p.shape], p.name);
    t.deepEqual(read.tensors[p.name]!.values, [...parameters.subarray(p.offset, p.offset + p.size)], p.name); // float32 -> float64 is exact
  }
  t.deepEqual(read.tensors.wte!.shape, [256, 16]);
  t.is(read.metadata['autoscale.kind'], 'model');
  t.deepEqual(JSON.parse(read.metadata['autoscale.model']!), config);
  t.is(read.metadata['autoscale.tokenizer'], 'byte');
});

(python ? test : test.skip)('Python reads a checkpoint: parameters, AdamW moments and where the run stands', async (t) => {
  const dir = path.join(tempDir(t), 'run');
  const controller = new AbortController();
  await t.throwsAsync(
    trainProxyRun({
      model: new FakeModel(), stream: fakeStream(20), evalSet: fakeEvalSet(), schedule: { lr: 0.05, minLr: 0.005, warmupSteps: 3 },
      contextLength: 8, evalPoints: 4, checkpointDir: dir, signal: controller.signal,
      onProgress: (event) => { if (event.step === 7) controller.abort(); },
    }),
    { name: 'AbortError' },
  );
  const checkpoint = readCheckpoint(dir)!;
  const read = readInPython(t, path.join(dir, CHECKPOINT_FILE));
  t.deepEqual(read.tensors.parameters, { shape: [8], values: [...checkpoint.parameters] });
  t.deepEqual(read.tensors['optimizer.m']!.values, [...checkpoint.m]);
  t.deepEqual(read.tensors['optimizer.v']!.values, [...checkpoint.v]);
  t.is(read.metadata['autoscale.kind'], 'checkpoint');
  t.like(JSON.parse(read.metadata['autoscale.checkpoint']!), { step: 7, optimizerStep: 7, parameters: 8 });
  t.true(readFileSync(path.join(dir, CHECKPOINT_FILE)).length > 3 * 8 * 4);
});

test('writeTensorFile replaces a file atomically', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'a.safetensors');
  writeTensorFile(file, sample());
  writeTensorFile(file, { metadata: {}, tensors: [{ name: 'only', dtype: 'F32', shape: [1], data: Float32Array.of(7) }] });
  t.deepEqual(readTensorFile(file).tensors.map((x) => x.name), ['only']);
});

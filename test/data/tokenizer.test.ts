import test from 'ava';
import { getTokenizer } from '../../lib/data/index.js';

test('byte tokenizer round-trips any text exactly, one id per UTF-8 byte', (t) => {
  const byte = getTokenizer('byte');
  t.is(byte.vocabSize, 256);
  for (const text of ['', 'plain ascii', 'naïve café — “quotes”', '日本語のテキスト', 'emoji 🐋🌊 and \u0000 nul', '\r\n\t line ends']) {
    const ids = byte.encode(text);
    t.true(ids instanceof Uint16Array);
    t.is(ids.length, Buffer.byteLength(text));
    t.deepEqual([...ids], [...Buffer.from(text)]);
    t.is(byte.decode(ids), text);
  }
});

test('gpt2 tokenizer encodes known strings to their GPT-2 ids and decodes them back', (t) => {
  const gpt2 = getTokenizer('gpt2');
  t.is(gpt2.vocabSize, 50257);
  t.is(gpt2.endOfText, 50256);
  // Reference ids from OpenAI's GPT-2 encoder (tiktoken r50k_base).
  t.deepEqual([...gpt2.encode('Hello world')], [15496, 995]);
  t.deepEqual([...gpt2.encode(' hello')], [23748]);
  t.deepEqual([...gpt2.encode('The quick brown fox jumps over the lazy dog')], [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290]);
  t.deepEqual([...gpt2.encode('\n')], [198]);
  for (const text of ['Call me Ishmael. Some years ago—never mind how long precisely', 'interface Array<T> { length: number; }', '日本語 🐋']) {
    const ids = gpt2.encode(text);
    t.true(ids instanceof Uint16Array);
    t.true(ids.every((id) => id < gpt2.vocabSize));
    t.is(gpt2.decode(ids), text);
  }
});

test('gpt2 tokenizer treats "<|endoftext|>" inside a document as plain text', (t) => {
  const gpt2 = getTokenizer('gpt2');
  const ids = gpt2.encode('a<|endoftext|>b');
  t.false(ids.includes(gpt2.endOfText));
  t.is(gpt2.decode(ids), 'a<|endoftext|>b');
});

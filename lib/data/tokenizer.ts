// Tokenizers: text <-> token ids. Both vocabularies fit in 16 bits, so token arrays are Uint16Array.
//   byte: the UTF-8 bytes themselves (vocab 256); exact round trip; for small CPU work.
//   gpt2: GPT-2 byte-level BPE (r50k_base, vocab 50257) from gpt-tokenizer, which ships its ranks
//         in the package (no network at run time).
import { decode as gpt2Decode, encode as gpt2Encode } from 'gpt-tokenizer/encoding/r50k_base';

/** The tokenizers a data config can name. */
export const TOKENIZER_NAMES = ['byte', 'gpt2'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];

/** Text to token ids and back. */
export interface Tokenizer {
  readonly name: TokenizerName;
  /** Number of token ids: every id is < vocabSize (<= 65536, so ids fit a Uint16Array). */
  readonly vocabSize: number;
  /**
   * The id written after every document in the shards. gpt2: <|endoftext|> (50256). byte: 0, the
   * NUL byte, which plain text does not use (vocab 256 has no spare id).
   */
  readonly endOfText: number;
  /** Token ids of `text`. Special-token strings in the text ("<|endoftext|>") are encoded as plain text. */
  encode(text: string): Uint16Array;
  /** Text of token ids (byte: invalid UTF-8 from a cut sequence decodes as U+FFFD). */
  decode(tokens: ArrayLike<number>): string;
}

const byteTokenizer: Tokenizer = {
  name: 'byte',
  vocabSize: 256,
  endOfText: 0,
  encode(text: string): Uint16Array {
    const bytes = Buffer.from(text, 'utf8');
    const tokens = new Uint16Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) tokens[i] = bytes[i]!;
    return tokens;
  },
  decode(tokens: ArrayLike<number>): string {
    return Buffer.from(Uint8Array.from(tokens)).toString('utf8');
  },
};

// Text is data, not instructions: never turn "<|endoftext|>" in a document into the special id.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

const gpt2Tokenizer: Tokenizer = {
  name: 'gpt2',
  vocabSize: 50257,
  endOfText: 50256,
  encode(text: string): Uint16Array {
    return Uint16Array.from(gpt2Encode(text, PLAIN_TEXT));
  },
  decode(tokens: ArrayLike<number>): string {
    return gpt2Decode(Array.from(tokens));
  },
};

/**
 * The tokenizer of that name.
 *
 * @example
 * getTokenizer('byte').encode('hi') // Uint16Array [104, 105]
 * getTokenizer('gpt2').encode('Hello world') // Uint16Array [15496, 995]
 */
export function getTokenizer(name: TokenizerName): Tokenizer {
  switch (name) {
    case 'byte':
      return byteTokenizer;
    case 'gpt2':
      return gpt2Tokenizer;
    default:
      throw new Error(`unknown tokenizer ${JSON.stringify(name)}; use one of ${TOKENIZER_NAMES.join(', ')}`);
  }
}

// Seeded random streams named by labels. A stream depends only on its label parts (say: seed, domain
// name, purpose, epoch), never on how many numbers other streams drew: the basis of the sampler's
// common random numbers. Generator: xoshiro128** (32-bit, fast in JavaScript), seeded from SHA-256.
import { createHash } from 'node:crypto';

/** A deterministic pseudo-random stream (xoshiro128**). */
export class RandomStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * A stream seeded from its label parts; equal parts give equal streams on every platform.
   *
   * @example new RandomStream(7, 'books', 'epoch', 0).next() // a number in [0, 1)
   */
  constructor(...label: Array<string | number>) {
    const digest = createHash('sha256').update(JSON.stringify(label)).digest();
    this.s0 = digest.readUInt32LE(0);
    this.s1 = digest.readUInt32LE(4);
    this.s2 = digest.readUInt32LE(8);
    this.s3 = digest.readUInt32LE(12);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * A uniform number in [0, 1) with 53 random bits.
   *
   * @example new RandomStream('x').next() < 1 // true
   */
  next(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /**
   * A uniform integer in [0, n), n <= 2^53.
   *
   * @example new RandomStream('x').integer(6) // one of 0..5
   */
  integer(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * A uniformly random permutation of 0..n-1 (Fisher-Yates).
   *
   * @example new RandomStream('x').permutation(4) // e.g. Uint32Array [2, 0, 3, 1]
   */
  permutation(n: number): Uint32Array {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      const tmp = order[i]!;
      order[i] = order[j]!;
      order[j] = tmp;
    }
    return order;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

import test from 'ava';
import { DataError, getTokenizer, MixtureSampler, type MixtureSampler as Sampler, type PreparedData } from '../../lib/data/index.js';
import { letterCorpus } from './fixtures.js';

const T = 32;
const B = 8;
const byte = getTokenizer('byte');
const LETTERS = ['abcde', 'fghij', 'klmno', 'pqrst'];

// Four domains of 30 documents x 500 bytes (~13.5k training tokens each), each in its own letters.
let corpus: Promise<PreparedData> | undefined;
function prepared(t: Parameters<typeof letterCorpus>[0]): Promise<PreparedData> {
  corpus ??= letterCorpus(t, { domains: 4, documents: 30, documentBytes: 500, heldOut: { documents: 3 } });
  return corpus;
}

// Every window of the run, in order: [domain, window text].
function windowsOf(sampler: Sampler): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const batch of sampler.batches()) {
    for (let r = 0; r < batch.rows; r++) out.push([batch.domains[r]!, byte.decode(batch.tokens.subarray(r * (T + 1), (r + 1) * (T + 1)))]);
  }
  return out;
}

const compositions: Array<Record<string, number>> = [
  { d0: 1000, d1: 1000, d2: 1000, d3: 1000 },
  { d0: 9000, d1: 300, d2: 0, d3: 4500 },
  { d0: 47, d1: 12345, d2: 6789, d3: 2 },
  { d0: 30000, d1: 100 }, // d0 needs more than its supply: a second epoch and then some
];

for (const [c, quantities] of compositions.entries()) {
  test(`composition ${c}: each domain gets exactly round(N_i / T) windows, T training tokens each`, async (t) => {
    const sampler = new MixtureSampler(await prepared(t), quantities, { contextLength: T, batchSize: B, seed: 7 });
    const counted = [0, 0, 0, 0];
    const tokensByDomain = [0, 0, 0, 0];
    for (const batch of sampler.batches()) {
      t.is(batch.tokens.length, batch.rows * (T + 1));
      t.true(batch.rows === B || batch.index === sampler.steps - 1);
      for (const d of batch.domains) counted[d]!++;
      batch.tokensByDomain.forEach((n, d) => (tokensByDomain[d]! += n));
    }
    for (const plan of sampler.domains) {
      const asked = quantities[plan.name] ?? 0;
      t.is(counted[plan.index], Math.round(asked / T), plan.name);
      t.is(plan.windows, counted[plan.index]);
      t.is(plan.tokens, counted[plan.index]! * T);
      t.is(tokensByDomain[plan.index], plan.tokens);
      t.true(Math.abs(plan.tokens - asked) <= T / 2); // "to within one window"
    }
    t.is(sampler.totalWindows, counted.reduce((a, b) => a + b, 0));
    t.is(sampler.steps, Math.ceil(sampler.totalWindows / B));
  });
}

test('every window is T + 1 consecutive training tokens of the domain it is counted for', async (t) => {
  const data = await prepared(t);
  const sampler = new MixtureSampler(data, compositions[1]!, { contextLength: T, batchSize: B, seed: 3 });
  const streams = data.domains.map((d) => byte.decode(d.train.tokens));
  for (const [d, text] of windowsOf(sampler)) {
    t.true(streams[d]!.includes(text));
    t.true([...text].every((ch) => LETTERS[d]!.includes(ch) || /[<>:\d\0]/.test(ch)));
  }
});

test('no window repeats before a domain runs out of supply; past it, epochs are started and counted', async (t) => {
  const data = await prepared(t);
  const sampler = new MixtureSampler(data, compositions[3]!, { contextLength: T, batchSize: B, seed: 5 });
  const plan = sampler.domains[0]!;
  t.is(plan.windowsPerEpoch, Math.floor((data.domains[0]!.trainTokens - 1) / T));
  t.true(plan.windows > plan.windowsPerEpoch);
  t.is(plan.epochsStarted, Math.ceil(plan.windows / plan.windowsPerEpoch));
  t.is(plan.repeatedWindows, plan.windows - plan.windowsPerEpoch);
  t.is(plan.uniqueTokens, data.domains[0]!.trainTokens);
  const d0 = windowsOf(sampler).filter(([d]) => d === 0).map(([, text]) => text);
  t.is(new Set(d0.slice(0, plan.windowsPerEpoch)).size, plan.windowsPerEpoch); // the first epoch: all distinct
  const small = sampler.domains[1]!;
  t.is(small.epochsStarted, 1);
  t.is(small.repeatedWindows, 0);
});

test('the stream is deterministic from the seed and changes with it', async (t) => {
  const data = await prepared(t);
  const options = { contextLength: T, batchSize: B, seed: 11 };
  const a = windowsOf(new MixtureSampler(data, compositions[2]!, options));
  t.deepEqual(windowsOf(new MixtureSampler(data, compositions[2]!, options)), a);
  t.notDeepEqual(windowsOf(new MixtureSampler(data, compositions[2]!, { ...options, seed: 12 })), a);
});

test('domains are interleaved at random and spread over the whole run', async (t) => {
  const data = await prepared(t);
  const sampler = new MixtureSampler(data, { d0: 8000, d1: 8000, d2: 4000, d3: 2000 }, { contextLength: T, batchSize: B, seed: 2 });
  const order = windowsOf(sampler).map(([d]) => d);
  let changes = 0;
  for (let i = 1; i < order.length; i++) if (order[i] !== order[i - 1]) changes++;
  t.true(changes > order.length / 2);
  // Stratified keys: in each quarter of the run every domain has its share to within 2 windows.
  for (let q = 0; q < 4; q++) {
    const part = order.slice((q * order.length) / 4, ((q + 1) * order.length) / 4);
    for (const plan of sampler.domains) t.true(Math.abs(part.filter((d) => d === plan.index).length - plan.windows / 4) <= 2);
  }
});

test('common random numbers: runs that differ in one domain share the other domains\' windows in the same order', async (t) => {
  const data = await prepared(t);
  const options = { contextLength: T, batchSize: B, seed: 21 };
  const base = { d0: 3000, d1: 3000, d2: 3000, d3: 3000 };
  const baseRun = windowsOf(new MixtureSampler(data, base, options));
  for (const [domain, factor] of [['d1', 3], ['d1', 1 / 3], ['d3', 5]] as const) {
    const index = Number(domain.slice(1));
    const run = windowsOf(new MixtureSampler(data, { ...base, [domain]: base[domain] * factor }, options));
    const others = (windows: Array<[number, string]>): Array<[number, string]> => windows.filter(([d]) => d !== index);
    t.deepEqual(others(run), others(baseRun), `${domain} x${factor}`);
    // The perturbed domain: the smaller run's windows are the first ones of the larger run.
    const mine = (windows: Array<[number, string]>): string[] => windows.filter(([d]) => d === index).map(([, text]) => text);
    const [shorter, longer] = factor > 1 ? [mine(baseRun), mine(run)] : [mine(run), mine(baseRun)];
    t.deepEqual(longer.slice(0, shorter.length), shorter);
  }
});

test('batches are addressable by index: batch(i) equals the i-th batch of the stream, and batches(from) resumes', async (t) => {
  const data = await prepared(t);
  const sampler = new MixtureSampler(data, compositions[2]!, { contextLength: T, batchSize: B, seed: 4 });
  const all = [...sampler];
  t.is(all.length, sampler.steps);
  for (const i of [0, 5, sampler.steps - 1]) {
    t.deepEqual(sampler.batch(i), all[i]!.tokens);
    t.deepEqual(sampler.batchDomains(i), all[i]!.domains);
  }
  t.deepEqual([...sampler.batches(7)].map((b) => b.tokens), all.slice(7).map((b) => b.tokens));
  t.throws(() => sampler.batch(sampler.steps), { message: /outside/ });
});

test('impossible quantities and options are refused with the fix', async (t) => {
  const data = await prepared(t);
  const options = { contextLength: T, batchSize: B, seed: 0 };
  const cases: Array<[() => unknown, RegExp]> = [
    [() => new MixtureSampler(data, { books: 100 }, options), /quantities name the domain "books", which the prepared data lacks; fix: use only "d0"/],
    [() => new MixtureSampler(data, { d0: -5 }, options), /the quantity of domain "d0" is -5; fix: give a token count >= 0/],
    [() => new MixtureSampler(data, { d0: Number.NaN }, options), /is NaN/],
    [() => new MixtureSampler(data, { d0: 10 }, options), /less than half a window .* fix: ask for more tokens/],
    [() => new MixtureSampler(data, { d0: 1e6 }, { ...options, contextLength: 1e5 }), /domain "d0" has \d+ training tokens, fewer than one window of 100001; fix: use a shorter context/],
    [() => new MixtureSampler(data, { d0: 1000 }, { ...options, batchSize: 0 }), /batchSize is 0; fix: give a whole number >= 1/],
    [() => new MixtureSampler(data, { d0: 1000 }, { ...options, contextLength: 2.5 }), /contextLength is 2.5/],
  ];
  for (const [make, pattern] of cases) t.throws(make, { instanceOf: DataError, message: pattern });
});

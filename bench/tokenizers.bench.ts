// Tokenizer throughput (MB/s of UTF-8 text encoded) on the demo corpus, all five domains.
// Run: node --import tsx bench/tokenizers.bench.ts [--max-bytes N] [--repeats R]
import { DEMO_DOMAINS, demoDocuments, getTokenizer, TOKENIZER_NAMES } from '../lib/data/index.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const maxBytes = option('--max-bytes', 256 * 1024);
const repeats = option('--repeats', 3);
const documents: string[] = [];
for (const domain of DEMO_DOMAINS) documents.push(...(await demoDocuments(domain, maxBytes)));
const bytes = documents.reduce((sum, d) => sum + Buffer.byteLength(d), 0);
process.stdout.write(`corpus: demo, ${DEMO_DOMAINS.length} domains, ${documents.length} documents, ${(bytes / 1e6).toFixed(2)} MB; best of ${repeats}\n`);
for (const name of TOKENIZER_NAMES) {
  const tokenizer = getTokenizer(name);
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    tokens = 0;
    for (const doc of documents) tokens += tokenizer.encode(doc).length;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  process.stdout.write(`${name.padEnd(5)} encode ${(bytes / 1e6 / best).toFixed(1).padStart(7)} MB/s  ${tokens} tokens (${(bytes / tokens).toFixed(2)} bytes/token)\n`);
}

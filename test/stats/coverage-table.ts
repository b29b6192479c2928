// Prints the coverage table of docs/noise.md "Calibration" at several seed counts (not a test: minutes per row).
//   nice -n 19 node --import tsx test/stats/coverage-table.ts [seeds, e.g. 3,5,8] [experiments] [draws] [world: demo | three-domain]
// demo: worlds shaped like the demo from 8 seeds on (coverage.ts DEMO_SHAPE: 5 domains, 100k and 300k, prediction at
// 600k); three-domain: the worlds of calibration.test.ts (3 domains, noise SDs 0.05%-0.3%, 300k and 900k, prediction at 2.7M).
// Standard errors take the experiments as the independent units.
import { calibratedLevel } from '../../lib/stats/ddo-replicates.js';
import { demoCoverage, measureCoverage } from './coverage.js';
import { randomWorld } from './simulate.js';

const seedCounts = (process.argv[2] ?? '3,5,8').split(',').map(Number);
const experiments = Number(process.argv[3] ?? 150);
const draws = Number(process.argv[4] ?? 400);
const world = process.argv[5] ?? 'demo';
if (!['demo', 'three-domain'].includes(world)) throw new RangeError(`world must be demo or three-domain, got ${world}`);

const pct = (x: number): string => (100 * x).toFixed(2);
console.log(`world ${world}, ${experiments} experiments per row, ${draws} draws, nominal level 0.9`);
console.log('| seeds | domains | experiments | central probability of the draws | DDO scale 1 | DDO scale 2 | DDO (± s.e.) | prediction (± s.e.) | mean half-width DDO / prediction (points) | s per experiment |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const seeds of seedCounts) {
  const t0 = Date.now();
  const c = world === 'demo'
    ? demoCoverage(`table-${seeds}`, experiments, seeds, draws)
    : measureCoverage(`table-three-domain-${seeds}`, experiments, seeds, (rng, e) => randomWorld(rng, 3, [0.0005, 0.001, 0.002, 0.003][e % 4]!), draws);
  const domains = world === 'demo' ? 5 : 3;
  console.log(`| ${seeds} | ${domains} | ${experiments} | ${calibratedLevel(0.9, seeds).toFixed(3)} | ${c.ddoByScale.map((v) => v.toFixed(3)).join(' | ')} | ` +
    `${c.ddo.toFixed(3)} ± ${c.se.ddo.toFixed(3)} | ${c.prediction.toFixed(3)} ± ${c.se.prediction.toFixed(3)} | ${pct(c.halfWidth)} / ${pct(c.predictionHalfWidth)} | ${((Date.now() - t0) / 1000 / experiments).toFixed(1)} |`);
}

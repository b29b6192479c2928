// Calibration of the intervals at the demo's shape from 8 seeds on (5 domains, DDO at 100k and 300k, the prediction at
// 600k; noise and effects as measured on its data): see coverage.ts (DEMO_SHAPE), calibratedLevel and docs/noise.md.
import test from 'ava';
import { demoCoverage } from './coverage.js';

// 90 experiments x 2 scales x 5 domains = 900 DDO intervals and 450 prediction intervals, about 55 s on one core.
// With the experiments as the independent units the standard error is about 1.5 points for the DDO coverage and 2 for
// the prediction's (measured spread of the per-experiment coverage), so 0.83 is 3.5 standard errors below a true 0.9
// and 0.97 as far above. 200 draws, not the 60 of calibration.test.ts: at 8 seeds the calibrated range is 90.9%
// central, and its 4.5% tails read from 60 draws undercover (150 experiments: DDO 0.882, prediction 0.865, against
// 0.921 and 0.909 with the product's 400 draws, test/stats/coverage-table.ts); 200 draws: 0.900 and 0.876 (100 experiments).
const EXPERIMENTS = 90;
const DRAWS = 200;

test('90% intervals cover the true DDO optimum and the true AutoScale prediction about 90% of the time (8 seeds, 5 domains, the demo\'s noise)', (t) => {
  const c = demoCoverage('seeds-8', EXPERIMENTS, 8, DRAWS);
  t.log(`coverage: DDO ${c.ddo.toFixed(3)} ± ${c.se.ddo.toFixed(3)} (scales ${c.ddoByScale.map((v) => v.toFixed(3)).join(', ')}), ` +
    `prediction ${c.prediction.toFixed(3)} ± ${c.se.prediction.toFixed(3)}; mean half-width ${(100 * c.halfWidth).toFixed(2)} points (prediction ${(100 * c.predictionHalfWidth).toFixed(2)})`);
  t.true(c.ddo >= 0.83 && c.ddo <= 0.97, `DDO coverage ${c.ddo}`);
  t.true(c.prediction >= 0.83 && c.prediction <= 0.97, `prediction coverage ${c.prediction}`);
});

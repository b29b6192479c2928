// Shared by the two calibration tests (split in two files so they run in parallel). Calibration of the intervals: on simulated DDO experiments whose optimum is known, the nominal 90% intervals
// must cover the true weights about 90% of the time, at the DDO scales and for the AutoScale prediction, and
// domains whose fits turn degenerate under the noise must not make them lie.
import { RandomStream } from '../../lib/stats/sampling.js';
import { randomWorld, runExperiment } from './simulate.js';

// 72 experiments x 2 scales x 3 domains = 432 intervals (48 experiments for the weak-domain case); with experiments as
// the independent units the coverage estimate has a standard error of about 3 points, so 0.83 is 2.3 standard errors
// below a true 0.9 (and the upper bounds leave room for being a little conservative, which is not a lie).
// Measured with 100 experiments each: DDO 0.928 and prediction 0.946; weak case 0.927 / weak domain 0.955 / 0.922.
const DRAWS = 60;

export function coverage(weak: boolean, label: string, experiments: number): { ddo: number; prediction: number; weakDomain: number; halfWidth: number } {
  const rng = new RandomStream('calibration-test', label);
  let ddoCovered = 0;
  let ddoTotal = 0;
  let predCovered = 0;
  let predTotal = 0;
  let weakCovered = 0;
  let weakTotal = 0;
  let halfWidth = 0;
  for (let e = 0; e < experiments; e++) {
    // Per-run noise SDs from 0.05% to 0.3% (SNR from about 30 down to 2): the range measured on the demo proxies.
    const sigma = [0.0005, 0.001, 0.002, 0.003][e % 4]!;
    const outcome = runExperiment(randomWorld(rng, 3, sigma, weak), rng, 3, DRAWS);
    for (const scale of outcome.ddo) {
      scale.covered.forEach((c) => {
        ddoCovered += c ? 1 : 0;
        ddoTotal += 1;
      });
      weakCovered += scale.covered[0] ? 1 : 0;
      weakTotal += 1;
      halfWidth += scale.halfWidth.reduce((a, b) => a + b, 0) / scale.halfWidth.length;
    }
    if (outcome.prediction) {
      outcome.prediction.covered.forEach((c) => {
        predCovered += c ? 1 : 0;
        predTotal += 1;
      });
    }
  }
  return { ddo: ddoCovered / ddoTotal, prediction: predCovered / Math.max(predTotal, 1), weakDomain: weakCovered / weakTotal, halfWidth: halfWidth / (2 * experiments) };
}


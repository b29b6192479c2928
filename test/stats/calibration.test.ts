// Calibration of the intervals (ordinary domains): see coverage.ts and docs/noise.md.
import test from 'ava';
import { coverage } from './coverage.js';

test('90% intervals cover the true DDO optimum and the true AutoScale prediction about 90% of the time (3 seeds)', (t) => {
  const c = coverage(false, 'ordinary', 72);
  t.log(`coverage: DDO ${c.ddo.toFixed(3)}, prediction ${c.prediction.toFixed(3)}; mean half-width ${(100 * c.halfWidth).toFixed(1)} points`);
  t.true(c.ddo >= 0.83 && c.ddo <= 0.97, `DDO coverage ${c.ddo}`);
  t.true(c.prediction >= 0.83 && c.prediction <= 0.98, `prediction coverage ${c.prediction}`);
});


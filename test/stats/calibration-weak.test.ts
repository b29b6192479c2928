// Calibration of the intervals when a domain's fits turn degenerate under the noise: see coverage.ts and docs/noise.md.
import test from 'ava';
import { coverage } from './coverage.js';

test('a domain whose effect is within the noise (degenerate fits in many draws) does not make the intervals lie', (t) => {
  // Domain d0 has a response 4-10x flatter than the others: its fits are often not convex under the noise.
  const c = coverage(true, 'weak', 48);
  t.log(`coverage: DDO ${c.ddo.toFixed(3)}, the weak domain ${c.weakDomain.toFixed(3)}, prediction ${c.prediction.toFixed(3)}`);
  t.true(c.ddo >= 0.83, `DDO coverage ${c.ddo}`);
  t.true(c.weakDomain >= 0.83, `weak-domain coverage ${c.weakDomain}`);
  t.true(c.prediction >= 0.83, `prediction coverage ${c.prediction}`);
});

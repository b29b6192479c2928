import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runDdoCommand } from '../../lib/cli/ddo.js';
import { runPredictCommand } from '../../lib/cli/predict.js';
import { parseComposition, parseTokenCount } from '../../lib/composition.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

// A 3-domain loss with responses of DDO's form (see ddo.test.ts), at a given scale.
function runsCsv(shift: number): string {
  const curves = [{ a: 3, b: 2 }, { a: 4 + shift, b: 3 }, { a: 2.5, b: 1.5 + shift }];
  const e = curves.map((c) => 1 / 3 - Math.pow(1 + c.a, -c.b));
  const loss = (x: number[]): number => 3 * curves.reduce((s, c, i) => s + Math.pow(x[i]! + c.a, -c.b) + e[i]!, 0);
  const names = ['web', 'code', 'wiki'];
  const rows = ['domain,multiplier,loss', `base,1,${loss([1, 1, 1])}`];
  names.forEach((d, i) => {
    for (const m of [0.3333, 3]) rows.push(`${d},${m},${loss(names.map((_, j) => (j === i ? m : 1)))}`);
  });
  return `${rows.join('\n')}\n`;
}

test('autoscale ddo and predict run end to end as a command, print tables and write valid composition files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'autoscale-cli-'));
  writeFileSync(join(dir, 'a.csv'), runsCsv(0));
  writeFileSync(join(dir, 'b.csv'), runsCsv(1));
  const cli = ['--import', 'tsx', join(root, 'lib/cli.ts')];
  const a = await run('node', [...cli, 'ddo', '--results', join(dir, 'a.csv'), '--tokens', '1e6', '--out', join(dir, 'a.json')], { cwd: root });
  t.regex(a.stdout, /DDO optimum at scale 1e\+6|DDO optimum at scale 1000000/);
  t.regex(a.stdout, /web .* exact/);
  await run('node', [...cli, 'ddo', '--results', join(dir, 'b.csv'), '--tokens', '4000000', '--out', join(dir, 'b.json')], { cwd: root });
  const docA = parseComposition(readFileSync(join(dir, 'a.json'), 'utf8'), 'a.json');
  t.is(docA.scale, 1e6);
  t.is(docA.method, 'ddo');
  t.truthy((docA.fits as Record<string, { status: string }>).web!.status);
  const p = await run('node', [...cli, 'predict', '--scale', join(dir, 'a.json'), '--scale', join(dir, 'b.json'), '--target', '1e8', '--out', join(dir, 'p.json')], { cwd: root });
  t.regex(p.stdout, /AutoScale prediction at 100000000 tokens from 2 scales/);
  const pred = parseComposition(readFileSync(join(dir, 'p.json'), 'utf8'), 'p.json');
  t.is(pred.scale, 1e8);
  t.deepEqual(Object.keys(pred.tokens), ['web', 'code', 'wiki']);
  const bad = await run('node', [...cli, 'predict', '--scale', join(dir, 'a.json'), '--scale', join(dir, 'b.json'), '--target', '-3'], { cwd: root }).catch((e: { code: number; stderr: string }) => e);
  t.is((bad as { code: number }).code, 1);
  t.regex((bad as { stderr: string }).stderr, /--target "-3" is not a positive number/);
});

test('the commands give clear errors for malformed files, unknown domains and conflicting options', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'autoscale-cli-'));
  const csv = join(dir, 'runs.csv');
  writeFileSync(csv, runsCsv(0));
  t.throws(() => runDdoCommand({ results: csv, tokens: '1e6', base: 'x.json' }), { message: /either --tokens .* or --base/ });
  t.throws(() => runDdoCommand({ results: join(dir, 'missing.csv') }), { message: /missing\.csv: cannot read \(ENOENT\)/ });
  writeFileSync(join(dir, 'base.json'), '{"scale": 2, "tokens": {"web": 1, "books": 1}}');
  t.throws(() => runDdoCommand({ results: csv, base: join(dir, 'base.json') }), { message: /code, wiki not in the base composition/ });
  writeFileSync(join(dir, 'dup.json'), '{"scale": 2,\n "tokens": {"web": 1, "web": 1}}');
  t.throws(() => runDdoCommand({ results: csv, base: join(dir, 'dup.json') }), { message: /dup\.json line 2: key "web" appears twice/ });
  writeFileSync(join(dir, 'sum.json'), '{"scale": 5, "tokens": {"web": 1, "code": 1, "wiki": 1}}');
  t.throws(() => runDdoCommand({ results: csv, base: join(dir, 'sum.json') }), { message: /tokens sum to 3 but "scale" is 5/ });
  writeFileSync(join(dir, 'bad.json'), '{"scale": 5, "tokens": ');
  t.throws(() => runPredictCommand({ scale: [join(dir, 'bad.json'), join(dir, 'sum.json')], target: '1e9' }), { message: /bad\.json: not valid JSON/ });
  t.throws(() => runPredictCommand({ scale: [join(dir, 'sum.json')], target: '1e9' }), { message: /at least two --scale files/ });
  t.throws(() => runDdoCommand({ results: csv, tokens: '1e6', minMultiplier: '2' }), { message: /outside what the bounds allow/ });
  const ok = runDdoCommand({ results: csv, tokens: '3M', out: join(dir, 'o.json') });
  t.is(ok.document.scale, 3e6);
  t.false(readFileSync(join(dir, 'o.json'), 'utf8').includes('NaN'));
  t.is(parseTokenCount('1_000_000_000', '--tokens'), 1e9);
  t.is(parseTokenCount('2.5B', '--tokens'), 2.5e9);
});

// The parts of the queue runner that need no Redis: URLs and their passwords, the config's "runner"
// section, the job data a worker accepts, how a failure's code travels in failedReason, and the flags.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { parseFailureReason, failureReason, parseQueuedRun, QUEUED_RUN_FORMAT } from '../../lib/queue/job.js';
import { parseRedisUrl, redactRedisUrl, redactSecrets } from '../../lib/queue/redis-url.js';
import { ConfigError, parsePipelineConfig } from '../../lib/pipeline-config.js';
import { PROXY_RUN_FORMAT } from '../../lib/pipeline/spec.js';
import { tinySetup } from '../pipeline/fixtures/tiny.js';
import { cli, root } from './fixtures/redis.js';

test('redactRedisUrl hides the password and keeps the rest of the URL', (t) => {
  t.is(redactRedisUrl('redis://:hunter2@10.0.0.5:6379/0'), 'redis://:***@10.0.0.5:6379/0');
  t.is(redactRedisUrl('rediss://worker:p%40ss@db.example:6380'), 'rediss://worker:***@db.example:6380');
  t.is(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  // Text that does not parse shows nothing after the scheme: the password could be anywhere in it.
  t.is(redactRedisUrl('redis://:hunter2@[bad'), 'redis://(unparsable)');
  t.is(redactRedisUrl('hunter2'), '(not a URL)');
});

test('redactSecrets removes the password from any text, as written and percent-decoded', (t) => {
  const url = 'redis://user:p%40ss%21word@db:6379';
  const text = `cannot reach ${url}; AUTH p@ss!word failed; raw p%40ss%21word`;
  const out = redactSecrets(text, url);
  t.false(out.includes('p@ss!word'));
  t.false(out.includes('p%40ss%21word'));
  t.is(out, 'cannot reach redis://user:***@db:6379; AUTH *** failed; raw ***');
});

test('parseRedisUrl accepts redis:// and rediss:// and names the flag and the fix otherwise, without the password', (t) => {
  t.is(parseRedisUrl('redis://127.0.0.1:6379', '--redis'), 'redis://127.0.0.1:6379');
  t.is(parseRedisUrl('rediss://:secret@db.example:6380/2', '--redis'), 'rediss://:secret@db.example:6380/2');
  const cases: [string, RegExp][] = [
    ['http://:secret@db:6379', /^--redis: http:\/\/:\*\*\*@db:6379\/ has the scheme "http:"; write redis:\/\//],
    ['db:6379', /--redis: .* has the scheme "db:"/],
    ['not a url secret', /--redis: \(not a URL\) is not a URL/],
    ['redis://:secret@db:6379/cache', /the database "cache" must be a number/],
  ];
  for (const [url, message] of cases) {
    const error = t.throws(() => parseRedisUrl(url, '--redis'));
    t.regex(error?.message ?? '', message);
    t.false(error?.message.includes('secret'), error?.message);
  }
});

test('config runner: local by default; redis and queue validated with the field named and the password hidden', (t) => {
  const base = { data: 'demo', scales: [1000, 2000], target: 10000 };
  t.deepEqual(parsePipelineConfig(base).runner, { redis: null, queue: 'autoscale' });
  t.deepEqual(parsePipelineConfig({ ...base, runner: { redis: 'redis://:pw@db:6379', queue: 'mix-1' } }).runner, { redis: 'redis://:pw@db:6379', queue: 'mix-1' });
  t.deepEqual(parsePipelineConfig({ ...base, runner: { redis: null } }).runner, { redis: null, queue: 'autoscale' });
  const cases: [unknown, RegExp][] = [
    ['redis://db', /^config: runner: must be an object/],
    [{ redis: 6379 }, /^config: runner\.redis: must be a Redis URL string or null/],
    [{ redis: 'http://:topsecret@db:6379' }, /^config: runner\.redis: http:\/\/:\*\*\*@db:6379\/ has the scheme "http:"/],
    [{ queue: 'a:b' }, /^config: runner\.queue: "a:b" is not a queue name/],
    [{ url: 'redis://db' }, /^config: runner\.url: unknown field; the fields here are "redis", "queue"/],
  ];
  for (const [runner, message] of cases) {
    const error = t.throws(() => parsePipelineConfig({ ...base, runner }), { instanceOf: ConfigError });
    t.regex(error?.message ?? '', message);
    t.false(error?.message.includes('topsecret'));
  }
});

test('a failure code survives the trip through failedReason', (t) => {
  const reason = failureReason('the loss is not finite (NaN) at step 4', 'ERR_NON_FINITE');
  t.is(reason, 'the loss is not finite (NaN) at step 4 [ERR_NON_FINITE]');
  t.deepEqual(parseFailureReason(reason), { error: 'the loss is not finite (NaN) at step 4', code: 'ERR_NON_FINITE' });
  t.deepEqual(parseFailureReason('out of memory'), { error: 'out of memory', code: null });
  t.is(parseFailureReason('job stalled more than allowable limit').code, 'ERR_STALLED');
  t.is(parseFailureReason(undefined).error, 'the job failed without a reason');
});

test('parseQueuedRun accepts the coordinator\'s job data and names the field of anything else', (t) => {
  const job = {
    format: QUEUED_RUN_FORMAT,
    spec: { kind: 'proxy-run', format: PROXY_RUN_FORMAT, data: 'abc', backend: 'cpu' },
    label: 'N=3k base',
    data: { config: { tokenizer: 'byte', heldOut: { fraction: 0.2, seed: 0 }, domains: [{ name: 'a', sources: [{ path: '/corpus/a.txt', field: 'text', separator: null, invalidUtf8: 'error' }] }] }, cacheDir: '/cache/data' },
    checkpoints: { dir: '/cache/checkpoints', everySeconds: 30 },
  };
  const run = parseQueuedRun(JSON.parse(JSON.stringify(job)));
  t.is(run.label, 'N=3k base');
  t.is(run.data.config.domains[0]!.sources[0]!.path, '/corpus/a.txt');
  const bad: [unknown, RegExp][] = [
    [{ ...job, format: 99 }, /job data: format is 99, not 1/],
    [{ ...job, spec: { ...job.spec, kind: 'other' } }, /job data: spec is not a proxy-run spec/],
    [{ ...job, data: { ...job.data, config: { domains: [] } } }, /job data: data\.config is not a valid data config/],
    [{ ...job, checkpoints: { dir: '/c' } }, /job data: checkpoints is not \{ dir, everySeconds \}/],
  ];
  for (const [value, message] of bad) t.throws(() => parseQueuedRun(value), { message });
});

const autoscale = (...args: string[]) => spawnSync(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, AUTOSCALE_REDIS_URL: '' } });

test('autoscale worker --help says what a worker trusts and how it finds data; bad flags are named before connecting', (t) => {
  const help = autoscale('worker', '--help');
  t.is(help.status, 0);
  for (const text of ['--redis', '--queue', '--backend', '--concurrency', '--threads', '--cache', '--lock-seconds', 'AUTOSCALE_REDIS_URL', 'trains any run the queue gives it', 'keep Redis private']) {
    t.true(help.stdout.includes(text), text);
  }
  t.regex(autoscale('worker').stderr, /autoscale: give the Redis URL: --redis redis:\/\/host:6379, or set AUTOSCALE_REDIS_URL/);
  const bad = autoscale('worker', '--redis', 'http://:hunter2@db:6379');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /--redis: http:\/\/:\*\*\*@db:6379\/ has the scheme "http:"/);
  t.false(bad.stderr.includes('hunter2'));
  t.regex(autoscale('worker', '--redis', 'redis://db:6379', '--queue', 'a:b').stderr, /--queue: "a:b" is not a queue name/);
  t.regex(autoscale('worker', '--redis', 'redis://db:6379', '--backend', 'tpu').stderr, /--backend must be cpu or cuda, got "tpu"/);
});

test('autoscale run --redis checks the URL as the config field, before preparing any data', (t) => {
  const { configFile } = tinySetup({ validation: null });
  const result = autoscale('run', configFile, '--redis', 'redis//:hunter2@db', '--quiet');
  t.is(result.status, 1);
  t.regex(result.stderr, /^autoscale: config: runner\.redis: \(not a URL\) is not a URL; write redis:\/\//);
  t.false(result.stderr.includes('hunter2'));
  t.true(autoscale('run', '--help').stdout.includes('--redis <url>'));
});

import test from 'ava';
import { formatDuration } from '../../lib/format.js';
import { planCapacity, runPool, type RunTask } from '../../lib/runner.js';

test('planCapacity keeps threads per run x runs within the cores', (t) => {
  t.like(planCapacity({ backend: 'cpu', cores: 2, runs: 11 }), { concurrency: 2, threadsPerRun: 1 });
  t.like(planCapacity({ backend: 'cpu', cores: 8, runs: 3 }), { concurrency: 3, threadsPerRun: 2 });
  t.like(planCapacity({ backend: 'cpu', cores: 8, runs: 1 }), { concurrency: 1, threadsPerRun: 8 });
  t.like(planCapacity({ backend: 'cpu', cores: 4, runs: 10, threadsPerRun: 3 }), { concurrency: 1, threadsPerRun: 3 });
  t.like(planCapacity({ backend: 'cuda', gpus: 2, runs: 20, runsPerGpu: 3 }), { concurrency: 6 });
  for (const cores of [1, 2, 3, 8, 16]) {
    for (const runs of [1, 2, 5, 11, 40]) {
      const c = planCapacity({ backend: 'cpu', cores, runs });
      t.true(c.concurrency * c.threadsPerRun <= cores, `cores ${cores} runs ${runs}`);
    }
  }
});

test('formatDuration writes m:ss and h:mm:ss', (t) => {
  t.is(formatDuration(75), '1:15');
  t.is(formatDuration(3700), '1:01:40');
  t.is(formatDuration(Number.NaN), '?');
});

test('runPool never runs more than `concurrency` tasks at once and keeps task order', async (t) => {
  let running = 0;
  let peak = 0;
  const tasks: RunTask<number>[] = Array.from({ length: 7 }, (_, i) => ({
    key: `k${i}`,
    label: `task ${i}`,
    tokens: 100,
    run: async (progress) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5 + ((i * 7) % 11)));
      progress(100, 1);
      running -= 1;
      return i * i;
    },
  }));
  const lines: string[] = [];
  const outcomes = await runPool(tasks, { concurrency: 3, log: (line) => lines.push(line) });
  t.is(peak, 3);
  t.deepEqual(
    outcomes.map((o) => (o.status === 'finished' ? o.result : -1)),
    [0, 1, 4, 9, 16, 25, 36],
  );
  t.true(lines.some((line) => /7\/7 runs done/.test(line)));
});

test('a failing task becomes a failed outcome with its reason and code; the others finish', async (t) => {
  const tasks: RunTask<string>[] = ['ok', 'nan', 'ok2'].map((name) => ({
    key: name,
    label: name,
    tokens: 10,
    run: async () => {
      if (name === 'nan') throw Object.assign(new Error('loss is NaN at step 3'), { code: 'ERR_NON_FINITE' });
      return name;
    },
  }));
  const seen: string[] = [];
  const outcomes = await runPool(tasks, { concurrency: 2, onOutcome: (o) => seen.push(`${o.key}:${o.status}`) });
  t.like(outcomes[1], { status: 'failed', error: 'loss is NaN at step 3', code: 'ERR_NON_FINITE' });
  t.like(outcomes[0], { status: 'finished', result: 'ok' });
  t.like(outcomes[2], { status: 'finished', result: 'ok2' });
  t.is(seen.length, 3);
});

test('an abort stops the pool: nothing new starts and it rejects with an AbortError', async (t) => {
  const controller = new AbortController();
  let startedCount = 0;
  const tasks: RunTask<number>[] = Array.from({ length: 5 }, (_, i) => ({
    key: `k${i}`,
    label: `t${i}`,
    tokens: 1,
    run: async () => {
      startedCount += 1;
      if (i === 1) controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 5));
      return i;
    },
  }));
  await t.throwsAsync(runPool(tasks, { concurrency: 1, signal: controller.signal }), { name: 'AbortError' });
  t.is(startedCount, 2);
});

test('a task whose claim() says no is skipped: no start line, not run, not counted as done', async (t) => {
  const ran: string[] = [];
  const tasks: RunTask<string>[] = ['a', 'b', 'c'].map((name) => ({
    key: name,
    label: `task ${name}`,
    tokens: 10,
    claim: () => name !== 'b',
    run: async () => {
      ran.push(name);
      return name;
    },
  }));
  const lines: string[] = [];
  const outcomes = await runPool(tasks, { concurrency: 2, log: (line) => lines.push(line) });
  t.deepEqual(ran.sort(), ['a', 'c']);
  t.deepEqual(outcomes.map((o) => o.status), ['finished', 'skipped', 'finished']);
  t.false(lines.some((line) => line.includes('task b')), lines.join('\n'));
  t.true(lines.some((line) => /2\/2 runs done/.test(line)), lines.join('\n'));
});

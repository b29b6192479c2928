// The OS's thread limits. A model asking for more CPU threads than the OS allows, or more live
// models than it has threads for, gets ERR_RESOURCES with a message that names the limit and the
// fix, and the process goes on (libgomp used to end it from inside the parallel region: "libgomp:
// Thread creation failed", then a segfault or a hang; a model's own thread gave ERR_INTERNAL).
// Each scenario runs in a child process whose RLIMIT_NPROC is lowered with prlimit once it is
// ready. The kernel does not apply RLIMIT_NPROC to root, so as root the child runs as nobody.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { addonCandidates } from '../../lib/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NOBODY = 65534;
const runAsRoot = process.getuid?.() === 0;
const childUid = runAsRoot ? NOBODY : (process.getuid?.() ?? -1);
const prlimitMissing = spawnSync('prlimit', ['--version'], { encoding: 'utf8' }).error !== undefined;
const skipReason =
  process.platform !== 'linux' ? 'RLIMIT_NPROC limits threads this way only on Linux' : prlimitMissing ? 'prlimit (util-linux) is not installed' : undefined;

interface Attempt {
  ok: boolean;
  code?: string;
  message?: string;
}

/** Threads of every process whose real uid is `uid`: what RLIMIT_NPROC counts. */
function threadsOfUser(uid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    if (realUid === uid) total += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return total;
}

/**
 * Runs a scenario of fixtures/thread-limits-child.mjs with RLIMIT_NPROC set, once the child is
 * ready, to the threads its user runs plus `spareThreads`. Resolves with its exit and result.
 */
async function runLimited(
  scenario: string,
  spareThreads: number,
): Promise<{ status: number | null; signal: string | null; stderr: string; limitError: string | undefined; result: Record<string, unknown> | undefined }> {
  // A copy of the addon and the child in a folder the child's user can read.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'autoscale-limits-'));
  chmodSync(dir, 0o755);
  const addon = addonCandidates().find((candidate) => existsSync(candidate));
  if (!addon) throw new Error(`no built addon among ${addonCandidates().join(', ')}`);
  copyFileSync(addon, path.join(dir, 'autoscale.node'));
  copyFileSync(path.join(here, 'fixtures', 'thread-limits-child.mjs'), path.join(dir, 'child.mjs'));
  chmodSync(path.join(dir, 'autoscale.node'), 0o755);
  chmodSync(path.join(dir, 'child.mjs'), 0o644);
  try {
    const child = spawn(process.execPath, [path.join(dir, 'child.mjs'), path.join(dir, 'autoscale.node'), scenario], {
      cwd: dir,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(runAsRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Before the fix the child hangs (or dies) inside libgomp: give up after a while.
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const exited = new Promise<{ status: number | null; signal: string | null }>((resolve) =>
      child.on('close', (status, signal) => resolve({ status, signal })),
    );
    let limited = false;
    let limitError: string | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!limited && stdout.startsWith('ready\n')) {
        limited = true;
        const limit = threadsOfUser(childUid) + spareThreads;
        // As the child's user: changing another user's limits takes CAP_SYS_RESOURCE, which a container's root may lack.
        const set = spawnSync('prlimit', ['--pid', String(child.pid), `--nproc=${limit}:${limit}`], {
          encoding: 'utf8',
          ...(runAsRoot ? { uid: NOBODY, gid: NOBODY } : {}),
        });
        if (set.status !== 0) limitError = `prlimit --pid ${child.pid} --nproc=${limit} failed: ${set.stderr || set.error?.message}`;
        child.stdin.write('go\n');
      }
    });
    const { status, signal } = await exited;
    clearTimeout(killer);
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    return { status, signal, stderr, limitError, result: line ? (JSON.parse(line) as Record<string, unknown>) : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkResourcesError(t: import('ava').ExecutionContext, attempt: Attempt | undefined, what: string): void {
  t.is(attempt?.ok, false, `${what} fails`);
  t.is(attempt?.code, 'ERR_RESOURCES', `${what}: ${attempt?.message}`);
  // The message names the limit that applies and the fixes.
  t.regex(attempt?.message ?? '', /RLIMIT_NPROC/, what);
  t.regex(attempt?.message ?? '', /ulimit -u/, what);
  t.regex(attempt?.message ?? '', /fewer CPU threads per model \(options\.threads/, what);
}

const serial = skipReason ? test.serial.skip : test.serial; // both children count the same user's threads

serial('more CPU threads than the OS allows: ERR_RESOURCES naming the limit, and the process trains on', async (t) => {
  // 8 spare threads under the limit; the model and the op call ask for 256.
  const { status, signal, stderr, limitError, result } = await runLimited('tooManyThreads', 8);
  t.is(limitError, undefined);
  t.is(signal, null, stderr);
  t.is(status, 0, stderr);
  t.notRegex(stderr, /libgomp/);
  const r = result as Record<string, Attempt>;
  checkResourcesError(t, r.model, 'trainStep with threads: 256');
  checkResourcesError(t, r.op, 'runOp with threads: 256');
  t.regex(r.model?.message ?? '', /OpenMP team of 256 CPU threads/);
  t.true(r.afterwards?.ok, `a 2-thread model trains afterwards: ${r.afterwards?.message}`);
  t.true(r.opAfterwards?.ok, `a 2-thread op runs afterwards: ${r.opAfterwards?.message}`);
});

serial('more live models than the OS has threads for: ERR_RESOURCES, and every earlier model still trains', async (t) => {
  // Each model holds its own thread and a 2-thread team (1 more): 40 spare threads last ~20 models.
  const { status, signal, stderr, limitError, result } = await runLimited('manyLiveModels', 40);
  t.is(limitError, undefined);
  t.is(signal, null, stderr);
  t.is(status, 0, stderr);
  t.notRegex(stderr, /libgomp/);
  const r = result as { trained: number; refused?: Attempt; again: Attempt; afterwards: Attempt };
  t.truthy(r.refused, `a model is refused before 400 (${r.trained} trained)`);
  checkResourcesError(t, r.refused, `model ${r.trained + 1}`);
  t.true(r.trained >= 1 && r.trained <= 40, `${r.trained} models trained under the limit`);
  t.true(r.again.ok, `the live models train again: ${r.again.message}`);
  t.true(r.afterwards.ok, `after disposing them a new model trains: ${r.afterwards.message}`);
});

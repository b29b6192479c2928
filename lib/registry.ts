// The run registry: every proxy run keyed by a canonical hash of everything that determines its
// result, stored in SQLite (better-sqlite3, WAL) when it finishes, in one transaction. A rerun
// looks a run up by its key and reuses it; a pipeline killed at any moment loses at most the runs
// that were in flight (their checkpoints live on disk, see lib/train.ts).
//
// Several processes may share one registry (two pipelines on one cacheDir, a pipeline and
// `autoscale train`). A process trains a run only while it holds the run's lease: taken in an
// IMMEDIATE transaction (so two processes cannot both read "free" and both write), renewed by a
// heartbeat while it trains, and void once it expires (a lease left by a killed process) or, on the
// same machine, once its process is gone. Every write that changes who holds a run is one IMMEDIATE
// transaction; the connection waits up to 30 s for another process's write (busy timeout).
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

/** A JSON value with no undefined, functions or non-finite numbers: what a run spec may hold. */
export type CanonicalValue = null | boolean | number | string | CanonicalValue[] | { [key: string]: CanonicalValue };

/**
 * JSON with object keys sorted at every depth and no whitespace, so equal values give equal text.
 * Properties whose value is undefined are dropped (as JSON.stringify does); non-finite numbers throw,
 * since JSON would silently turn them into null and two different specs would share a key.
 *
 * @example canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value, '$'));
}

function canonicalize(value: unknown, where: string): CanonicalValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${where} is ${value}; only finite numbers have a canonical form`);
    return Object.is(value, -0) ? 0 : value;
  }
  if (Array.isArray(value)) return value.map((item, i) => canonicalize(item, `${where}[${i}]`));
  if (typeof value === 'object') {
    const out: { [key: string]: CanonicalValue } = {};
    for (const key of Object.keys(value as object).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined) continue;
      out[key] = canonicalize(item, `${where}.${key}`);
    }
    return out;
  }
  throw new TypeError(`canonicalJson: ${where} is a ${typeof value}; only JSON values have a canonical form`);
}

/**
 * The key of a run: sha256 (hex) of the canonical JSON of its spec.
 *
 * @example runKey({ seed: 1, quantities: { a: 10 } }) === runKey({ quantities: { a: 10 }, seed: 1 }) // true
 */
export function runKey(spec: unknown): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

export type RunStatus = 'running' | 'finished' | 'failed';

/** One row of the registry. */
export interface RunRecord<Result = unknown> {
  key: string;
  /** A short human label, e.g. "scale 1e5 / books x3". Not part of the key. */
  label: string;
  /** The canonical spec the key hashes. */
  spec: unknown;
  status: RunStatus;
  result: Result | null;
  /** For failed runs: what went wrong, in words a user can act on. */
  error: string | null;
  /** For failed runs: the error's stable code (ERR_NON_FINITE, ERR_OUT_OF_MEMORY...), if any. */
  errorCode: string | null;
  /** Times a run was started (1 for a run that finished on its first try). */
  attempts: number;
  /** ISO-8601 times. */
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Wall seconds of the attempt that finished or failed (not counting earlier interrupted attempts). */
  durationS: number | null;
  /** Process id of the last process that started it (to tell an interrupted run from a live one). */
  pid: number | null;
  /** Who holds the run's lease ("host:pid:random"), or null when nobody does. */
  leaseOwner: string | null;
  /** The lease holder's process namespace (machine boot and pid namespace): its pid means something only there. */
  leaseScope: string | null;
  /** ISO-8601 time of the lease holder's last heartbeat, and the time the lease lapses without another. */
  leaseHeartbeatAt: string | null;
  leaseExpiresAt: string | null;
  /** The queue worker that runs (or ran) the last attempt; null for a run trained by the local runner. */
  worker: string | null;
}

interface RunRow {
  key: string;
  label: string;
  spec: string;
  status: RunStatus;
  result: string | null;
  error: string | null;
  error_code: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_s: number | null;
  pid: number | null;
  lease_owner: string | null;
  lease_scope: string | null;
  /** Milliseconds since the epoch. */
  lease_heartbeat: number | null;
  lease_expires: number | null;
  worker: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  key         TEXT PRIMARY KEY,
  label       TEXT NOT NULL,
  spec        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
  result      TEXT,
  error       TEXT,
  error_code  TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  started_at  TEXT,
  finished_at TEXT,
  duration_s  REAL,
  pid         INTEGER
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
`;

/** The columns added after the first release (leases, the queue worker), added to older registry files on open. */
const ADDED_COLUMNS: [name: string, type: string][] = [
  ['lease_owner', 'TEXT'],
  ['lease_scope', 'TEXT'],
  ['lease_heartbeat', 'INTEGER'],
  ['lease_expires', 'INTEGER'],
  ['worker', 'TEXT'],
];

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toRecord<Result>(row: RunRow): RunRecord<Result> {
  return {
    key: row.key,
    label: row.label,
    spec: JSON.parse(row.spec) as unknown,
    status: row.status,
    result: row.result === null ? null : (JSON.parse(row.result) as Result),
    error: row.error,
    errorCode: row.error_code,
    attempts: row.attempts,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationS: row.duration_s,
    pid: row.pid,
    leaseOwner: row.lease_owner ?? null,
    leaseScope: row.lease_scope ?? null,
    leaseHeartbeatAt: isoOrNull(row.lease_heartbeat ?? null),
    leaseExpiresAt: isoOrNull(row.lease_expires ?? null),
    worker: row.worker ?? null,
  };
}

let scope: string | undefined;

/**
 * The process namespace this process lives in: where a pid names one process. On Linux the boot id and
 * the pid namespace (two containers on one host, or one host after a reboot, differ); elsewhere the host name.
 * A lease whose holder shares our scope is void as soon as its pid is gone, without waiting for it to expire.
 *
 * @example leaseScope() // 'linux:4f6c...:pid:[4026531836]'
 */
export function leaseScope(): string {
  if (scope === undefined) {
    try {
      scope = `linux:${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}:${readlinkSync('/proc/self/ns/pid')}`;
    } catch {
      scope = `host:${hostname()}`;
    }
  }
  return scope;
}

/**
 * A fresh lease owner id: "host:pid:random". Random per lease, so two leases of one process differ too.
 * @example leaseOwnerId() // 'gpu-box-3:41234:9f2c61d0a4b7'
 */
export function leaseOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True when a record's lease still holds at `now`: it has an owner, has not expired, and (when its holder
 * lives in our process namespace) the holder's process is alive.
 */
export function leaseIsLive(record: Pick<RunRecord, 'leaseOwner' | 'leaseScope' | 'leaseExpiresAt' | 'pid'>, now: Date = new Date()): boolean {
  if (record.leaseOwner === null || record.leaseExpiresAt === null) return false;
  if (Date.parse(record.leaseExpiresAt) <= now.getTime()) return false;
  if (record.leaseScope === leaseScope() && record.pid !== null && record.pid !== process.pid && !processAlive(record.pid)) return false;
  return true;
}

/** A lease on a run: who holds it and how long it lasts without a heartbeat. */
export interface LeaseTerms {
  /** leaseOwnerId() of the holder. */
  owner: string;
  /** Milliseconds the lease lasts after each heartbeat. */
  ttlMs: number;
}

/** What `acquire` found: the lease is now ours, or the run is finished, failed (and not to be retaken) or leased by a live holder. */
export type Acquisition<Result = unknown> =
  | { status: 'acquired'; key: string; record: RunRecord<Result> }
  | { status: 'finished' | 'failed' | 'leased'; key: string; record: RunRecord<Result> };

/** The error of a registry write whose lease another process took over (its holder stalled past the expiry). */
export class LeaseLostError extends Error {
  readonly code = 'ERR_LEASE_LOST';
  constructor(key: string, label: string, owner: string) {
    super(
      `registry: the lease on run ${key.slice(0, 12)} (${label}) is no longer held by ${owner}: another process took it over after it expired ` +
        '(this process did not renew it for longer than its expiry); that process trains the run and this one reuses its result',
    );
    this.name = 'LeaseLostError';
  }
}

/** The registry file cannot be read as a database (not SQLite, or damaged). */
export class RegistryFileError extends Error {
  readonly code = 'ERR_REGISTRY_FILE';
  readonly file: string;
  constructor(file: string, cause: Error) {
    super(
      `registry: ${file} cannot be opened as a run registry (${cause.message}). Nothing was changed or deleted. ` +
        `Fix: move it away (e.g. \`mv ${file} ${file}.broken\`, with any ${path.basename(file)}-wal and -shm files next to it) ` +
        'and run again: a new registry is created and the runs it recorded are trained again.',
      { cause },
    );
    this.name = 'RegistryFileError';
    this.file = file;
  }
}

/**
 * The run store. One SQLite file; safe to open from several processes at once (WAL, busy timeout).
 *
 * @example
 * const registry = openRegistry('out/runs.sqlite');
 * const key = registry.start(spec, 'scale 1e5 base');
 * // ... train ...
 * registry.finish(key, { losses: { books: 3.1 } }, 12.5);
 * registry.get(key)?.status // 'finished'
 */
export class Registry {
  readonly file: string;
  private readonly db: Database.Database;

  /** Test hook: called inside finish()'s transaction, before it commits (to simulate a crash there). */
  private readonly beforeCommit: (() => void) | undefined;

  constructor(file: string, options: { beforeCommit?: () => void } = {}) {
    this.file = file;
    this.beforeCommit = options.beforeCommit;
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    // timeout: the busy timeout, how long a statement waits for another process's write lock.
    this.db = new Database(file, { timeout: 30_000 });
    try {
      this.db.pragma('journal_mode = WAL');
      // FULL: a finished run is on disk when finish() returns, even across a power loss.
      this.db.pragma('synchronous = FULL');
      this.db.exec(SCHEMA);
      this.db.transaction(() => {
        const have = new Set((this.db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((c) => c.name));
        for (const [name, type] of ADDED_COLUMNS) if (!have.has(name)) this.db.exec(`ALTER TABLE runs ADD COLUMN ${name} ${type}`);
      }).immediate();
    } catch (error) {
      this.db.close();
      const code = (error as { code?: unknown }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new RegistryFileError(path.resolve(file), error as Error);
      throw error;
    }
  }

  /** The record for a key, or undefined. */
  get<Result = unknown>(key: string): RunRecord<Result> | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE key = ?').get(key) as RunRow | undefined;
    return row ? toRecord<Result>(row) : undefined;
  }

  /** The finished result for a spec, or undefined when the run has not finished. */
  finished<Result = unknown>(spec: unknown): RunRecord<Result> | undefined {
    const record = this.get<Result>(runKey(spec));
    return record && record.status === 'finished' ? record : undefined;
  }

  /** Marks a run running for an attempt (inserting it if new), inside a transaction; `lease` null: no lease. */
  private begin(key: string, spec: unknown, label: string, exists: boolean, lease: LeaseTerms | null, now: Date, worker: string | null = null): void {
    const stamp = now.toISOString();
    const owner = lease?.owner ?? null;
    const leaseScopeId = lease ? leaseScope() : null;
    const heartbeat = lease ? now.getTime() : null;
    const expires = lease ? now.getTime() + lease.ttlMs : null;
    if (exists) {
      this.db
        .prepare(
          `UPDATE runs SET status = 'running', label = ?, attempts = attempts + 1, started_at = ?, pid = ?, worker = ?,
             error = NULL, error_code = NULL, finished_at = NULL, duration_s = NULL,
             lease_owner = ?, lease_scope = ?, lease_heartbeat = ?, lease_expires = ? WHERE key = ?`,
        )
        .run(label, stamp, process.pid, worker, owner, leaseScopeId, heartbeat, expires, key);
    } else {
      this.db
        .prepare(
          `INSERT INTO runs (key, label, spec, status, attempts, created_at, started_at, pid, worker, lease_owner, lease_scope, lease_heartbeat, lease_expires)
           VALUES (?, ?, ?, 'running', 1, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(key, label, canonicalJson(spec), stamp, stamp, process.pid, worker, owner, leaseScopeId, heartbeat, expires);
    }
  }

  /**
   * Marks a run as running (inserting it if new, counting an attempt) and returns its key, without a lease;
   * `worker` names the queue worker of this attempt (null: the local runner). Refuses to restart a finished
   * run (the caller should have reused it) and one whose lease a live process holds.
   */
  start(spec: unknown, label: string, now: Date = new Date(), worker: string | null = null): string {
    const key = runKey(spec);
    this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT * FROM runs WHERE key = ?').get(key) as RunRow | undefined;
        if (row?.status === 'finished') throw new Error(`registry: run ${key.slice(0, 12)} (${label}) has already finished; reuse its result`);
        if (row && row.status === 'running' && leaseIsLive(toRecord(row), now)) {
          throw new Error(`registry: run ${key.slice(0, 12)} (${label}) is being trained by ${row.lease_owner}; wait for it and reuse its result`);
        }
        this.begin(key, spec, label, row !== undefined, null, now, worker);
      })
      .immediate();
    return key;
  }

  /**
   * Takes the lease on a run, in one IMMEDIATE transaction, unless the run is finished, failed and not to be
   * retaken (`retakeFailed` says no; default: retake), or leased by a live holder. Taking it marks the run
   * running and counts an attempt. Only the holder may train the run and touch its checkpoint.
   *
   * @example
   * const claim = registry.acquire(spec, 'N=300k base', { owner: leaseOwnerId(), ttlMs: 30_000 });
   * if (claim.status === 'acquired') { ... train, renew() every few seconds, then finish(claim.key, result, s, new Date(), owner) }
   */
  acquire<Result = unknown>(
    spec: unknown,
    label: string,
    lease: LeaseTerms,
    options: { retakeFailed?: (record: RunRecord<Result>) => boolean; now?: Date } = {},
  ): Acquisition<Result> {
    const key = runKey(spec);
    const now = options.now ?? new Date();
    return this.db
      .transaction((): Acquisition<Result> => {
        const row = this.db.prepare('SELECT * FROM runs WHERE key = ?').get(key) as RunRow | undefined;
        if (row) {
          const record = toRecord<Result>(row);
          if (record.status === 'finished') return { status: 'finished', key, record };
          if (record.status === 'failed' && options.retakeFailed && !options.retakeFailed(record)) return { status: 'failed', key, record };
          if (record.status === 'running' && leaseIsLive(record, now)) return { status: 'leased', key, record };
        }
        this.begin(key, spec, label, row !== undefined, lease, now);
        return { status: 'acquired', key, record: this.get<Result>(key)! };
      })
      .immediate();
  }

  /** Heartbeat: extends the lease `owner` holds on a run by `ttlMs` from `now`. False when it no longer holds it. */
  renew(key: string, owner: string, ttlMs: number, now: Date = new Date()): boolean {
    return (
      this.db
        .prepare(`UPDATE runs SET lease_heartbeat = ?, lease_expires = ? WHERE key = ? AND status = 'running' AND lease_owner = ?`)
        .run(now.getTime(), now.getTime() + ttlMs, key, owner).changes === 1
    );
  }

  /** Gives up the lease `owner` holds (a stopped run: its checkpoint stays for whoever resumes it). */
  release(key: string, owner: string): void {
    this.db
      .prepare(`UPDATE runs SET lease_owner = NULL, lease_scope = NULL, lease_heartbeat = NULL, lease_expires = NULL WHERE key = ? AND lease_owner = ?`)
      .run(key, owner);
  }

  /** Throws when `owner` (if given) does not hold the lease of the run `key`; inside a write transaction. */
  private checkHolder(key: string, owner: string | undefined): void {
    if (owner === undefined) return;
    const row = this.db.prepare('SELECT label, status, lease_owner FROM runs WHERE key = ?').get(key) as Pick<RunRow, 'label' | 'status' | 'lease_owner'> | undefined;
    if (row && (row.status !== 'running' || row.lease_owner !== owner)) throw new LeaseLostError(key, row.label, owner);
  }

  /**
   * Records a run's result, in one transaction: afterwards the run is finished, or (crash) untouched.
   * With `owner`: only while that owner holds the run's lease (else LeaseLostError, nothing written).
   */
  finish(key: string, result: unknown, durationS: number, now: Date = new Date(), owner?: string): void {
    const text = canonicalJson(result);
    this.db
      .transaction(() => {
        this.checkHolder(key, owner);
        const changed = this.db
          .prepare(
            `UPDATE runs SET status = 'finished', result = ?, error = NULL, error_code = NULL, finished_at = ?, duration_s = ?,
               lease_owner = NULL, lease_scope = NULL, lease_heartbeat = NULL, lease_expires = NULL
             WHERE key = ?`,
          )
          .run(text, now.toISOString(), durationS, key).changes;
        if (changed !== 1) throw new Error(`registry: no run ${key.slice(0, 12)} to finish; call start() first`);
        this.beforeCommit?.();
      })
      .immediate();
  }

  /**
   * Records a run as failed with its reason (and the error's code, when it has one).
   * With `owner`: only while that owner holds the run's lease (else LeaseLostError, nothing written).
   */
  fail(key: string, reason: string, code: string | null, durationS: number, now: Date = new Date(), owner?: string): void {
    this.db
      .transaction(() => {
        this.checkHolder(key, owner);
        const changed = this.db
          .prepare(
            `UPDATE runs SET status = 'failed', result = NULL, error = ?, error_code = ?, finished_at = ?, duration_s = ?,
               lease_owner = NULL, lease_scope = NULL, lease_heartbeat = NULL, lease_expires = NULL
             WHERE key = ?`,
          )
          .run(reason, code, now.toISOString(), durationS, key).changes;
        if (changed !== 1) throw new Error(`registry: no run ${key.slice(0, 12)} to mark failed; call start() first`);
      })
      .immediate();
  }

  /** All runs, oldest first; optionally only those with a status. */
  list<Result = unknown>(filter: { status?: RunStatus } = {}): RunRecord<Result>[] {
    const rows = filter.status
      ? (this.db.prepare('SELECT * FROM runs WHERE status = ? ORDER BY created_at, key').all(filter.status) as RunRow[])
      : (this.db.prepare('SELECT * FROM runs ORDER BY created_at, key').all() as RunRow[]);
    return rows.map((row) => toRecord<Result>(row));
  }

  /** Counts per status. */
  counts(): Record<RunStatus, number> {
    const counts: Record<RunStatus, number> = { running: 0, finished: 0, failed: 0 };
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM runs GROUP BY status').all() as { status: RunStatus; n: number }[];
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  /** Deletes failed runs (or one run by key) so that the next pipeline retries them. Returns how many. */
  forget(filter: { key?: string; status?: RunStatus }): number {
    if (filter.key) return this.db.prepare('DELETE FROM runs WHERE key = ?').run(filter.key).changes;
    if (filter.status) return this.db.prepare('DELETE FROM runs WHERE status = ?').run(filter.status).changes;
    throw new Error('registry.forget: give a key or a status');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Opens (creating if needed) the registry file. */
export function openRegistry(file: string, options: { beforeCommit?: () => void } = {}): Registry {
  return new Registry(file, options);
}

/**
 * True when a 'running' record belongs to no live process (its pipeline was killed or stopped): its lease
 * lapsed or its holder is gone; a record without a lease, from before leases, goes by its pid.
 */
export function isInterrupted(record: RunRecord): boolean {
  if (record.status !== 'running') return false;
  if (record.leaseOwner !== null) return !leaseIsLive(record);
  if (record.pid === null) return true;
  if (record.pid === process.pid) return false;
  try {
    process.kill(record.pid, 0);
    return false;
  } catch {
    return true;
  }
}

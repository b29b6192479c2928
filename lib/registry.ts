// The run registry: every proxy run keyed by a canonical hash of everything that determines its
// result, stored in SQLite (better-sqlite3, WAL) when it finishes, in one transaction. A rerun
// looks a run up by its key and reuses it; a pipeline killed at any moment loses at most the runs
// that were in flight (their checkpoints live on disk, see lib/train.ts).
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
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
  };
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
    this.db = new Database(file, { timeout: 30_000 });
    this.db.pragma('journal_mode = WAL');
    // FULL: a finished run is on disk when finish() returns, even across a power loss.
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
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

  /**
   * Marks a run as running (inserting it if new, counting an attempt) and returns its key.
   * Refuses to restart a finished run: the caller should have reused it.
   */
  start(spec: unknown, label: string, now: Date = new Date()): string {
    const key = runKey(spec);
    const specText = canonicalJson(spec);
    const stamp = now.toISOString();
    const tx = this.db.transaction(() => {
      const row = this.db.prepare('SELECT status FROM runs WHERE key = ?').get(key) as { status: RunStatus } | undefined;
      if (row?.status === 'finished') throw new Error(`registry: run ${key.slice(0, 12)} (${label}) has already finished; reuse its result`);
      if (row) {
        this.db
          .prepare(
            `UPDATE runs SET status = 'running', label = ?, attempts = attempts + 1, started_at = ?, pid = ?,
               error = NULL, error_code = NULL, finished_at = NULL, duration_s = NULL WHERE key = ?`,
          )
          .run(label, stamp, process.pid, key);
      } else {
        this.db
          .prepare(
            `INSERT INTO runs (key, label, spec, status, attempts, created_at, started_at, pid)
             VALUES (?, ?, ?, 'running', 1, ?, ?, ?)`,
          )
          .run(key, label, specText, stamp, stamp, process.pid);
      }
    });
    tx();
    return key;
  }

  /** Records a run's result, in one transaction: afterwards the run is finished, or (crash) untouched. */
  finish(key: string, result: unknown, durationS: number, now: Date = new Date()): void {
    const text = canonicalJson(result);
    const tx = this.db.transaction(() => {
      const changed = this.db
        .prepare(
          `UPDATE runs SET status = 'finished', result = ?, error = NULL, error_code = NULL, finished_at = ?, duration_s = ?
           WHERE key = ?`,
        )
        .run(text, now.toISOString(), durationS, key).changes;
      if (changed !== 1) throw new Error(`registry: no run ${key.slice(0, 12)} to finish; call start() first`);
      this.beforeCommit?.();
    });
    tx();
  }

  /** Records a run as failed with its reason (and the error's code, when it has one). */
  fail(key: string, reason: string, code: string | null, durationS: number, now: Date = new Date()): void {
    const changed = this.db
      .prepare(
        `UPDATE runs SET status = 'failed', result = NULL, error = ?, error_code = ?, finished_at = ?, duration_s = ?
         WHERE key = ?`,
      )
      .run(reason, code, now.toISOString(), durationS, key).changes;
    if (changed !== 1) throw new Error(`registry: no run ${key.slice(0, 12)} to mark failed; call start() first`);
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

/** True when a 'running' record belongs to no live process (its pipeline was killed). */
export function isInterrupted(record: RunRecord): boolean {
  if (record.status !== 'running') return false;
  if (record.pid === null) return true;
  if (record.pid === process.pid) return false;
  try {
    process.kill(record.pid, 0);
    return false;
  } catch {
    return true;
  }
}

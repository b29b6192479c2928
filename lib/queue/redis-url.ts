// A Redis URL as the queue runner takes it: checked, and shown without its password. A URL may carry a
// password (redis://:secret@host:6379 or redis://user:secret@host) and TLS (rediss://); nothing in the
// queue runner prints the password: every line and error that could hold it goes through redactSecrets.
// No I/O here (the config parser uses it).

/** Default queue name (workers and coordinators must agree on it). */
export const DEFAULT_QUEUE = 'autoscale';

/** The environment variable a Redis URL can come from instead of the command line (where `ps` shows it). */
export const REDIS_URL_ENV = 'AUTOSCALE_REDIS_URL';

/**
 * A Redis URL with its password (if any) replaced by "***"; text that is not a URL comes back as "(not a URL)".
 *
 * @example redactRedisUrl('redis://:hunter2@10.0.0.5:6379/0') // 'redis://:***@10.0.0.5:6379/0'
 */
export function redactRedisUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The password could be anywhere in unparsable text: show none of what follows the scheme.
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0];
    return scheme ? `${scheme}(unparsable)` : '(not a URL)';
  }
  if (url.password) url.password = '***';
  return url.toString();
}

/**
 * `text` with every occurrence of the URL's password (as written and percent-decoded) replaced by "***",
 * and the URL itself by its redacted form: for log lines and error messages that may quote the URL.
 *
 * @example redactSecrets('cannot reach redis://:hunter2@db:6379', 'redis://:hunter2@db:6379') // 'cannot reach redis://:***@db:6379'
 */
export function redactSecrets(text: string, redisUrl: string): string {
  let out = text.split(redisUrl).join(redactRedisUrl(redisUrl));
  let password = '';
  try {
    password = new URL(redisUrl).password;
  } catch {
    return out.split(redisUrl).join('(redis URL)');
  }
  if (password) {
    for (const form of new Set([password, safeDecode(password)])) if (form) out = out.split(form).join('***');
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * What is wrong with a Redis URL (redis://[user:password@]host[:port][/db], or rediss:// for TLS), in words
 * that show the URL without its password; null when it is fine.
 *
 * @example redisUrlProblem('http://db:6379') // 'http://db:6379 has the scheme "http:"; write redis://...'
 */
export function redisUrlProblem(text: string): string | null {
  const usage = 'write redis://[user:password@]host[:port][/db], or rediss://... for TLS';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${redactRedisUrl(text)} is not a URL; ${usage}`;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `${redactRedisUrl(text)} has the scheme "${url.protocol}"; ${usage}`;
  if (!url.hostname) return `${redactRedisUrl(text)} names no host; ${usage}`;
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) return `${redactRedisUrl(text)}: the database "${db}" must be a number; ${usage}`;
  return null;
}

/**
 * Checks a Redis URL and returns it; throws an Error that starts with `field` and shows no password.
 *
 * @example parseRedisUrl('redis://127.0.0.1:6379', '--redis') // 'redis://127.0.0.1:6379'
 */
export function parseRedisUrl(text: string, field: string): string {
  const problem = redisUrlProblem(text);
  if (problem) throw new Error(`${field}: ${problem}`);
  return text;
}

/**
 * What is wrong with a queue name, or null: letters, digits, '_', '-' and '.', as BullMQ's keys are
 * "bull:<name>:..." (no ':').
 */
export function queueNameProblem(text: string): string | null {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(text) ? null : `"${text}" is not a queue name; use letters, digits, "_", "-" and "." (e.g. "autoscale")`;
}

/**
 * Checks a queue name and returns it; throws an Error that starts with `field`.
 *
 * @example parseQueueName('autoscale', '--queue') // 'autoscale'
 */
export function parseQueueName(text: string, field: string): string {
  const problem = queueNameProblem(text);
  if (problem) throw new Error(`${field}: ${problem}`);
  return text;
}


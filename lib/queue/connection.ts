// Connections of the queue runner: ioredis connections that BullMQ can use, waiting for Redis (failing
// at once when it refuses the credentials), closing without hanging on a Redis that never answered, and
// the queue of a backend. Errors and log lines go through redactSecrets (redis-url.ts).
import { Redis } from 'ioredis';
import { redactRedisUrl, redactSecrets } from './redis-url.js';

/**
 * The BullMQ queue of one backend: runs whose spec says "cuda" go to "<name>-cuda", "cpu" to "<name>-cpu",
 * so that a worker takes only runs it can train (a worker serves one backend).
 *
 * @example backendQueue('autoscale', 'cuda') // 'autoscale-cuda'
 */
export function backendQueue(name: string, backend: 'cpu' | 'cuda'): string {
  return `${name}-${backend}`;
}

/**
 * A log that passes each distinct line at most once every `seconds`, with the Redis URL's password
 * removed: a Redis outage makes every connection and every retry fail the same way.
 *
 * @example const warn = throttledLog(console.error, url); warn('redis: ECONNREFUSED'); warn('redis: ECONNREFUSED') // printed once
 */
export function throttledLog(log: (line: string) => void, redisUrl: string, seconds = 30): (line: string) => void {
  const lastShown = new Map<string, number>();
  return (line: string) => {
    const text = redactSecrets(line, redisUrl);
    const now = Date.now();
    if (now - (lastShown.get(text) ?? -Infinity) < seconds * 1000) return;
    lastShown.set(text, now);
    log(text);
  };
}

/**
 * An ioredis connection for BullMQ (maxRetriesPerRequest null, as its blocking commands need; reconnects
 * forever with a capped backoff). Connection errors go to `onError` as "redis <url>: <message>", redacted;
 * pass a throttledLog.
 *
 * @example const connection = connectRedis('redis://127.0.0.1:6379', throttledLog(console.error, url));
 */
export function connectRedis(redisUrl: string, onError: (line: string) => void = () => undefined): Redis {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(200 * times, 5000),
  });
  connection.on('error', (error: Error) => onError(redactSecrets(`redis ${redactRedisUrl(redisUrl)}: ${error.message}`, redisUrl)));
  return connection;
}

/** True for Redis's answers to a wrong or missing password (or user): retrying cannot help. */
export function isAuthError(error: Error): boolean {
  return /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|AUTH .*without any password/i.test(error.message);
}

/**
 * Connects once to Redis and resolves when it answers; rejects as soon as Redis refuses the credentials
 * and, when `seconds` is given, after that long with an error saying what to check (a worker passes no
 * deadline: it may start before Redis). Called before any BullMQ object exists, since BullMQ waits
 * forever for a Redis that never answers, in its close() too.
 *
 * @example await probeRedis('redis://127.0.0.1:6379', { seconds: 15 });
 */
export async function probeRedis(redisUrl: string, options: { seconds?: number; onError?: (line: string) => void } = {}): Promise<void> {
  const shown = redactRedisUrl(redisUrl);
  const connection = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(200 * times, 5000) });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      connection.on('ready', () => resolve());
      connection.on('error', (error: Error) => {
        if (isAuthError(error)) {
          reject(new Error(`Redis at ${shown} refused the credentials (${error.message}); check the user and password in the URL (and the server's requirepass or ACL)`));
        } else {
          options.onError?.(redactSecrets(`redis ${shown}: ${error.message}`, redisUrl));
        }
      });
      if (options.seconds !== undefined) {
        const seconds = options.seconds;
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `cannot reach Redis at ${shown} within ${seconds} s; check that redis-server runs there, ` +
                  'that this machine may connect to it (bind address, firewall, TLS), and the URL; or run without --redis (the local runner)',
              ),
            ),
          seconds * 1000,
        );
      }
      connection.connect().catch(() => undefined); // failures arrive as 'error' events and retries
    });
  } catch (error) {
    throw new Error(redactSecrets((error as Error).message ?? String(error), redisUrl));
  } finally {
    clearTimeout(timer);
    connection.disconnect();
  }
}

/** A BullMQ Queue, QueueEvents or Worker, as closeRedis closes it. */
interface Closable {
  close(): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * Closes BullMQ objects and then the connections they were given (BullMQ leaves those open). Waits at most
 * `seconds` for the closes (a Worker's waits for its running jobs), then forces the objects' own connections shut.
 */
export async function closeRedis(objects: Closable[], connections: Redis[], seconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closes = Promise.allSettled(objects.map((o) => o.close()));
  const closed = await Promise.race([closes.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), seconds * 1000)))]);
  clearTimeout(timer);
  if (!closed) await Promise.allSettled(objects.map((o) => o.disconnect()));
  for (const connection of connections) connection.disconnect();
}

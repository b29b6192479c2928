// Connections of the queue runner: ioredis connections that BullMQ can use, waiting for Redis with a
// deadline, and the queue of a backend. Errors and log lines go through redactSecrets (redis-url.ts).
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
 * An ioredis connection for BullMQ (maxRetriesPerRequest null, as its blocking commands need; reconnects
 * forever with a capped backoff). Connection errors go to `onError`, redacted, at most one line per
 * distinct message every 30 s, so a Redis outage does not flood the log.
 *
 * @example const connection = connectRedis('redis://127.0.0.1:6379', (line) => console.error(line));
 */
export function connectRedis(redisUrl: string, onError: (line: string) => void = () => undefined): Redis {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(200 * times, 5000),
  });
  const lastShown = new Map<string, number>();
  connection.on('error', (error: Error) => {
    const line = redactSecrets(`redis ${redactRedisUrl(redisUrl)}: ${error.message}`, redisUrl);
    const now = Date.now();
    if (now - (lastShown.get(line) ?? -Infinity) < 30_000) return;
    lastShown.set(line, now);
    onError(line);
  });
  return connection;
}

/**
 * Resolves when `ready` does, or rejects after `seconds` with an error saying that Redis at the (redacted)
 * URL could not be reached and what to check.
 */
export async function reachRedis<T>(ready: Promise<T>, redisUrl: string, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `cannot reach Redis at ${redactRedisUrl(redisUrl)} within ${seconds} s; check that redis-server runs there, ` +
              'that this machine may connect to it (bind address, firewall, password, TLS), and the URL; or run without --redis (the local runner)',
          ),
        ),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([ready, timeout]);
  } catch (error) {
    throw new Error(redactSecrets((error as Error).message ?? String(error), redisUrl));
  } finally {
    clearTimeout(timer);
  }
}

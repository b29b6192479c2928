// `autoscale worker`: trains the proxy runs that coordinators (`autoscale run --redis URL`) enqueue.
import type { Command } from 'commander';
import { resolveBackend } from '../native.js';
import { REDIS_URL_ENV, DEFAULT_QUEUE, parseQueueName, parseRedisUrl } from '../queue/redis-url.js';

function integer(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${value}"`);
    return n;
  };
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Train the proxy runs that `autoscale run --redis URL` enqueues (BullMQ on Redis), until stopped')
    .option('--redis <url>', `Redis URL: redis://[user:password@]host[:port][/db] or rediss:// for TLS (default: $${REDIS_URL_ENV}, which keeps a password out of ps)`)
    .option('--queue <name>', 'queue name shared with the coordinators', DEFAULT_QUEUE)
    .option('--backend <name>', 'cpu or cuda: this worker trains the runs whose spec says it (default: cuda when a device is present, else cpu)')
    .option('--concurrency <n>', 'runs at once (default: one per core on cpu, 4 on cuda)', integer('concurrency', 1))
    .option('--threads <n>', 'CPU threads per run (default: cores / concurrency)', integer('threads', 1))
    .option('--name <name>', 'name in the coordinator\'s progress and registry (default: <hostname>:<pid>)')
    .option('--cache <dir>', 'the shared cache folder as mounted here, when not at the coordinator\'s path (shards in <dir>/data, checkpoints in <dir>/checkpoints)')
    .option('--lock-seconds <n>', 'lock of a running job: a lost worker\'s runs are retried elsewhere after about this long', integer('lock-seconds', 1), 30)
    .option('--quiet', 'no log lines on stderr')
    .addHelpText(
      'after',
      '\nA worker trains any run the queue gives it (the spec decides the run): keep Redis private (bind it to a\n' +
        'private network, set a password, use rediss:// across untrusted links). Every machine must run the same\n' +
        'build of autoscale-lm and see the corpus files at the paths the coordinator\'s data config names; with\n' +
        'the cache folder on shared storage the worker reads the coordinator\'s shards instead of tokenizing, and a\n' +
        'run retried after a lost worker resumes from its checkpoint. One worker per GPU (CUDA_VISIBLE_DEVICES=i).\n' +
        'Stop with Ctrl-C or SIGTERM: running runs checkpoint and go back to the queue (Ctrl-C twice: at once).',
    )
    .action(
      async (options: {
        redis?: string;
        queue: string;
        backend?: string;
        concurrency?: number;
        threads?: number;
        name?: string;
        cache?: string;
        lockSeconds: number;
        quiet?: boolean;
      }) => {
        const url = options.redis ?? process.env[REDIS_URL_ENV];
        if (!url) throw new Error(`give the Redis URL: --redis redis://host:6379, or set ${REDIS_URL_ENV}`);
        parseRedisUrl(url, options.redis ? '--redis' : REDIS_URL_ENV);
        parseQueueName(options.queue, '--queue');
        const backend = options.backend ?? resolveBackend('auto');
        if (backend !== 'cpu' && backend !== 'cuda') throw new Error(`--backend must be cpu or cuda, got "${backend}"`);
        if (options.name !== undefined && !/^[\w.:@-]{1,100}$/.test(options.name)) {
          throw new Error(`--name "${options.name}": use up to 100 letters, digits and "_.:@-"`);
        }
        const log = options.quiet ? () => undefined : (line: string) => process.stderr.write(`${line}\n`);
        const { startQueueWorker } = await import('../queue/worker.js');
        const worker = await startQueueWorker({
          redis: url,
          queue: options.queue,
          backend,
          concurrency: options.concurrency,
          threads: options.threads,
          name: options.name,
          cacheDir: options.cache,
          lockSeconds: options.lockSeconds,
          log,
        });
        await new Promise<void>((resolve, reject) => {
          let stopping = false;
          const stop = (): void => {
            if (stopping) process.exit(130);
            stopping = true;
            log('[worker] stopping: running runs checkpoint and go back to the queue (Ctrl-C again to quit at once)');
            worker.close().then(resolve, resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          worker.ready.catch((error: unknown) => {
            stopping = true;
            void worker.close().finally(() => reject(error));
          });
        });
        log('[worker] stopped');
      },
    );
}

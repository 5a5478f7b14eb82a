/**
 * Running the server: one process, or a primary with N worker processes on one port (node:cluster).
 * Workers are stateless — every piece of shared state is in the store — so any worker may answer
 * any request. The primary bootstraps the platform admin once, restarts a worker that dies after it
 * started, and on SIGTERM/SIGINT stops the workers gracefully before exiting.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { loadConfig, workerThreadPoolSize, type Config } from './config/index.js';
import { ensurePlatformAdmin, PLATFORM_ADMIN_USERNAME } from './directory/bootstrap.js';
import { createDirectory } from './directory/index.js';
import { PLATFORM_TENANT_CODE } from './directory/tenants.js';
import { AtriumError } from './errors.js';
import { serveClusterMetrics } from './http/observability.js';
import { createLogger, type Logger } from './logger.js';
import { createStore } from './store/index.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
/** How long in-flight requests may take to finish after SIGTERM. */
const DRAIN_MS = 10_000;

/**
 * V8 flags for a process that serves requests (`npm start`, the Docker image, and every worker the
 * primary forks). A larger young generation (32 MiB semi-spaces instead of Node's 16): a request's
 * objects live across its store round trips, and with the default size many of them are still alive
 * at a scavenge and get copied, some into the old generation. Measured with `npm run bench` and
 * BENCH_PROFILE_DIR: garbage collection went from 14–16 % to 9–13 % of the server's busy time on
 * code exchange, refresh and userinfo (the bare oidc-provider baseline: from 7–10 % to 6–8 %). It
 * costs up to 32 MiB more memory per busy process, and only while it allocates that fast.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** The flags a worker starts with: the primary's own, plus the server's unless set otherwise. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ''): string[] {
  // Node takes `--a-b=1`, `--a-b 1` and `--a_b=1` alike.
  const given = `${execArgv.join(' ')} ${nodeOptions}`.replaceAll('_', '-');
  const missing = SERVER_NODE_FLAGS.filter((flag) => !given.includes(flag.slice(0, flag.indexOf('='))));
  return [...execArgv, ...missing];
}

export async function startServer(env: Record<string, string | undefined>, options: { workers?: number } = {}): Promise<void> {
  const config = loadConfig(env);
  if (options.workers !== undefined) config.workers = options.workers;
  const logger = createLogger(config.logLevel);
  if (cluster.isWorker) return runProcess(config, logger);
  await bootstrap(config, logger);
  // One process serves alone when it runs with the server's V8 flags (`npm start`, the Docker
  // image); without them (`atrium start --workers 1`, which node starts bare) it forks one worker
  // that has them.
  const flagged = workerExecArgv(process.execArgv, env.NODE_OPTIONS).length === process.execArgv.length;
  if (config.workers <= 1 && flagged) return runProcess(config, logger);
  return runPrimary(config, logger, env.NODE_OPTIONS);
}

/** Creates the platform admin when there is none (the very first start), and prints a generated password once. */
async function bootstrap(config: Config, logger: Logger): Promise<void> {
  const store = await createStore(config.store);
  try {
    const admin = await ensurePlatformAdmin(createDirectory(store, { password: config.password }), config.adminPassword);
    if (!admin.created && admin.warning) logger.warn(admin.warning);
    if (admin.created && admin.generatedPassword) {
      // Printed once, by the start that created the admin; it is not logged anywhere else.
      process.stdout.write(
        `\nPlatform admin created. Sign in with organisation "${PLATFORM_TENANT_CODE}", username "${PLATFORM_ADMIN_USERNAME}", password: ${admin.generatedPassword}\n` +
          'Keep it now: it will not be shown again. Set ATRIUM_ADMIN_PASSWORD on first start to choose it.\n\n',
      );
    }
  } finally {
    await store.close();
  }
}

/** One Atrium process serving HTTP: alone, or as one of the primary's workers. */
async function runProcess(config: Config, logger: Logger): Promise<void> {
  // Loaded here, so a primary that only supervises workers never loads the provider.
  const { closeServer, createAtrium } = await import('./app.js');
  const atrium = await createAtrium(config, logger);
  const server = createServer(atrium.callback);
  // A port taken or not allowed fails the start with one line (see main.ts), not an unhandled 'error' event.
  await new Promise<void>((resolve, reject) => {
    const refused = (err: NodeJS.ErrnoException): void => reject(new AtriumError('cannot_listen', `cannot listen on port ${config.port}: ${err.code ?? err.message}`, 500, { cause: err }));
    server.once('error', refused);
    server.listen(config.port, () => {
      server.off('error', refused);
      resolve();
    });
  });
  if (cluster.isWorker) logger.debug({ pid: process.pid }, 'worker listening');
  else logger.info({ issuer: config.issuer, port: config.port, store: config.store.driver }, `Atrium listening on ${config.issuer}`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, pid: process.pid }, 'shutting down');
    await closeServer(server, DRAIN_MS);
    await atrium.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function runPrimary(config: Config, logger: Logger, nodeOptions: string | undefined): Promise<void> {
  cluster.setupPrimary({ exec: MAIN, args: [], execArgv: workerExecArgv(process.execArgv, nodeOptions) });
  serveClusterMetrics();
  const started = new Set<Worker>();
  let stopping = false;
  /** 1 once a worker failed to start: the primary's exit code, when its last worker is gone. */
  let exitCode = 0;

  // Workers learn their number (for their share of the password hashing) and get a thread pool
  // that fits it: libuv reads UV_THREADPOOL_SIZE only when a process starts.
  const workerEnv = { ATRIUM_WORKERS: String(config.workers), UV_THREADPOOL_SIZE: String(workerThreadPoolSize(config.workers)) };
  const fork = (): void => {
    const worker = cluster.fork(workerEnv);
    worker.once('listening', () => {
      started.add(worker);
      if (started.size === config.workers) {
        logger.info({ issuer: config.issuer, port: config.port, store: config.store.driver, workers: config.workers }, `Atrium listening on ${config.issuer}`);
      }
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    if (!started.has(worker)) {
      // A worker that never got to listen will not do better on a retry (bad store, port taken):
      // stop everything and let the supervisor see the failure.
      logger.error({ code, signal }, 'a worker failed to start; stopping');
      stopping = true;
      exitCode = 1;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    started.delete(worker);
    logger.error({ code, signal, pid: worker.process.pid }, 'a worker died; starting another');
    fork();
  });

  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down workers');
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(0);
    for (const worker of workers) worker?.process.kill('SIGTERM');
    // Each worker drains for at most DRAIN_MS; past that (and a margin) it is killed.
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    }, DRAIN_MS + 5_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let i = 0; i < config.workers; i += 1) fork();
  return Promise.resolve();
}

/**
 * Configuration: config/default.json, then the JSON file named by ATRIUM_CONFIG, then ATRIUM_*
 * environment variables. Validated once; the rest of Atrium reads only the typed result.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const ttlSchema = z.object({
  accessToken: z.number().int().positive(),
  authorizationCode: z.number().int().positive().max(60),
  refreshToken: z.number().int().positive(),
  idToken: z.number().int().positive(),
  interaction: z.number().int().positive(),
  // Grants live at most 10 years (the adapter's index of an app's grants looks that far ahead).
  grant: z.number().int().positive().max(3650 * 86_400),
});

const fileSchema = z.object({
  port: z.number().int().min(0).max(65535),
  issuer: z.string().optional(),
  dataDir: z.string(),
  redis: z.object({
    url: z.string().optional(),
    keyPrefix: z.string(),
    sentinels: z.array(z.string()).optional(),
    sentinelName: z.string().min(1).optional(),
    clusterNodes: z.array(z.string()).optional(),
  }),
  signingAlg: z.enum(['RS256', 'ES256']),
  password: z.object({
    memoryCost: z.number().int().min(19456),
    timeCost: z.number().int().min(2),
    parallelism: z.number().int().min(1),
  }),
  ttl: ttlSchema,
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  cookieKeys: z.array(z.string().min(32)).optional(),
  session: z.object({ idleSeconds: z.number().int().min(60), absoluteSeconds: z.number().int().min(60) }),
  trustProxyHops: z.number().int().min(0).max(10),
  throttle: z.object({ accountFailuresPerHour: z.number().int().min(1), ipFailuresPerHour: z.number().int().min(1) }),
  passwordHashing: z.object({ concurrency: z.union([z.literal('auto'), z.number().int().min(1).max(64)]), maxQueue: z.number().int().min(0) }),
  allowPrivateFetch: z.boolean(),
  audit: z.object({ retentionDays: z.number().int().min(1) }),
  keys: z.object({ reloadSeconds: z.number().positive().max(300), activationDelaySeconds: z.number().min(0) }),
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).optional(),
});

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisStoreConfig {
  driver: 'redis';
  /**
   * A redis:// or rediss:// URL: the server itself when standalone; with Sentinel or Cluster it
   * carries only the credentials, TLS and (Sentinel) database, and may have no host.
   */
  url: string;
  keyPrefix: string;
  /** Sentinel: where the sentinels are and the name of the master they watch. */
  sentinel?: { nodes: HostPort[]; name: string };
  /** Cluster: some of the cluster's nodes (the rest are discovered). */
  cluster?: { nodes: HostPort[] };
}

export type StoreConfig = RedisStoreConfig | { driver: 'sqlite'; dataDir: string };

export interface Config {
  production: boolean;
  port: number;
  /** Processes serving HTTP on the one port (1: no workers, the process serves itself). */
  workers: number;
  /** The issuer identifier, without a trailing slash. */
  issuer: string;
  store: StoreConfig;
  signingAlg: 'RS256' | 'ES256';
  password: { memoryCost: number; timeCost: number; parallelism: number };
  ttl: z.infer<typeof ttlSchema>;
  logLevel: z.infer<typeof fileSchema>['logLevel'];
  /** Cookie signing keys given by the operator; undefined → generated and kept in the store. */
  cookieKeys: string[] | undefined;
  adminPassword: string | undefined;
  /**
   * What a scraper of /metrics must send as its bearer token. Without one, /metrics is open in
   * development and off in production (it tells sign-in results and load to anyone who asks).
   */
  metricsToken: string | undefined;
  session: { idleSeconds: number; absoluteSeconds: number };
  /** How many reverse proxies in front of Atrium append to X-Forwarded-For (0: trust none). */
  trustProxyHops: number;
  throttle: { accountFailuresPerHour: number; ipFailuresPerHour: number };
  /** Bounds on argon2 work: hashes at once, and requests allowed to wait (more get 503). */
  passwordHashing: { concurrency: number; maxQueue: number };
  /** Lets back-channel logout and other outgoing calls reach loopback and private addresses (development only). */
  allowPrivateFetch: boolean;
  audit: { retentionDays: number };
  /**
   * Signing keys: how often a running server re-reads them, and how long after `atrium keys rotate`
   * a new key starts signing (published at once; longer than the reload period, so that every
   * process publishes it before any signs with it).
   */
  keys: { reloadSeconds: number; activationDelaySeconds: number };
  /** Production escape hatches: each must be set on purpose. */
  allowHttpIssuer: boolean;
  allowGeneratedCookieKeys: boolean;
}

/**
 * The shortest activation delay that lets every running server publish a new key before any signs
 * with it: a server reads at most `reloadSeconds` after a rotation (its timer) and may take another
 * period when a read fails or lags; 10 s more for clocks that differ a little (activation times are
 * compared with each server's clock, like every token's expiry).
 */
export const minimumActivationDelay = (reloadSeconds: number): number => 2 * reloadSeconds + 10;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const readJson = (path: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

const flag = (value: string | undefined): boolean => value === 'true' || value === '1';

export function loadConfig(given: Env): Config {
  // An empty variable counts as unset (`PORT=${PORT}` in a compose file with nothing to put there).
  const env: Env = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== ''));
  let raw = readJson(`${PACKAGE_ROOT}config/default.json`);
  const own = env.ATRIUM_CONFIG ? readJson(env.ATRIUM_CONFIG) : undefined;
  if (own !== undefined) raw = merge(raw, own);
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid configuration at ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const file = parsed.data;

  const port = env.PORT === undefined ? file.port : Number(env.PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`PORT must be a port number from 1 to 65535, got ${env.PORT ?? port}`);

  const givenIssuer = env.ATRIUM_ISSUER ?? file.issuer ?? `http://localhost:${port}`;
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(givenIssuer);
  } catch {
    throw new ConfigError(`ATRIUM_ISSUER must be an absolute URL, got ${givenIssuer}`);
  }
  if (!['http:', 'https:'].includes(issuerUrl.protocol) || issuerUrl.search || issuerUrl.hash || issuerUrl.username || issuerUrl.password) {
    throw new ConfigError('ATRIUM_ISSUER must be an http(s) URL without credentials, query or fragment');
  }
  // As every client compares it: scheme and host in lower case, no default port, no trailing slash.
  const issuer = issuerUrl.href.replace(/\/+$/, '');

  const store = storeConfig(env, file);

  const signingAlg = env.ATRIUM_SIGNING_ALG ?? file.signingAlg;
  if (signingAlg !== 'RS256' && signingAlg !== 'ES256') throw new ConfigError('ATRIUM_SIGNING_ALG must be RS256 or ES256');

  const cookieKeys = env.ATRIUM_COOKIE_KEYS ? env.ATRIUM_COOKIE_KEYS.split(',').map((k) => k.trim()) : file.cookieKeys;
  if (cookieKeys?.some((k) => k.length < 32)) throw new ConfigError('each cookie key must be at least 32 characters');

  const logLevel = fileSchema.shape.logLevel.safeParse(env.ATRIUM_LOG_LEVEL ?? file.logLevel);
  if (!logLevel.success) throw new ConfigError('ATRIUM_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');

  const hops = env.ATRIUM_TRUST_PROXY_HOPS === undefined ? file.trustProxyHops : Number(env.ATRIUM_TRUST_PROXY_HOPS);
  if (!Number.isInteger(hops) || hops < 0 || hops > 10) throw new ConfigError('ATRIUM_TRUST_PROXY_HOPS must be a whole number from 0 to 10');
  const metricsToken = env.ATRIUM_METRICS_TOKEN;
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(metricsToken)) {
    throw new ConfigError('ATRIUM_METRICS_TOKEN must be at least 16 printable characters without spaces');
  }
  const hopsChosen = env.ATRIUM_TRUST_PROXY_HOPS !== undefined || (isObject(own) && own.trustProxyHops !== undefined);
  if (env.NODE_ENV === 'production' && issuerUrl.protocol === 'https:' && hops === 0 && !hopsChosen) {
    throw new ConfigError(
      'refusing to start in production with an https issuer and no proxy trusted: Atrium serves plain HTTP, so TLS ends at a proxy; ' +
        'set ATRIUM_TRUST_PROXY_HOPS to the number of proxies in front of it (their X-Forwarded-For gives the client addresses that ' +
        'sign-in throttling counts), or to 0 on purpose when none forwards them',
    );
  }

  if (file.keys.activationDelaySeconds < minimumActivationDelay(file.keys.reloadSeconds)) {
    throw new ConfigError(
      `keys.activationDelaySeconds must be at least twice keys.reloadSeconds and 10 s more (${minimumActivationDelay(file.keys.reloadSeconds)}): every server publishes a new signing key before any signs with it`,
    );
  }

  const workers = parseWorkers(env.ATRIUM_WORKERS ?? String(file.workers ?? 'auto'));
  const config: Config = {
    production: env.NODE_ENV === 'production',
    port,
    workers,
    issuer,
    store,
    signingAlg,
    password: file.password,
    ttl: file.ttl,
    logLevel: logLevel.data,
    cookieKeys,
    adminPassword: env.ATRIUM_ADMIN_PASSWORD || undefined,
    metricsToken,
    session: file.session,
    trustProxyHops: hops,
    throttle: file.throttle,
    passwordHashing: { ...file.passwordHashing, concurrency: hashingConcurrency(file.passwordHashing.concurrency, workers) },
    allowPrivateFetch: env.ATRIUM_ALLOW_PRIVATE_FETCH === undefined ? file.allowPrivateFetch : flag(env.ATRIUM_ALLOW_PRIVATE_FETCH),
    audit: file.audit,
    keys: file.keys,
    allowHttpIssuer: flag(env.ATRIUM_ALLOW_HTTP_ISSUER),
    allowGeneratedCookieKeys: flag(env.ATRIUM_ALLOW_GENERATED_COOKIE_KEYS),
  };
  assertProductionSafe(config);
  return config;
}

/**
 * argon2id jobs in flight per process. `auto`: as many as the cores (shared out among the workers of
 * `--workers N`), the rate the raw verify benchmark reaches: one more made the hashing threads take
 * turns on the cores and cost about 6 % more CPU per sign-in (bench, sign-in scenario, 3 A/B pairs).
 * It stays below the size of libuv's thread pool (UV_THREADPOOL_SIZE, 4 unless set before the
 * process starts; the primary sets it for its workers), keeping a thread free for DNS and files.
 */
function hashingConcurrency(value: number | 'auto', workers: number): number {
  if (value !== 'auto') return value;
  const perProcess = cluster.isWorker ? Math.ceil(availableParallelism() / workers) : availableParallelism();
  return Math.max(1, Math.min(perProcess, threadPoolSize() - 1));
}

/** libuv's thread pool size, which the process read when it started. */
const threadPoolSize = (): number => Number(process.env.UV_THREADPOOL_SIZE) || 4;

/** The thread pool a worker of `--workers N` is started with: the operator's, or room for its hashing share and two more. */
export const workerThreadPoolSize = (workers: number): number =>
  Number(process.env.UV_THREADPOOL_SIZE) || Math.max(4, Math.ceil(availableParallelism() / workers) + 2);

/** ATRIUM_WORKERS / --workers: a count from 1 to 64, or `auto` for one per core. */
export function parseWorkers(value: string): number {
  if (value === 'auto' || value === '') return Math.min(availableParallelism(), 64);
  const workers = Number(value);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError(`workers must be a whole number from 1 to 64, or auto, got "${value}"`);
  return workers;
}

const splitList = (value: string | undefined): string[] | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.split(',').map((v) => v.trim()).filter(Boolean);

function hostPorts(name: string, list: string[]): HostPort[] {
  if (list.length === 0) throw new ConfigError(`${name} must list at least one host:port`);
  return list.map((entry) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match?.[1] || port < 1 || port > 65535) throw new ConfigError(`${name} must be a comma-separated list of host:port, got "${entry}"`);
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  });
}

/**
 * The embedded sqlite store, unless Redis is configured: standalone by ATRIUM_REDIS_URL, Sentinel by
 * ATRIUM_REDIS_SENTINELS (+ ATRIUM_REDIS_SENTINEL_NAME), Cluster by ATRIUM_REDIS_CLUSTER_NODES.
 */
function storeConfig(env: Env, file: z.infer<typeof fileSchema>): StoreConfig {
  const url = env.ATRIUM_REDIS_URL || file.redis.url;
  if (url && !/^rediss?:\/\//.test(url)) throw new ConfigError('ATRIUM_REDIS_URL must start with redis:// or rediss://');
  if (url && !URL.canParse(url)) throw new ConfigError('ATRIUM_REDIS_URL is not a valid URL (with a password, give a host too: redis://:secret@redis/0)');
  const sentinels = splitList(env.ATRIUM_REDIS_SENTINELS) ?? file.redis.sentinels;
  const clusterNodes = splitList(env.ATRIUM_REDIS_CLUSTER_NODES) ?? file.redis.clusterNodes;
  if (sentinels && clusterNodes) throw new ConfigError('set either ATRIUM_REDIS_SENTINELS or ATRIUM_REDIS_CLUSTER_NODES, not both');
  const keyPrefix = env.ATRIUM_REDIS_PREFIX ?? file.redis.keyPrefix;
  if (/[{}]/.test(keyPrefix)) throw new ConfigError('ATRIUM_REDIS_PREFIX must not contain { or } (they would change Redis Cluster hash slots)');
  if (sentinels) {
    const name = env.ATRIUM_REDIS_SENTINEL_NAME || file.redis.sentinelName || 'mymaster';
    return { driver: 'redis', url: url || 'redis://', keyPrefix, sentinel: { nodes: hostPorts('ATRIUM_REDIS_SENTINELS', sentinels), name } };
  }
  if (clusterNodes) {
    return { driver: 'redis', url: url || 'redis://', keyPrefix, cluster: { nodes: hostPorts('ATRIUM_REDIS_CLUSTER_NODES', clusterNodes) } };
  }
  if (url) return { driver: 'redis', url, keyPrefix };
  return { driver: 'sqlite', dataDir: env.ATRIUM_DATA_DIR || file.dataDir };
}

/** Refuses development shortcuts in production unless the operator opted in explicitly. */
function assertProductionSafe(config: Config): void {
  if (config.session.idleSeconds > config.session.absoluteSeconds) {
    throw new ConfigError('session.idleSeconds must not exceed session.absoluteSeconds');
  }
  if (!config.production) return;
  if (config.allowPrivateFetch) {
    throw new ConfigError('refusing to start in production with ATRIUM_ALLOW_PRIVATE_FETCH: outgoing calls to private addresses are for development');
  }
  if (config.issuer.startsWith('http:') && !config.allowHttpIssuer) {
    throw new ConfigError('refusing to start in production with an http issuer: use https, or set ATRIUM_ALLOW_HTTP_ISSUER=true');
  }
  if (!config.cookieKeys && !config.allowGeneratedCookieKeys) {
    throw new ConfigError(
      'refusing to start in production with generated cookie keys: set ATRIUM_COOKIE_KEYS, or ATRIUM_ALLOW_GENERATED_COOKIE_KEYS=true',
    );
  }
}

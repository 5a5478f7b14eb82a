/**
 * Store drivers for tests: every suite that touches state runs once per driver. Redis is a real
 * server (ATRIUM_TEST_REDIS_URL, else ATRIUM_REDIS_URL, else 127.0.0.1:6379); each store gets its
 * own key prefix and deletes only its own keys when closed. The store conformance suite and the
 * OIDC suites also run on a real Redis Cluster and behind a real Sentinel, which the global set-up
 * (test/setup/redis-topologies.ts) starts for the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { createRedisStore } from '../../src/store/redis.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import type { StoreConfig } from '../../src/config/index.js';

export const redisUrl = process.env.ATRIUM_TEST_REDIS_URL ?? process.env.ATRIUM_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type DriverName = 'sqlite' | 'redis' | 'redis-cluster' | 'redis-sentinel';
/** Every suite that touches state runs on these. */
export const DRIVERS: DriverName[] = ['sqlite', 'redis'];
/** The store conformance and OIDC suites run on every Redis topology too. */
export const ALL_TOPOLOGIES: DriverName[] = ['sqlite', 'redis', 'redis-cluster', 'redis-sentinel'];

const hostPorts = (list: string) =>
  list.split(',').map((entry) => {
    const [host, port] = entry.split(':');
    return { host: host as string, port: Number(port) };
  });

export interface TestStore {
  store: Store;
  config: StoreConfig;
  /** Closes the store and removes everything it wrote. */
  dispose(): Promise<void>;
}

async function deleteMatching(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    // One key at a time: on a Cluster node, keys of one SCAN page may sit in different slots.
    await Promise.all(keys.map((key) => redis.del(key)));
  } while (cursor !== '0');
}

export async function deleteRedisPrefix(prefix: string, url = redisUrl): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    await deleteMatching(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

async function deleteClusterPrefix(prefix: string, nodes: string): Promise<void> {
  const cluster = new Cluster(hostPorts(nodes), { lazyConnect: true });
  await cluster.connect();
  try {
    await Promise.all(cluster.nodes('master').map((node) => deleteMatching(node, prefix)));
  } finally {
    cluster.disconnect();
  }
}

export function testStoreConfig(driver: DriverName): { config: StoreConfig; cleanup: () => Promise<void> } {
  const keyPrefix = `atrium-test:${randomBytes(6).toString('hex')}:`;
  if (driver === 'redis') {
    return { config: { driver: 'redis', url: redisUrl, keyPrefix }, cleanup: () => deleteRedisPrefix(keyPrefix) };
  }
  if (driver === 'redis-cluster') {
    const nodes = inject('redisClusterNodes');
    return {
      config: { driver: 'redis', url: 'redis://', keyPrefix, cluster: { nodes: hostPorts(nodes) } },
      cleanup: () => deleteClusterPrefix(keyPrefix, nodes),
    };
  }
  if (driver === 'redis-sentinel') {
    return {
      config: { driver: 'redis', url: 'redis://', keyPrefix, sentinel: { nodes: hostPorts(inject('redisSentinels')), name: inject('redisSentinelName') } },
      cleanup: () => deleteRedisPrefix(keyPrefix, inject('redisSentinelMasterUrl')),
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-test-'));
  return { config: { driver: 'sqlite', dataDir }, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

export async function openTestStore(driver: DriverName): Promise<TestStore> {
  const { config, cleanup } = testStoreConfig(driver);
  const store = config.driver === 'redis'
    ? await createRedisStore(config)
    : createSqliteStore({ dataDir: config.dataDir, purgeIntervalMs: 50 });
  return {
    store,
    config,
    async dispose() {
      await store.close();
      await cleanup();
    },
  };
}

/**
 * Store drivers for tests: every suite that touches state runs once per driver. Redis is a real
 * server (ATRIUM_TEST_REDIS_URL, else ATRIUM_REDIS_URL, else 127.0.0.1:6379); each store gets its
 * own key prefix and deletes only its own keys when closed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisStore } from '../../src/store/redis.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import type { StoreConfig } from '../../src/config/index.js';

export const redisUrl = process.env.ATRIUM_TEST_REDIS_URL ?? process.env.ATRIUM_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type DriverName = 'sqlite' | 'redis';
export const DRIVERS: DriverName[] = ['sqlite', 'redis'];

export interface TestStore {
  store: Store;
  config: StoreConfig;
  /** Closes the store and removes everything it wrote. */
  dispose(): Promise<void>;
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export function testStoreConfig(driver: DriverName): { config: StoreConfig; cleanup: () => Promise<void> } {
  if (driver === 'redis') {
    const keyPrefix = `atrium-test:${randomBytes(6).toString('hex')}:`;
    return { config: { driver: 'redis', url: redisUrl, keyPrefix }, cleanup: () => deleteRedisPrefix(keyPrefix) };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-test-'));
  return { config: { driver: 'sqlite', dataDir }, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

export async function openTestStore(driver: DriverName): Promise<TestStore> {
  const { config, cleanup } = testStoreConfig(driver);
  const store = config.driver === 'redis'
    ? await createRedisStore({ url: config.url, keyPrefix: config.keyPrefix })
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

import type { StoreConfig } from '../config/index.js';
import { createRedisStore } from './redis.js';
import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export type { Store } from './store.js';

/** The redis driver when Redis is configured (server, Sentinel or Cluster), else the embedded sqlite driver. */
export async function createStore(config: StoreConfig): Promise<Store> {
  if (config.driver === 'redis') return createRedisStore(config);
  return createSqliteStore({ dataDir: config.dataDir });
}

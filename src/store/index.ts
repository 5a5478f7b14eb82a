import type { StoreConfig } from '../config/index.js';
import { createRedisStore } from './redis.js';
import { createSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export type { Store } from './store.js';

/** The redis driver when a Redis URL is configured, else the embedded sqlite driver. */
export async function createStore(config: StoreConfig): Promise<Store> {
  if (config.driver === 'redis') return createRedisStore({ url: config.url, keyPrefix: config.keyPrefix });
  return createSqliteStore({ dataDir: config.dataDir });
}

/**
 * The Redis topologies are the real thing: the Cluster the global set-up started spreads one
 * store's keys over its three masters, and the Sentinel store writes to the master Sentinel names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { openTestStore, type TestStore } from '../helpers/stores.js';

const countKeys = async (redis: Redis, prefix: string): Promise<number> => {
  let count = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  return count;
};

describe('Redis Cluster', () => {
  let t: TestStore;
  let cluster: Cluster;
  beforeAll(async () => {
    t = await openTestStore('redis-cluster');
    cluster = new Cluster(inject('redisClusterNodes').split(',').map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })), { lazyConnect: true });
    await cluster.connect();
  });
  afterAll(async () => {
    cluster.disconnect();
    await t.dispose();
  });

  it('has three masters, and one store spreads its keys over all of them', async () => {
    const masters = cluster.nodes('master');
    expect(masters).toHaveLength(3);
    await Promise.all(Array.from({ length: 90 }, (_, i) => t.store.set(`spread:${i}`, 'v')));
    const prefix = t.config.driver === 'redis' ? t.config.keyPrefix : '';
    const perNode = await Promise.all(masters.map((node) => countKeys(node, prefix)));
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(90);
    for (const count of perNode) expect(count).toBeGreaterThan(0);
  });
});

describe('Redis Sentinel', () => {
  let t: TestStore;
  let master: Redis;
  beforeAll(async () => {
    t = await openTestStore('redis-sentinel');
    master = new Redis(inject('redisSentinelMasterUrl'), { lazyConnect: true });
    await master.connect();
  });
  afterAll(async () => {
    master.disconnect();
    await t.dispose();
  });

  it('writes to the master that Sentinel names', async () => {
    await t.store.set('sentinel:probe', 'through-sentinel');
    const prefix = t.config.driver === 'redis' ? t.config.keyPrefix : '';
    expect(await master.get(`${prefix}sentinel:probe`)).toBe('through-sentinel');
  });
});

/**
 * The Redis topologies are the real thing: the Cluster the global set-up started spreads one
 * store's keys over its three masters, the Sentinel store writes to the master Sentinel names, and
 * follows a failover to the promoted replica without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { openTestStore, type TestStore } from '../helpers/stores.js';
import { startRedisCluster, startRedisSentinel, type RedisCluster, type RedisSentinel } from '../helpers/redis-servers.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';

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

describe('a Redis Cluster of its own (its nodes reconfigured)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('never sends a command again once its connection closed under it: a script that ran runs once, and its caller gets 503', async () => {
    const nodes = cluster.nodes.split(',').map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) }));
    const store = await createRedisStore({ url: 'redis://', keyPrefix: 'replay:', cluster: { nodes } });
    const admins = nodes.map((n) => new Redis(n.port, n.host));
    try {
      await store.hset('{r}:big', { f: 'x'.repeat(40_000) }, { ttl: 600 });
      expect(await store.get('{r}:counter')).toBeUndefined(); // connected to the node that holds both
      // Every node now closes a connection whose replies pass 1 kB: the big read's reply closes it
      // right after the commands it went out with (one auto-pipeline) ran.
      await Promise.all(admins.map((a) => a.config('SET', 'client-output-buffer-limit', 'normal 1024 1024 0')));
      const [incr] = await Promise.allSettled([store.incr('{r}:counter', { ttl: 600 }), store.hgetall('{r}:big')]);
      await Promise.all(admins.map((a) => a.config('SET', 'client-output-buffer-limit', 'normal 0 0 0')));
      expect(incr).toMatchObject({ status: 'rejected', reason: { status: 503 } });
      await sleep(500); // the client's retries, were there any, would have run by now
      expect(await store.get('{r}:counter')).toBe('1');
    } finally {
      await store.close();
      for (const admin of admins) admin.disconnect();
    }
  });
});

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

describe('Redis Sentinel failover', () => {
  let sentinel: RedisSentinel;
  let store: Store;
  beforeAll(async () => {
    sentinel = await startRedisSentinel({ withReplica: true });
    store = await createRedisStore({ url: 'redis://', keyPrefix: 'atrium-failover:', sentinel: { nodes: [{ host: '127.0.0.1', port: Number(sentinel.sentinels.split(':')[1]) }], name: sentinel.name } });
  });
  afterAll(async () => {
    await store?.close();
    await sentinel?.stop();
  });

  it('follows the master Sentinel promotes without a restart; a write refused meanwhile is a 503', async () => {
    await store.set('before', 'kept');
    const replicaPort = sentinel.replica!.port;
    const admin = new Redis(Number(sentinel.sentinels.split(':')[1]), '127.0.0.1');
    const promoted = new Redis(replicaPort, '127.0.0.1');
    const demoted = new Redis(sentinel.master.port, '127.0.0.1');
    const role = async (server: Redis): Promise<string> => ((await server.call('ROLE')) as string[])[0]!;
    try {
      await admin.call('SENTINEL', 'FAILOVER', sentinel.name);
      // Keep writing through the store until a write lands on the promoted replica.
      const failures: unknown[] = [];
      let landed = false;
      const deadline = Date.now() + 20_000;
      for (let i = 0; !landed && Date.now() < deadline; i += 1) {
        try {
          await store.set('after', `write ${i}`);
          // It counts once the failover is complete (Sentinel names the replica, which is master,
          // and the old master is a replica): before that, replication alone could copy the
          // write to the replica while the store still writes to the old master.
          landed =
            (await sentinel.currentMasterPort()) === replicaPort &&
            (await role(promoted)) === 'master' &&
            (await role(demoted)) === 'slave' &&
            (await promoted.get('atrium-failover:after')) === `write ${i}`;
        } catch (err) {
          failures.push(err);
        }
        if (!landed) await sleep(20);
      }
      expect(landed).toBe(true);
      expect(failures.map((err) => (err as { status?: number }).status)).toEqual(failures.map(() => 503));
      expect(await promoted.get('atrium-failover:before')).toBe('kept');
      expect(await store.get('before')).toBe('kept');
    } finally {
      await promoted.del('atrium-failover:before', 'atrium-failover:after');
      promoted.disconnect();
      demoted.disconnect();
      admin.disconnect();
    }
  });
});

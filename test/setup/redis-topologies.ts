/**
 * Global set-up: a real 3-master Redis Cluster and a Sentinel-watched master, started on free ports
 * for this test run and stopped after it. Suites reach them through `inject` (see helpers/stores.ts).
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster, startRedisSentinel } from '../helpers/redis-servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisClusterNodes: string;
    redisSentinels: string;
    redisSentinelName: string;
    redisSentinelMasterUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [cluster, sentinel] = await Promise.all([startRedisCluster(), startRedisSentinel()]);
  project.provide('redisClusterNodes', cluster.nodes);
  project.provide('redisSentinels', sentinel.sentinels);
  project.provide('redisSentinelName', sentinel.name);
  project.provide('redisSentinelMasterUrl', sentinel.master.url);
  return async () => {
    await Promise.all([cluster.stop(), sentinel.stop()]);
  };
}

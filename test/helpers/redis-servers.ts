/**
 * Real redis-server processes that a test starts on free ports and stops: a plain server (for
 * fault tests), a 3-master Cluster and a master watched by a Sentinel. Nothing here touches the
 * machine's own Redis on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A free loopback port chosen by the OS. */
export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if (taken.has(port)) continue;
    if ((await isFree(port)) && (await isFree(port + 10000))) {
      taken.add(port);
      return port;
    }
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function answers(port: number, command: (redis: Redis) => Promise<boolean> = async (r) => (await r.ping()) === 'PONG'): Promise<boolean> {
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return await command(probe);
  } finally {
    probe.disconnect();
  }
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  child: ChildProcess;
  /** Stops it abruptly (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory, with the same arguments. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

const exited = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

/** One redis-server on a free port; `args` are extra options (e.g. AOF settings). */
export async function startRedisServer(args: string[] = [], port?: number): Promise<RedisServer> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'atrium-redis-'));
  const argv = ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args];
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('redis-server', argv, { stdio: 'ignore' });
    await waitFor(() => answers(chosen), `redis-server on ${chosen}`);
    return child;
  };
  const server: RedisServer = {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    dir,
    child: await launch(),
    async kill() {
      server.child.kill('SIGKILL');
      await exited(server.child);
    },
    async restart() {
      server.child = await launch();
    },
    async stop() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface RedisCluster {
  /** "host:port,host:port,host:port", as ATRIUM_REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  stop(): Promise<void>;
}

/** A 3-master Redis Cluster (no replicas) on free ports, created with redis-cli --cluster create. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const taken = new Set<number>();
  const ports = [await freeClusterPort(taken), await freeClusterPort(taken), await freeClusterPort(taken)];
  const servers = await Promise.all(
    ports.map((port) => startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'], port)),
  );
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await waitFor(() => answers(port, async (r) => /cluster_state:ok/.test(await r.cluster('INFO'))), `cluster state ok on ${port}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), stop };
}

export interface RedisSentinel {
  /** "host:port", as ATRIUM_REDIS_SENTINELS takes it. */
  sentinels: string;
  name: string;
  master: RedisServer;
  /** With `withReplica`: a replica of the master, which Sentinel knows and may promote. */
  replica?: RedisServer;
  /** The port of the server Sentinel names as master now. */
  currentMasterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A master and one Sentinel watching it under the name `atrium-test`; optionally a replica too. */
export async function startRedisSentinel(options: { withReplica?: boolean } = {}): Promise<RedisSentinel> {
  const master = await startRedisServer();
  const replica = options.withReplica ? await startRedisServer(['--replicaof', '127.0.0.1', String(master.port)]) : undefined;
  const port = await freePort();
  const name = 'atrium-test';
  const config = join(master.dir, 'sentinel.conf');
  writeFileSync(config, `port ${port}\nbind 127.0.0.1\nsentinel monitor ${name} 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds ${name} 2000\nsentinel failover-timeout ${name} 10000\n`);
  const child = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore', cwd: master.dir });
  const stop = async () => {
    child.kill('SIGKILL');
    await exited(child);
    await Promise.all([master.stop(), replica?.stop()]);
  };
  const ask = <T>(...args: string[]): Promise<T> => {
    const sentinel = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    sentinel.on('error', () => undefined);
    return sentinel
      .connect()
      .then(() => sentinel.call('SENTINEL', ...args) as Promise<T>)
      .finally(() => sentinel.disconnect());
  };
  const currentMasterPort = async () => Number((await ask<string[]>('get-master-addr-by-name', name))[1]);
  try {
    await waitFor(async () => (await currentMasterPort()) === master.port, 'sentinel to know the master');
    if (replica) {
      await waitFor(() => answers(replica.port, async (r) => /master_link_status:up/.test(await r.info('replication'))), 'the replica to sync');
      await waitFor(async () => (await ask<unknown[][]>('replicas', name)).length === 1, 'sentinel to know the replica');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { sentinels: `127.0.0.1:${port}`, name, master, ...(replica ? { replica } : {}), currentMasterPort, stop };
}

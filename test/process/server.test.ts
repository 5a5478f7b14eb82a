/**
 * The real server process (dist/main.js and `atrium start`, built by `npm test`): first start,
 * restart, workers, SIGTERM.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { workerThreadPoolSize } from '../../src/config/index.js';
import { SERVER_NODE_FLAGS, workerExecArgv } from '../../src/server.js';
import { testStoreConfig } from '../helpers/stores.js';
import { CLI, DEMO, MAIN, runToExit, startProcess } from '../helpers/processes.js';
import { freePort } from '../helpers/redis-servers.js';

/** The pids of a process's children (ps exits with 1 when there are none). */
const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter(Boolean);
  } catch (err) {
    if ((err as { status?: number }).status === 1) return [];
    throw err;
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the server process', () => {
  it('prints a generated platform admin password on the first start only, and stops cleanly on SIGTERM', async () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const env = { ATRIUM_DATA_DIR: (config as { dataDir: string }).dataDir, ATRIUM_ADMIN_PASSWORD: '' };
    try {
      const first = await startProcess(env);
      expect(first.output()).toMatch(/Platform admin created\. Sign in with organisation "platform", username "admin", password: [A-Za-z0-9_-]{24}/);
      expect((await fetch(`${first.base}/readyz`)).status).toBe(200);
      expect(await first.stop()).toBe(0);

      const second = await startProcess(env);
      expect(second.output()).not.toContain('Platform admin created');
      expect(await second.stop()).toBe(0);
    } finally {
      await cleanup();
    }
  });

  it('refuses a too short ATRIUM_ADMIN_PASSWORD before writing anything, so the next start still creates the admin', async () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const env = { ...process.env, ATRIUM_DATA_DIR: (config as { dataDir: string }).dataDir, ATRIUM_LOG_LEVEL: 'warn' };
    try {
      const refused = spawnSync(process.execPath, [MAIN], { env: { ...env, ATRIUM_ADMIN_PASSWORD: 'short' }, encoding: 'utf8', timeout: 30_000 });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('atrium: ATRIUM_ADMIN_PASSWORD: must have at least 8 characters');
      const next = await startProcess({ ATRIUM_DATA_DIR: env.ATRIUM_DATA_DIR, ATRIUM_ADMIN_PASSWORD: '' });
      expect(next.output()).toMatch(/Platform admin created\. Sign in with organisation "platform", username "admin", password: [A-Za-z0-9_-]{24}/);
      expect(await next.stop()).toBe(0);
    } finally {
      await cleanup();
    }
  });

  it('exits 1 with one line when its port is taken, alone and with workers', async () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const { port } = taken.address() as AddressInfo;
    const env = { ...process.env, ATRIUM_DATA_DIR: (config as { dataDir: string }).dataDir, ATRIUM_ADMIN_PASSWORD: 'a long admin password', ATRIUM_LOG_LEVEL: 'silent', ATRIUM_WORKERS: '1', PORT: String(port) };
    try {
      const alone = await runToExit([...SERVER_NODE_FLAGS, MAIN], env);
      expect({ status: alone.status, stderr: alone.stderr.trim().split('\n').filter((l) => !l.includes('Unsupported runtime')) }).toEqual({
        status: 1,
        stderr: [`atrium: cannot listen on port ${port}: EADDRINUSE`],
      });
      // Each worker fails to listen: the primary stops and says so with its exit code.
      const workers = await runToExit([CLI, 'start', '--workers', '2'], env);
      expect({ status: workers.status, stderr: workers.stderr }).toEqual({ status: 1, stderr: expect.stringContaining(`atrium: cannot listen on port ${port}: EADDRINUSE`) });
    } finally {
      taken.close();
      await cleanup();
    }
  });

  it('runs the demo only on free ports: a taken one is said in one line, exit code 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    const dataDir = testStoreConfig('sqlite');
    try {
      const demo = await runToExit([DEMO], { ...process.env, DEMO_PORT: String(port), DEMO_DATA_DIR: (dataDir.config as { dataDir: string }).dataDir });
      expect({ status: demo.status, stderr: demo.stderr.trim().split('\n').filter((l) => !l.includes('Unsupported runtime')) }).toEqual({
        status: 1,
        stderr: [`atrium demo: a port from ${port} to ${port + 2} is taken; set DEMO_PORT to use three others`],
      });
    } finally {
      taken.close();
      await dataDir.cleanup();
    }
  });

  it('says why the store is unreachable when it cannot start, without the password of its URL', async () => {
    const port = await freePort();
    const env = { ...process.env, ATRIUM_REDIS_URL: `redis://:s3cret-word@127.0.0.1:${port}`, ATRIUM_ADMIN_PASSWORD: 'a long admin password' };
    const refused = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 30_000 });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`atrium: store unavailable: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(refused.stderr).not.toContain('s3cret-word');
  });

  it('runs `atrium start --workers 2` as two worker processes on one port, and stops them all on SIGTERM', async () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const env = { ATRIUM_DATA_DIR: (config as { dataDir: string }).dataDir, ATRIUM_ADMIN_PASSWORD: 'a long admin password' };
    let started: Awaited<ReturnType<typeof startProcess>> | undefined;
    try {
      const server = (started = await startProcess(env, { args: [CLI, 'start', '--workers', '2'] }));
      const workers = childrenOf(server.child.pid!);
      expect(workers).toHaveLength(2);
      // Each worker starts with its count and a thread pool sized for its share of the hashing
      // (a pool size only takes effect when set at launch, so the primary sets it).
      for (const pid of workers) {
        const environ = Object.fromEntries(
          readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
        );
        expect(environ.ATRIUM_WORKERS).toBe('2');
        expect(environ.UV_THREADPOOL_SIZE).toBe(String(workerThreadPoolSize(2)));
        // …and the server's V8 flags, though `atrium start` itself was started without them.
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        expect(argv).toEqual(expect.arrayContaining(['--max-semi-space-size=32']));
      }
      // Many short connections land on both workers; every one is answered.
      const statuses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${server.base}/.well-known/openid-configuration`, { headers: { connection: 'close' } }).then((r) => r.status)));
      expect(statuses.every((s) => s === 200)).toBe(true);
      // /metrics speaks for the whole server, whichever worker answers it.
      const metrics = await (await fetch(`${server.base}/metrics`)).text();
      const discovery = /atrium_http_requests_total\{[^}]*route="discovery"[^}]*status="200"[^}]*\} (\d+)/.exec(metrics);
      expect(Number(discovery?.[1])).toBe(20);
      expect(await server.stop()).toBe(0);
      expect(workers.filter(alive)).toEqual([]);
    } finally {
      await started?.stop(); // when an expectation failed before: no server left running
      await cleanup();
    }
  });

  it('serves alone when started with the server V8 flags (npm start), and through one flagged worker when not (`atrium start --workers 1`)', async () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const env = { ATRIUM_DATA_DIR: (config as { dataDir: string }).dataDir, ATRIUM_ADMIN_PASSWORD: 'a long admin password' };
    const started: Awaited<ReturnType<typeof startProcess>>[] = [];
    try {
      const alone = await startProcess(env);
      started.push(alone);
      expect(childrenOf(alone.child.pid!)).toEqual([]);
      expect(readFileSync(`/proc/${alone.child.pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=32');
      expect(await alone.stop()).toBe(0);

      const bare = await startProcess(env, { args: [CLI, 'start', '--workers', '1'] });
      started.push(bare);
      const [worker, ...more] = childrenOf(bare.child.pid!);
      expect(more).toEqual([]);
      expect(readFileSync(`/proc/${worker}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=32');
      expect((await fetch(`${bare.base}/readyz`)).status).toBe(200);
      expect(await bare.stop()).toBe(0);
      expect(alive(worker!)).toBe(false);
    } finally {
      for (const server of started) await server.stop();
      await cleanup();
    }
  });

  it('gives workers the server V8 flags, unless the operator set the same flag another way', () => {
    expect(SERVER_NODE_FLAGS).toEqual(['--max-semi-space-size=32']);
    expect(workerExecArgv([])).toEqual(['--max-semi-space-size=32']);
    expect(workerExecArgv(['--enable-source-maps'])).toEqual(['--enable-source-maps', '--max-semi-space-size=32']);
    expect(workerExecArgv(['--max-semi-space-size=32', '--inspect'])).toEqual(['--max-semi-space-size=32', '--inspect']);
    expect(workerExecArgv(['--max-semi-space-size=64'])).toEqual(['--max-semi-space-size=64']);
    expect(workerExecArgv(['--max_semi_space_size', '8'])).toEqual(['--max_semi_space_size', '8']);
    expect(workerExecArgv([], '--max-old-space-size=512 --max-semi-space-size=16')).toEqual([]);
    expect(workerExecArgv([], '--max-old-space-size=512')).toEqual(['--max-semi-space-size=32']);
  });

  it('refuses a bad --workers value with exit code 2 and the usage', () => {
    const result = (() => {
      try {
        execFileSync(process.execPath, [CLI, 'start', '--workers', 'many'], { encoding: 'utf8', stdio: 'pipe' });
        return { status: 0, stderr: '' };
      } catch (err) {
        return err as { status: number; stderr: string };
      }
    })();
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('workers must be a whole number from 1 to 64, or auto, got "many"');
    expect(result.stderr).toContain('usage: atrium start [--workers N|auto]');
  });

  it('refuses to start in production with an http issuer, in one line', async () => {
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, NODE_ENV: 'production', ATRIUM_ISSUER: 'http://sso.test' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('refusing to start in production with an http issuer');
    expect(err.trim().split('\n').filter((l) => !l.includes('Unsupported runtime'))).toHaveLength(1);
  });
});

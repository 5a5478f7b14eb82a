/**
 * Redis going away and coming back, with a redis-server this test starts on a free port: requests
 * that need the store answer 503 with Retry-After at once (no hang, no 500, no stack trace), pages
 * that do not need it keep working, and service resumes without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeServer, createAtrium, type Atrium } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRedisServer, type RedisServer } from '../helpers/redis-servers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createRedisStore } from '../../src/store/redis.js';
import { createSqliteStore } from '../../src/store/sqlite.js';

describe('Redis faults', () => {
  let redis: RedisServer;
  let atrium: Atrium;
  let server: Server;
  let issuer: string;
  let clientId: string;
  let basic: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    server = createHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = loadConfig({ ATRIUM_ISSUER: issuer, ATRIUM_REDIS_URL: redis.url });
    atrium = await createAtrium(config, createLogger('silent'));
    server.on('request', atrium.callback);
    const { app, clientSecret } = await atrium.directory.apps.create({ name: 'CRM', redirectUris: ['https://crm.test/cb'] });
    clientId = app.clientId;
    basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  });
  afterAll(async () => {
    await closeServer(server, 500);
    await atrium.close();
    await redis.stop();
  });

  const timed = async (url: string, init: RequestInit = {}) => {
    const started = Date.now();
    const res = await fetch(url, { redirect: 'manual', ...init });
    return { res, ms: Date.now() - started, text: await res.text() };
  };

  it('answers 503 with Retry-After within 2 s while Redis is down, keeps store-free pages up, and recovers on its own', async () => {
    expect((await fetch(`${issuer}/readyz`)).status).toBe(200);
    await redis.kill();

    const needsStore: { url: string; init: RequestInit }[] = [
      { url: `${issuer}/me`, init: { headers: { authorization: 'Bearer some-token', accept: 'application/json' } } },
      {
        url: `${issuer}/token`,
        init: { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: 'grant_type=refresh_token&refresh_token=abc' },
      },
      { url: `${issuer}/api/v1/oauth2/userinfo`, init: { headers: { authorization: 'Bearer some-token', accept: 'application/json' } } },
      { url: `${issuer}/auth?client_id=${clientId}&response_type=code&redirect_uri=https://crm.test/cb&scope=openid`, init: { headers: { accept: 'text/html' } } },
    ];
    for (const { url, init } of needsStore) {
      const { res, ms, text } = await timed(url, init);
      expect(res.status, url).toBe(503);
      expect(res.headers.get('retry-after'), url).toBe('2');
      expect(ms, url).toBeLessThan(2000);
      expect(text).not.toMatch(/node_modules|\n\s+at /);
    }
    const token = await timed(needsStore[1]!.url, needsStore[1]!.init);
    expect(JSON.parse(token.text)).toEqual({ error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable, try again shortly' });

    expect((await fetch(`${issuer}/healthz`)).status).toBe(200);
    expect((await fetch(`${issuer}/readyz`)).status).toBe(503);
    expect((await fetch(`${issuer}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${issuer}/jwks`)).status).toBe(200);
    expect((await fetch(`${issuer}/static/atrium.css`)).status).toBe(200);
    expect(await (await fetch(`${issuer}/t/acme`)).text()).toContain('<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">');
    const icon = await fetch(`${issuer}/favicon.ico`);
    expect([icon.status, icon.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);

    await redis.restart();
    for (let i = 0; i < 60 && (await fetch(`${issuer}/readyz`)).status !== 200; i += 1) await sleep(100);
    expect((await fetch(`${issuer}/readyz`)).status).toBe(200);
    // Working again without a restart: the store answers (the token is simply unknown now).
    expect((await fetch(`${issuer}/me`, { headers: { authorization: 'Bearer some-token' } })).status).toBe(401);
    await expect(atrium.directory.tenants.create({ code: 'after', name: 'After the outage' })).resolves.toBeDefined();
  });
});

describe('a store that refuses writes until its operator acts', () => {
  it('answers a Redis out of memory with 503, not 500, and reads on', async () => {
    const redis = await startRedisServer(['--maxmemory', '1', '--maxmemory-policy', 'noeviction']);
    const store = await createRedisStore({ url: redis.url, keyPrefix: 'oom:' });
    try {
      await expect(store.set('k', 'v', { ttl: 10 })).rejects.toMatchObject({ status: 503 });
      await expect(store.incr('n', { ttl: 10 })).rejects.toMatchObject({ status: 503 });
      await expect(store.get('k')).resolves.toBeUndefined();
    } finally {
      await store.close();
      await redis.stop();
    }
  });

  it('answers 503 when another process holds the embedded store’s write lock past the busy timeout', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'atrium-busy-'));
    const store = createSqliteStore({ dataDir, busyTimeoutMs: 100, purgeIntervalMs: 3_600_000 });
    const other = new Database(join(dataDir, 'atrium.sqlite'));
    try {
      await store.set('k', 'v');
      other.exec('BEGIN IMMEDIATE');
      await expect(store.set('k', 'w')).rejects.toMatchObject({ status: 503 });
      await expect(store.get('k')).resolves.toBe('v'); // reads go on (WAL)
      other.exec('ROLLBACK');
      await store.set('k', 'w');
      expect(await store.get('k')).toBe('w');
    } finally {
      other.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * Redis crashes and comes back, with a redis-server this test starts on a free port with AOF on and
 * `appendfsync always`: a request answered 503 never takes effect later (no ghost writes), and a
 * crash in the middle of a load of token requests loses no token that was handed out and
 * resurrects no token that was revoked or consumed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeServer, createAtrium, type Atrium } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-servers.js';

describe('Redis durability with AOF', () => {
  let redis: RedisServer;
  let atrium: Atrium;
  let server: Server;
  let issuer: string;
  let seed: Seed;
  let robot: { clientId: string; secret: string };

  beforeAll(async () => {
    redis = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
    server = createHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    atrium = await createAtrium(loadConfig({ ATRIUM_ISSUER: issuer, ATRIUM_REDIS_URL: redis.url }), createLogger('silent'));
    server.on('request', atrium.callback);
    seed = await seedDirectory(atrium.directory);
    const { app, clientSecret } = await atrium.directory.apps.create({ name: 'Robot', redirectUris: ['https://robot.test/cb'], management: { role: 'platform' } });
    robot = { clientId: app.clientId, secret: clientSecret! };
  });
  afterAll(async () => {
    await closeServer(server, 500);
    await atrium.close();
    await redis.stop();
  });

  const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
  const form = (path: string, auth: string, body: Record<string, string>) =>
    fetch(`${issuer}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(body) });
  const robotAuth = () => basic(robot.clientId, robot.secret);
  const crmAuth = () => basic(seed.crm.app.clientId, seed.crm.clientSecret!);

  const crash = () => redis.kill();
  const recover = async () => {
    await redis.restart();
    for (let i = 0; i < 100 && (await fetch(`${issuer}/readyz`)).status !== 200; i += 1) await sleep(50);
    expect((await fetch(`${issuer}/readyz`)).status).toBe(200);
  };

  /** A refresh token for alice at the CRM, through the real sign-in and code exchange. */
  async function refreshToken(): Promise<string> {
    const browser = new Browser(issuer);
    const verifier = randomBytes(32).toString('base64url');
    const auth = new URL(`${issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: seed.crm.app.clientId,
      redirect_uri: 'https://crm.test/callback',
      response_type: 'code',
      scope: 'openid offline_access',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    const callback = await authorize(browser, auth.href, aliceLogin);
    const code = new URL(callback.location!).searchParams.get('code')!;
    const res = await form('/token', crmAuth(), { grant_type: 'authorization_code', code, redirect_uri: 'https://crm.test/callback', code_verifier: verifier });
    expect(res.status).toBe(200);
    return ((await res.json()) as { refresh_token: string }).refresh_token;
  }

  it('never lets a write that was answered 503 land after Redis comes back', async () => {
    const token = ((await (await form('/token', robotAuth(), { grant_type: 'client_credentials', scope: 'atrium:admin' })).json()) as { access_token: string }).access_token;
    await crash();
    const created = await fetch(`${issuer}/admin/api/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ code: 'ghost', name: 'Ghost' }),
    });
    expect(created.status).toBe(503);
    await expect(atrium.store.set('ghost:direct', 'written while down')).rejects.toMatchObject({ status: 503 });
    await expect(atrium.directory.tenants.create({ code: 'ghost2', name: 'Ghost 2' })).rejects.toMatchObject({ status: 503 });
    await recover();
    await sleep(300);
    expect(await atrium.store.get('ghost:direct')).toBeUndefined();
    expect(await atrium.directory.tenants.byCode('ghost')).toBeUndefined();
    expect(await atrium.directory.tenants.byCode('ghost2')).toBeUndefined();
    // What was written before the crash is still there (AOF), the bearer token included.
    const list = await fetch(`${issuer}/admin/api/v1/tenants`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    expect(list.status).toBe(200);
  });

  it('loses no handed-out token and resurrects no revoked or consumed one across a crash under load', async () => {
    const chains = await Promise.all(Array.from({ length: 6 }, () => refreshToken()));
    const handedOut = new Set<string>(); // access tokens answered with 200 (robot's)
    const revoked = new Set<string>(); // revocations answered with 200
    const liveRefresh = new Set<string>(); // refresh tokens answered with 200 and not spent since
    const consumed = new Set<string>(); // refresh tokens spent by a refresh answered with 200
    const failures: number[] = [];
    let running = true;

    const issuing = async () => {
      while (running) {
        const res = await form('/token', robotAuth(), { grant_type: 'client_credentials', scope: 'atrium:admin' });
        if (res.status === 200) handedOut.add(((await res.json()) as { access_token: string }).access_token);
        else {
          failures.push(res.status);
          await res.text();
        }
      }
    };
    const revoking = async () => {
      while (running) {
        const token = [...handedOut].find((t) => !revoked.has(t));
        if (!token) {
          await sleep(5);
          continue;
        }
        const res = await form('/token/revocation', robotAuth(), { token, token_type_hint: 'access_token' });
        await res.text();
        if (res.status === 200) revoked.add(token);
        else failures.push(res.status);
      }
    };
    const refreshing = async (first: string) => {
      let current: string | undefined = first;
      liveRefresh.add(first);
      while (running && current) {
        const res = await form('/token', crmAuth(), { grant_type: 'refresh_token', refresh_token: current });
        if (res.status === 200) {
          const next = ((await res.json()) as { refresh_token: string }).refresh_token;
          liveRefresh.delete(current);
          consumed.add(current);
          liveRefresh.add(next);
          current = next;
        } else {
          // The outcome of a failed refresh is unknown (it may have spent the token): this chain
          // asserts nothing more about `current` and stops.
          failures.push(res.status);
          await res.text();
          liveRefresh.delete(current);
          current = undefined;
        }
      }
    };

    const load = Promise.all([issuing(), issuing(), revoking(), ...chains.map((c) => refreshing(c))]);
    await sleep(400);
    await crash();
    await sleep(300);
    await recover();
    await sleep(400);
    running = false;
    await load;

    // Failures were only the outage's 503s, and the load ran on both sides of the crash.
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures)).toEqual(new Set([503]));
    expect(handedOut.size).toBeGreaterThan(20);
    expect(revoked.size).toBeGreaterThan(5);
    expect(consumed.size).toBeGreaterThan(10);

    const active = async (token: string, auth: string): Promise<boolean> => {
      const res = await form('/token/introspection', auth, { token });
      expect(res.status).toBe(200);
      return ((await res.json()) as { active: boolean }).active;
    };
    const states = async (tokens: Iterable<string>, auth: string) => Promise.all([...tokens].map((t) => active(t, auth)));
    expect(await states([...handedOut].filter((t) => !revoked.has(t)), robotAuth())).not.toContain(false);
    expect(await states(revoked, robotAuth())).not.toContain(true);
    expect(await states(liveRefresh, crmAuth())).not.toContain(false);
    expect(await states(consumed, crmAuth())).not.toContain(true);
  });
});

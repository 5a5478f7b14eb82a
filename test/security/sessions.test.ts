/**
 * Sessions and single logout: timeouts, sign-out everywhere, and OpenID back-channel logout tokens
 * delivered (with retries) to every app a session signed into, whichever way the session ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Provider from 'oidc-provider';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { userInfo } from 'node:os';
import { disableUser } from '../../src/admin/users.js';
import { runCli } from '../../src/cli/main.js';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { oidcKeys } from '../../src/oidc/adapter.js';
import { endAccountSessions, listAccountSessions, sessionTtl } from '../../src/oidc/sessions.js';
import { authorize, Browser, hiddenFields } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';

const ADMIN_PASSWORD = 'platform admin password 1';

/** An app's back-channel logout endpoint that records what it receives; it can fail on purpose. */
async function receiver(failFirst = 0): Promise<{ url: string; tokens: string[]; attempts: number; server: Server }> {
  const state = { tokens: [] as string[], attempts: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      state.attempts += 1;
      if (state.attempts <= failFirst) {
        res.statusCode = 500;
        res.end();
        return;
      }
      state.tokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`;
  return Object.assign(state, { url, server, get attempts() { return state.attempts; } });
}

const until = async (condition: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 200; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe('sessions and single logout', () => {
  let t: TestServer;
  let seed: Seed;
  let apps: { clientId: string; secret: string; receiver: Awaited<ReturnType<typeof receiver>> }[];

  beforeAll(async () => {
    t = await startAtrium('redis', (c) => {
      c.allowPrivateFetch = true; // the receivers listen on loopback
    });
    seed = await seedDirectory(t.atrium.directory);
    apps = [];
    for (const [name, failFirst] of [['Mail', 0], ['Drive', 1]] as const) {
      const rx = await receiver(failFirst);
      const { app, clientSecret } = await t.atrium.directory.apps.create({
        name,
        redirectUris: [`https://${name.toLowerCase()}.test/cb`],
        backchannelLogoutUri: rx.url,
        requirePkce: false,
      });
      await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
      apps.push({ clientId: app.clientId, secret: clientSecret!, receiver: rx });
    }
  });
  afterAll(async () => {
    await t.close();
    for (const app of apps) app.receiver.server.close();
  });

  /** A browser signed in to Atrium and, through it, to both apps. */
  async function signedIntoBothApps(login = aliceLogin): Promise<Browser> {
    const browser = new Browser(t.issuer);
    for (const app of apps) {
      const url = `${t.issuer}/auth?${new URLSearchParams({ client_id: app.clientId, response_type: 'code', scope: 'openid', redirect_uri: `https://${app.clientId === apps[0]!.clientId ? 'mail' : 'drive'}.test/cb` })}`;
      const page = await authorize(browser, url, login);
      expect(new URL(page.location!).searchParams.get('code')).toBeTruthy();
    }
    return browser;
  }

  const tokenCounts = () => apps.map((a) => a.receiver.tokens.length);

  it('sends valid logout tokens to both apps after a workbench sign-out, retrying a failed delivery', async () => {
    const before = tokenCounts();
    const browser = await signedIntoBothApps();
    const workbench = await browser.get(`${t.issuer}/`);
    const out = await browser.post(`${t.issuer}/signout`, hiddenFields(workbench.body));
    expect(out.status).toBe(200);
    await until(() => apps.every((a, i) => a.receiver.tokens.length > before[i]!), 'both deliveries');

    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
    for (const app of apps) {
      const { payload } = await jwtVerify(app.receiver.tokens.at(-1)!, jwks, { issuer: t.issuer, audience: app.clientId });
      expect(payload.sub).toBe(seed.alice.id);
      expect(payload.sid).toEqual(expect.any(String));
      expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
      expect(payload.nonce).toBeUndefined();
    }
    // Drive failed once and got it on the retry; both outcomes are in the audit trail.
    expect(apps[1]!.receiver.attempts).toBeGreaterThanOrEqual(2);
    await until(async () => {
      const events = await t.atrium.directory.audit.ofDay(seed.acme.id, new Date().toISOString().slice(0, 10));
      return apps.every((a) => events.some((e) => e.type === 'logout.backchannel' && e.clientId === a.clientId && e.detail?.result === 'delivered'));
    }, 'audit records');
  });

  it.each([
    ['RP-initiated logout (/session/end)', async (browser: Browser) => {
      const confirm = await browser.follow(`${t.issuer}/session/end`);
      await browser.post(`${t.issuer}/session/end/confirm`, { ...hiddenFields(confirm.body), logout: 'yes' });
    }],
    ['the joint-operation logout', async (browser: Browser) => {
      await browser.get(`${t.issuer}/api/v1/logout`);
    }],
  ])('sends logout tokens after %s', async (_how, signOut) => {
    const before = tokenCounts();
    const browser = await signedIntoBothApps();
    await signOut(browser);
    await until(() => apps.every((a, i) => a.receiver.tokens.length > before[i]!), 'both deliveries');
    expect((await browser.get(`${t.issuer}/`)).status).toBe(303);
  });

  it('ends every session of a user who is disabled, and notifies the apps', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'erin', password: PASSWORD });
    const login = { tenant: 'acme', username: 'erin', password: PASSWORD };
    const first = await signedIntoBothApps(login);
    const second = await signedIntoBothApps(login);
    const before = tokenCounts();
    const { sessionsEnded } = await disableUser(t.atrium, user.id, { by: 'test' });
    expect(sessionsEnded).toBe(2);
    await until(() => apps.every((a, i) => a.receiver.tokens.length >= before[i]! + 2), 'deliveries for both sessions');
    expect((await first.get(`${t.issuer}/`)).status).toBe(303);
    expect((await second.get(`${t.issuer}/`)).status).toBe(303);
  });

  it('ends every session of the users of a tenant that is disabled, and notifies the apps', async () => {
    const tenant = await t.atrium.directory.tenants.create({ code: 'closing', name: 'Closing Corp' });
    for (const app of apps) await t.atrium.directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId });
    const users: { id: string; username: string }[] = [];
    for (const username of ['kim', 'lee']) users.push(await t.atrium.directory.users.create(tenant.id, { username, password: PASSWORD }));
    const browsers = [];
    for (const user of users) browsers.push(await signedIntoBothApps({ tenant: 'closing', username: user.username, password: PASSWORD }));
    const before = tokenCounts();

    // The platform admin disables the tenant through the admin API.
    await ensurePlatformAdmin(t.atrium.directory, ADMIN_PASSWORD);
    const admin = new Browser(t.issuer);
    const page = await admin.follow(`${t.issuer}/`);
    await admin.follow((await admin.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), tenant: 'platform', username: 'admin', password: ADMIN_PASSWORD })).location!);
    const { csrf_token: csrf } = JSON.parse((await admin.request(`${t.issuer}/admin/api/v1/session`, { headers: { accept: 'application/json' } })).body) as { csrf_token: string };
    const disabled = await admin.request(`${t.issuer}/admin/api/v1/tenants/${tenant.id}`, {
      method: 'PATCH',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ status: 'disabled' }),
    });
    expect([disabled.status, (JSON.parse(disabled.body) as { status: string }).status]).toEqual([200, 'disabled']);

    // Each app hears of both users' sessions; their sessions and indexes are gone.
    await until(() => apps.every((a, i) => a.receiver.tokens.length >= before[i]! + 2), 'deliveries for both users');
    const subjects = apps.map((a) => a.receiver.tokens.slice(before[apps.indexOf(a)]).map((token) => decodeJwt(token).sub).sort());
    expect(subjects).toEqual(apps.map(() => users.map((u) => u.id).sort()));
    for (const user of users) expect(await t.atrium.store.hgetall(oidcKeys.accountSessions(user.id))).toBeUndefined();
    for (const browser of browsers) expect(browser.cookie('_session') && (await t.atrium.provider.Session.adapter.find(browser.cookie('_session')!))).toBeUndefined();
    const events = await t.atrium.directory.audit.ofDay(tenant.id, new Date().toISOString().slice(0, 10));
    expect(events.find((e) => e.type === 'admin.tenant.update')?.detail?.sessionsEnded).toBe(2);

    // Renaming a disabled tenant ends nothing more.
    const renamed = await admin.request(`${t.issuer}/admin/api/v1/tenants/${tenant.id}`, {
      method: 'PATCH',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ name: 'Closed Corp' }),
    });
    expect(renamed.status).toBe(200);
    const updates = (await t.atrium.directory.audit.ofDay(tenant.id, new Date().toISOString().slice(0, 10))).filter((e) => e.type === 'admin.tenant.update');
    expect(updates.map((e) => e.detail?.sessionsEnded)).toEqual([2, undefined]);
  });

  it('ends the sessions of a tenant disabled with `atrium tenant disable` too, as the CLI’s user', async () => {
    const tenant = await t.atrium.directory.tenants.create({ code: 'winding', name: 'Winding Corp' });
    for (const app of apps) await t.atrium.directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId });
    const user = await t.atrium.directory.users.create(tenant.id, { username: 'max', password: PASSWORD });
    const login = { tenant: 'winding', username: 'max', password: PASSWORD };
    const browser = await signedIntoBothApps(login);
    const before = tokenCounts();

    // The command line runs with the server's configuration: its issuer and its store.
    const store = t.atrium.config.store as { driver: 'redis'; url: string; keyPrefix: string };
    const env = { ATRIUM_ISSUER: t.issuer, ATRIUM_REDIS_URL: store.url, ATRIUM_REDIS_PREFIX: store.keyPrefix, ATRIUM_ALLOW_PRIVATE_FETCH: 'true' };
    let out = '';
    let err = '';
    const run = (args: string[]) => runCli([...args, '--json'], env, { stdin: async () => '', out: (l) => (out = l), err: (l) => (err += l) });
    expect([await run(['tenant', 'disable', '--code', 'winding']), err]).toEqual([0, '']);
    expect(JSON.parse(out)).toEqual({ id: tenant.id, code: 'winding', status: 'disabled', sessions_ended: 1 });
    // The CLI waited for the first delivery attempts before it exited.
    expect(apps.map((a, i) => a.receiver.attempts >= 1 && a.receiver.tokens.length - before[i]! <= 1)).toEqual([true, true]);
    await until(() => apps.every((a, i) => a.receiver.tokens.length >= before[i]! + 1), 'deliveries for the session');
    expect(apps.map((a, i) => decodeJwt(a.receiver.tokens[before[i]!]!).sub)).toEqual([user.id, user.id]);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(303);
    const refused = await authorize(new Browser(t.issuer), `${t.issuer}/auth?${new URLSearchParams({ client_id: apps[0]!.clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://mail.test/cb' })}`, login);
    expect([refused.status, refused.location]).toEqual([401, undefined]);

    expect([await run(['tenant', 'enable', '--code', 'winding']), err]).toEqual([0, '']);
    expect(JSON.parse(out)).toEqual({ id: tenant.id, code: 'winding', status: 'active' });
    await signedIntoBothApps(login);
    const updates = (await t.atrium.directory.audit.ofDay(tenant.id, new Date().toISOString().slice(0, 10))).filter((e) => e.type === 'admin.tenant.update');
    expect(updates.map((e) => [e.detail?.by, JSON.parse(String(e.detail?.after)).status, e.detail?.sessionsEnded])).toEqual([
      [`cli:${userInfo().username}`, 'disabled', 1],
      [`cli:${userInfo().username}`, 'active', undefined],
    ]);
  });

  it('drops sessions that ended on their own from the account’s index when they are listed', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'ivy', password: PASSWORD });
    const login = { tenant: 'acme', username: 'ivy', password: PASSWORD };
    const browsers = [await signedIntoBothApps(login), await signedIntoBothApps(login)];
    const index = oidcKeys.accountSessions(user.id);
    expect(Object.keys((await t.atrium.store.hgetall(index)) ?? {})).toHaveLength(2);
    // One idles out: its record and uid key expire; the account's index still names it.
    const gone = browsers[0]!.cookie('_session')!;
    const { uid } = (await t.atrium.provider.Session.adapter.find(gone))!;
    await t.atrium.store.del(oidcKeys.record('Session', gone), oidcKeys.sessionUid(String(uid)));
    expect(await listAccountSessions(t.atrium.provider, t.atrium.store, user.id)).toHaveLength(1);
    expect(Object.keys((await t.atrium.store.hgetall(index)) ?? {})).toHaveLength(1);
  });

  it('signs out everywhere: the account’s other browsers are signed out too', async () => {
    const here = new Browser(t.issuer);
    const there = new Browser(t.issuer);
    for (const browser of [here, there]) {
      const page = await browser.follow(`${t.issuer}/`);
      await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), ...aliceLogin })).location!);
      expect((await browser.get(`${t.issuer}/`)).status).toBe(200);
    }
    const workbench = await here.get(`${t.issuer}/`);
    await here.post(`${t.issuer}/signout`, { ...hiddenFields(workbench.body), everywhere: 'yes' });
    expect((await there.get(`${t.issuer}/`)).status).toBe(303);
  });

  /** A browser signed in to the workbench as `login`. */
  async function workbenchSignIn(login: { tenant: string; username: string; password: string }): Promise<Browser> {
    const browser = new Browser(t.issuer);
    const page = await browser.follow(`${t.issuer}/`);
    await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), ...login })).location!);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(200);
    return browser;
  }
  const sessionUid = async (browser: Browser) => String((await t.atrium.provider.Session.adapter.find(browser.cookie('_session')!))!.uid);

  it('keeps in the account’s index a session signed in while the account signed out everywhere', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'jude', password: PASSWORD });
    const login = { tenant: 'acme', username: 'jude', password: PASSWORD };
    const before = [await workbenchSignIn(login), await workbenchSignIn(login)];
    const index = oidcKeys.accountSessions(user.id);
    // A sign-in completes right after the sign-out everywhere read the account's sessions.
    let during: Browser | undefined;
    const racing = new Proxy(t.atrium.store, {
      get(target, property, receiver) {
        if (property !== 'hgetall') return Reflect.get(target, property, receiver) as unknown;
        return async (key: string) => {
          const read = await target.hgetall(key);
          if (key === index && !during) during = await workbenchSignIn(login);
          return read;
        };
      },
    });
    expect(await endAccountSessions(t.atrium.provider, t.atrium.backchannel, racing, user.id)).toBe(2);
    for (const browser of before) expect((await browser.get(`${t.issuer}/`)).status).toBe(303);
    expect(Object.keys((await t.atrium.store.hgetall(index)) ?? {})).toEqual([await sessionUid(during!)]);
    expect(await listAccountSessions(t.atrium.provider, t.atrium.store, user.id)).toHaveLength(1);
    // So the next sign-out everywhere ends it.
    expect(await endAccountSessions(t.atrium.provider, t.atrium.backchannel, t.atrium.store, user.id)).toBe(1);
    expect((await during!.get(`${t.issuer}/`)).status).toBe(303);
  });

  it('keeps in the account’s index a session whose lookup for a listing raced a change of its id', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'kit', password: PASSWORD });
    const browser = await workbenchSignIn({ tenant: 'acme', username: 'kit', password: PASSWORD });
    const index = oidcKeys.accountSessions(user.id);
    // The lookup read the uid index just before a sign-in moved the session to a new id: it found nothing.
    const racing = { Session: { findByUid: async () => undefined } } as unknown as Provider;
    expect(await listAccountSessions(racing, t.atrium.store, user.id)).toEqual([]);
    expect(Object.keys((await t.atrium.store.hgetall(index)) ?? {})).toEqual([await sessionUid(browser)]);
    expect(await listAccountSessions(t.atrium.provider, t.atrium.store, user.id)).toHaveLength(1);
  });

  it('keeps a session for the idle timeout, extended by activity, never past the absolute one', async () => {
    const ttl = sessionTtl({ idleSeconds: 1800, absoluteSeconds: 43_200 });
    const now = Math.floor(Date.now() / 1000);
    expect(ttl(undefined, { loginTs: now })).toBe(1800);
    expect(ttl(undefined, { loginTs: now - 43_200 + 600 })).toBe(600);
    expect(ttl(undefined, { loginTs: now - 50_000 })).toBe(1);

    const browser = new Browser(t.issuer);
    const page = await browser.follow(`${t.issuer}/`);
    await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), ...aliceLogin })).location!);
    const sessionId = browser.cookie('_session')!;
    const stored = await t.atrium.store.ttl(oidcKeys.record('Session', sessionId));
    expect(stored).toBeGreaterThan(1790);
    expect(stored).toBeLessThanOrEqual(1800);
    const adapter = t.atrium.provider.Session.adapter;
    const payload = (await adapter.find(sessionId))!;
    const idleFor = async (seconds: number) => {
      const left = 1800 - seconds;
      await adapter.upsert(sessionId, { ...payload, exp: Math.floor(Date.now() / 1000) + left }, left);
    };
    // Activity within a minute of the last save writes nothing.
    await idleFor(30);
    await browser.get(`${t.issuer}/`);
    expect(browser.cookie('_session')).toBe(sessionId);
    expect(await t.atrium.store.ttl(oidcKeys.record('Session', sessionId))).toBeLessThanOrEqual(1770);
    // As if idle for a while: the session has 100 s left.
    await idleFor(1700);
    await browser.get(`${t.issuer}/`); // activity
    expect(await t.atrium.store.ttl(oidcKeys.record('Session', browser.cookie('_session')!))).toBeGreaterThan(1790);
  });

  it('never lets a disabled user’s refresh token work again', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'frank', password: PASSWORD });
    const config = await oidc.discovery(new URL(t.issuer), apps[0]!.clientId, apps[0]!.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const page = await authorize(new Browser(t.issuer), `${t.issuer}/auth?${new URLSearchParams({ client_id: apps[0]!.clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://mail.test/cb', state: 's' })}`, { tenant: 'acme', username: 'frank', password: PASSWORD });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.location!), { expectedState: 's' });
    await disableUser(t.atrium, user.id, { by: 'test' });
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  /** Signs `login` in to the first app in `browser`; the app's tokens. */
  async function appTokens(browser: Browser, login: { tenant: string; username: string; password: string }) {
    const config = await oidc.discovery(new URL(t.issuer), apps[0]!.clientId, apps[0]!.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const page = await authorize(browser, `${t.issuer}/auth?${new URLSearchParams({ client_id: apps[0]!.clientId, response_type: 'code', scope: 'openid get_user_info', redirect_uri: 'https://mail.test/cb', state: 's' })}`, login);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.location!), { expectedState: 's' });
    const active = async (token: string) => (await oidc.tokenIntrospection(config, token)).active;
    const joUserinfo = async () => (await fetch(`${t.issuer}/api/v1/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status;
    return { config, tokens, active, joUserinfo };
  }

  it('voids a disabled user’s tokens, also from sessions already over, and they stay void once the user is enabled again', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'gina', password: PASSWORD });
    const login = { tenant: 'acme', username: 'gina', password: PASSWORD };
    const browser = new Browser(t.issuer);
    const old = await appTokens(browser, login);
    expect(await old.active(old.tokens.refresh_token!)).toBe(true);
    // The session idles out: nothing is left to end, and the app keeps its tokens.
    await t.atrium.provider.Session.adapter.destroy(browser.cookie('_session')!);
    const { sessionsEnded } = await disableUser(t.atrium, user.id, { by: 'test' });
    expect(sessionsEnded).toBe(0);
    expect(await old.active(old.tokens.access_token)).toBe(false);
    expect(await old.active(old.tokens.refresh_token!)).toBe(false);

    await t.atrium.directory.users.update(user.id, { status: 'active' });
    expect(await old.active(old.tokens.access_token)).toBe(false);
    expect(await old.active(old.tokens.refresh_token!)).toBe(false);
    await expect(oidc.refreshTokenGrant(old.config, old.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(old.config, old.tokens.access_token, oidc.skipSubjectCheck)).rejects.toBeDefined();
    expect(await old.joUserinfo()).toBe(401);

    // Signed in again, the user's new tokens work.
    const fresh = await appTokens(new Browser(t.issuer), login);
    expect(await fresh.active(fresh.tokens.refresh_token!)).toBe(true);
    expect(await fresh.joUserinfo()).toBe(200);
    expect((await oidc.refreshTokenGrant(fresh.config, fresh.tokens.refresh_token!)).access_token).toEqual(expect.any(String));
  });

  it('asks a browser whose tenant was disabled to sign in again (no error page), and keeps its session and tokens void once the tenant is enabled again', async () => {
    const tenant = await t.atrium.directory.tenants.create({ code: 'paused', name: 'Paused' });
    await t.atrium.directory.users.create(tenant.id, { username: 'hal', password: PASSWORD });
    await t.atrium.directory.assignments.assign({ tenantId: tenant.id, clientId: apps[0]!.clientId });
    const login = { tenant: 'paused', username: 'hal', password: PASSWORD };
    const browser = new Browser(t.issuer);
    const old = await appTokens(browser, login);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(200);

    const signInAgain = async () => {
      for (const start of [`${t.issuer}/`, `${t.issuer}/auth?${new URLSearchParams({ client_id: apps[0]!.clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://mail.test/cb' })}`]) {
        const page = await browser.follow(start);
        expect(page.status, start).toBe(200);
        expect(page.url, start).toContain('/interaction/');
        expect(page.body, start).toContain('name="password"');
      }
    };
    await t.atrium.directory.tenants.setStatus(tenant.id, 'disabled');
    await signInAgain();
    expect(await old.active(old.tokens.refresh_token!)).toBe(false);
    expect(await old.joUserinfo()).toBe(401);

    await t.atrium.directory.tenants.setStatus(tenant.id, 'active');
    await signInAgain();
    expect(await old.active(old.tokens.access_token)).toBe(false);
    await expect(oidc.refreshTokenGrant(old.config, old.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await old.joUserinfo()).toBe(401);

    // The same browser signs in again and is back on its workbench, with working tokens.
    const fresh = await appTokens(browser, login);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(200);
    expect(await fresh.active(fresh.tokens.refresh_token!)).toBe(true);
    expect(await fresh.joUserinfo()).toBe(200);
  });
});

describe('the absolute session timeout', () => {
  let t: TestServer;
  let clientId: string;
  beforeAll(async () => {
    t = await startAtrium('redis', (c) => {
      c.session = { idleSeconds: 2, absoluteSeconds: 2 };
    });
    const seed = await seedDirectory(t.atrium.directory);
    const { app } = await t.atrium.directory.apps.create({ name: 'Wiki', redirectUris: ['https://wiki.test/cb'], requirePkce: false });
    await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
    clientId = app.clientId;
  });
  afterAll(() => t.close());

  it('is not outlived by a browser that keeps the session busy: past it, the session signs nobody in', async () => {
    const auth = (extra: Record<string, string> = {}) =>
      `${t.issuer}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://wiki.test/cb', ...extra })}`;
    const browser = new Browser(t.issuer);
    expect(new URL((await authorize(browser, auth(), aliceLogin)).location!).searchParams.get('code')).toBeTruthy();
    const { loginTs } = (await t.atrium.provider.Session.adapter.find(browser.cookie('_session')!)) as { loginTs: number };
    // Silent authorizations several times a second, each saving the session, until well past the limit.
    const answers: { at: number; params: URLSearchParams }[] = [];
    while (Date.now() / 1000 < loginTs + 3.5) {
      const page = await browser.get(auth({ prompt: 'none' }));
      answers.push({ at: Date.now() / 1000, params: new URL(page.location!).searchParams });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const before = answers.filter((a) => a.at < loginTs + 1.5);
    const after = answers.filter((a) => a.at >= loginTs + 2.2);
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((a) => a.params.has('code'))).toBe(true);
    expect(after.length).toBeGreaterThan(0);
    expect(after.map((a) => a.params.get('error'))).toEqual(after.map(() => 'login_required'));
    // An interactive request shows the login page; the workbench asks to sign in.
    const page = await browser.follow(auth());
    expect([page.status, page.url.includes('/interaction/'), page.body.includes('name="password"')]).toEqual([200, true, true]);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(303);
  });
});

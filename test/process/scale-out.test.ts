/**
 * Scaling out: two independent Atrium processes on different ports share one Redis and behave as
 * one server. Sign in on A, workbench on B, the code A issued redeemed at B, refresh at A, sign-out
 * at B ends the session A sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { authorize, Browser, hiddenFields } from '../helpers/browser.js';
import { aliceLogin, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startProcess, type AtriumProcess } from '../helpers/processes.js';
import { freePort } from '../helpers/redis-servers.js';
import { testStoreConfig } from '../helpers/stores.js';
import { createStore } from '../../src/store/index.js';
import { createDirectory } from '../../src/directory/index.js';
import type { Store } from '../../src/store/store.js';

describe('two Atrium processes on one Redis', () => {
  const { config, cleanup } = testStoreConfig('redis');
  let store: Store;
  let directory: ReturnType<typeof createDirectory>;
  let seed: Seed;
  let a: AtriumProcess;
  let b: AtriumProcess;

  beforeAll(async () => {
    if (config.driver !== 'redis') throw new Error('needs the redis driver');
    store = await createStore(config);
    directory = createDirectory(store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
    seed = await seedDirectory(directory);
    // One issuer for both, as behind a load balancer; each process listens on its own port.
    const portA = await freePort();
    const env = { ATRIUM_REDIS_URL: config.url, ATRIUM_REDIS_PREFIX: config.keyPrefix, ATRIUM_ISSUER: `http://127.0.0.1:${portA}`, ATRIUM_ADMIN_PASSWORD: 'a long admin password' };
    [a, b] = await Promise.all([startProcess(env, { port: portA }), startProcess(env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await store?.close();
    await cleanup();
  });

  const basic = () => `Basic ${Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64')}`;
  const token = (base: string, form: Record<string, string>) =>
    fetch(`${base}/token`, { method: 'POST', headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  const userinfo = (base: string, accessToken: string) => fetch(`${base}/me`, { headers: { authorization: `Bearer ${accessToken}` } });

  it('runs the whole flow across both processes', async () => {
    const browser = new Browser(a.base, [b.base]);
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirectUri = 'https://crm.test/callback';
    const auth = new URL(`${a.base}/auth`);
    auth.search = new URLSearchParams({ client_id: seed.crm.app.clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid offline_access', state: 's1', code_challenge: challenge, code_challenge_method: 'S256' }).toString();

    // Sign in on A.
    const callback = await authorize(browser, auth.href, aliceLogin);
    const code = new URL(callback.location!).searchParams.get('code');
    expect(code).toBeTruthy();

    // The workbench on B knows the session A created.
    const workbench = await browser.get(`${b.base}/`);
    expect(workbench.status).toBe(200);
    expect(workbench.body).toContain('Alice Liddell');
    expect(workbench.body).toContain('CRM');

    // The code A issued is redeemed at B.
    const exchanged = await token(b.base, { grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: verifier });
    expect(exchanged.status).toBe(200);
    const tokens = (await exchanged.json()) as { access_token: string; refresh_token: string };
    expect((await userinfo(a.base, tokens.access_token)).status).toBe(200);

    // Refresh at A; B sees the rotation (the old refresh token is spent everywhere).
    const refreshed = await token(a.base, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    const rotated = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect(((await (await userinfo(b.base, rotated.access_token)).json()) as { sub: string }).sub).toBe(seed.alice.id);

    // Sign out at B: the session A sees is gone, and what it issued is revoked.
    const signout = await browser.post(`${b.base}/signout`, hiddenFields(workbench.body));
    expect(signout.status).toBe(200);
    const afterOnA = await browser.follow(`${a.base}/`);
    expect(afterOnA.status).toBe(200);
    expect(afterOnA.url).toContain('/interaction/');
    expect(afterOnA.body).toContain('name="password"');
    const silent = new URL(auth);
    silent.searchParams.set('prompt', 'none');
    const denied = await browser.follow(silent.href);
    expect(new URL(denied.location!).searchParams.get('error')).toBe('login_required');
    expect((await userinfo(a.base, rotated.access_token)).status).toBe(401);
    // And the code B redeemed stays spent at A.
    const replay = await token(a.base, { grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: verifier });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('applies a directory change made elsewhere at once, though each process caches records', async () => {
    const signIn = async () => {
      const verifier = randomBytes(32).toString('base64url');
      const auth = new URL(`${a.base}/auth`);
      auth.search = new URLSearchParams({ client_id: seed.crm.app.clientId, redirect_uri: 'https://crm.test/callback', response_type: 'code', scope: 'openid offline_access', state: 's2', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }).toString();
      const callback = await authorize(new Browser(a.base), auth.href, aliceLogin);
      const code = new URL(callback.location!).searchParams.get('code')!;
      return (await (await token(a.base, { grant_type: 'authorization_code', code, redirect_uri: 'https://crm.test/callback', code_verifier: verifier })).json()) as { access_token: string; refresh_token: string };
    };
    const tokens = await signIn();
    // A has read (and cached) the app, Alice, her tenant and the assignment.
    expect((await userinfo(a.base, tokens.access_token)).status).toBe(200);
    expect((await userinfo(a.base, tokens.access_token)).status).toBe(200);

    // Another process (this test's own directory) disables Alice: A refuses her next request.
    await directory.users.update(seed.alice.id, { status: 'disabled' });
    expect((await userinfo(a.base, tokens.access_token)).status).toBe(401);
    expect((await token(a.base, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).status).toBe(400);

    // Enabled again: what she had before stays void, at B too; she signs in again.
    await directory.users.update(seed.alice.id, { status: 'active' });
    expect((await userinfo(a.base, tokens.access_token)).status).toBe(401);
    expect((await userinfo(b.base, tokens.access_token)).status).toBe(401);
    const fresh = await signIn();
    expect((await userinfo(a.base, fresh.access_token)).status).toBe(200);
    expect((await userinfo(b.base, fresh.access_token)).status).toBe(200);
    // The app withdrawn from her tenant: refused at once, at both.
    await directory.assignments.unassign(seed.acme.id, seed.crm.app.clientId);
    expect((await userinfo(a.base, fresh.access_token)).status).toBe(401);
    expect((await userinfo(b.base, fresh.access_token)).status).toBe(401);
  });
});

/**
 * The joint-operation dialect, written from ../shared/huawei-joint-operation.md alone and spoken in
 * plain HTTP, as a marketplace SaaS app speaks it (no OIDC library).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize, Browser, submitForm } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const CALLBACK = 'https://legacy.test/callback';
const UNAUTHORIZED = { error: 'unauthorized', error_description: 'Full authentication is required to access this resource' };

interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token: string;
  id_token?: string;
}

describe.each(DRIVERS)('joint-operation dialect on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let api: string;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    api = `${t.issuer}/api/v1`;
  });
  afterAll(() => t.close());

  const authorizeUrl = (params: Record<string, string>) => `${api}/oauth2/authorize?${new URLSearchParams(params)}`;

  /** The browser part: the workbench user signs in and lands on the app's callback. */
  async function callback(params: Record<string, string> = {}, browser = new Browser(t.issuer), login = aliceLogin): Promise<URL> {
    const page = await authorize(browser, authorizeUrl({ client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, response_type: 'code', ...params }), login);
    return new URL(page.location!);
  }

  const post = async (path: string, form: Record<string, string>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
      body: new URLSearchParams(form),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const credentials = () => ({ client_id: seed.legacy.app.clientId, client_secret: seed.legacy.clientSecret! });
  const exchange = (code: string, extra: Record<string, string> = {}) => post('/oauth2/token', { ...credentials(), grant_type: 'authorization_code', code, ...extra });
  const refresh = (refreshToken: string) => post('/oauth2/token', { ...credentials(), grant_type: 'refresh_token', refresh_token: refreshToken });
  const userinfo = async (token?: string) => {
    const res = await fetch(`${api}/oauth2/userinfo`, { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const tokens = async (params: Record<string, string> = {}): Promise<TokenAnswer> => {
    const code = (await callback(params)).searchParams.get('code')!;
    const answer = await exchange(code);
    expect(answer.status).toBe(200);
    return answer.body as unknown as TokenAnswer;
  };

  describe('GET /api/v1/oauth2/authorize', () => {
    it('requires PKCE from an app that has not been marked as a legacy one', async () => {
      const page = await authorize(
        new Browser(t.issuer),
        authorizeUrl({ client_id: seed.crm.app.clientId, redirect_uri: 'https://crm.test/callback', response_type: 'code', state: 's' }),
        aliceLogin,
      );
      const url = new URL(page.location!);
      expect(url.searchParams.get('error')).toBe('invalid_request');
      expect(url.searchParams.get('code')).toBeNull();
    });

    it('goes through the login page to callback?code=…&state=…&tenant=…', async () => {
      const browser = new Browser(t.issuer);
      const login = await browser.follow(authorizeUrl({ client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, response_type: 'code', state: 'abc123' }));
      expect(login.status).toBe(200);
      expect(login.body).toContain('name="password"');
      const url = await callback({ state: 'abc123' }, browser);
      expect(url.origin + url.pathname).toBe(CALLBACK);
      expect(url.searchParams.get('code')).toBeTruthy();
      expect(url.searchParams.get('state')).toBe('abc123');
      expect(url.searchParams.get('tenant')).toBe(seed.acme.id);
    });

    it('answers with 302, as the contract says: to the login page, after sign-in at the callback, at once when signed in', async () => {
      const browser = new Browser(t.issuer);
      const params = { client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, response_type: 'code', state: 'st' };
      const toLogin = await browser.get(authorizeUrl(params));
      expect(toLogin.status).toBe(302);
      const login = await browser.follow(toLogin.location!);
      expect(login.body).toContain('name="password"');
      // The sign-in form's POST keeps its 303: the browser goes on with a GET.
      const signedIn = await submitForm(browser, login, aliceLogin);
      expect(signedIn.status).toBe(303);
      const resumed = await browser.get(signedIn.location!);
      expect(resumed.status).toBe(302);
      const landed = new URL(resumed.location!);
      expect(landed.origin + landed.pathname).toBe(CALLBACK);
      expect(landed.searchParams.get('code')).toBeTruthy();
      expect(landed.searchParams.get('tenant')).toBe(seed.acme.id);

      // The workbench flow: the user, signed in, clicks the app.
      const again = await browser.get(authorizeUrl(params));
      expect(again.status).toBe(302);
      const at = new URL(again.location!);
      expect(at.origin + at.pathname).toBe(CALLBACK);
      expect(at.searchParams.get('code')).toBeTruthy();
      expect(at.searchParams.get('state')).toBe('st');
      expect(at.searchParams.get('tenant')).toBe(seed.acme.id);
    });

    it('sends no state back when none was sent', async () => {
      const url = await callback();
      expect(url.searchParams.has('state')).toBe(false);
      expect(url.searchParams.get('tenant')).toBe(seed.acme.id);
    });

    it('answers an already signed-in user at once', async () => {
      const browser = new Browser(t.issuer);
      await callback({}, browser);
      const again = await browser.follow(authorizeUrl({ client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, response_type: 'code', state: 'x' }));
      expect(new URL(again.location!).searchParams.get('code')).toBeTruthy();
    });

    it('accepts a missing redirect_uri when the app has a single callback', async () => {
      const page = await authorize(new Browser(t.issuer), authorizeUrl({ client_id: seed.legacy.app.clientId, response_type: 'code' }), aliceLogin);
      expect(page.location!.startsWith(`${CALLBACK}?`)).toBe(true);
    });

    it('never redirects to an unregistered callback', async () => {
      const page = await new Browser(t.issuer).follow(authorizeUrl({ client_id: seed.legacy.app.clientId, redirect_uri: 'https://evil.test/cb', response_type: 'code' }));
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
    });

    it('answers a missing or unsupported response_type with an error at the callback, never a code', async () => {
      for (const params of [{}, { response_type: 'token' }] as Record<string, string>[]) {
        const answer = await new Browser(t.issuer).follow(authorizeUrl({ client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, state: 's2', ...params }));
        const url = new URL(answer.location!);
        expect(url.origin + url.pathname).toBe(CALLBACK);
        // A token response type's error goes in the fragment, as that response type would.
        const said = url.search ? url.searchParams : new URLSearchParams(url.hash.slice(1));
        expect(said.get('error')).toBe('response_type' in params ? 'unsupported_response_type' : 'invalid_request');
        expect(said.get('state')).toBe('s2');
        expect(said.get('code')).toBeNull();
      }
    });

    it('gives an unassigned app access_denied, never a code', async () => {
      const { app } = await t.atrium.directory.apps.create({ name: 'Not ours', redirectUris: ['https://notours.test/cb'], requirePkce: false });
      const page = await authorize(
        new Browser(t.issuer),
        authorizeUrl({ client_id: app.clientId, redirect_uri: 'https://notours.test/cb', response_type: 'code', state: 's1' }),
        aliceLogin,
      );
      const url = new URL(page.location!);
      expect(url.searchParams.get('error')).toBe('access_denied');
      expect(url.searchParams.get('code')).toBeNull();
    });
  });

  describe('POST /api/v1/oauth2/token', () => {
    it('answers a request that is not a form, or lacks a required field, with a 4xx error and never tokens', async () => {
      const code = (await callback()).searchParams.get('code')!;
      const json = await fetch(`${api}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...credentials(), grant_type: 'authorization_code', code }),
      });
      expect(json.status).toBe(400);
      expect(await json.json()).toMatchObject({ error: 'invalid_request' });
      const full = { ...credentials(), grant_type: 'authorization_code', code };
      for (const missing of ['client_id', 'client_secret', 'grant_type', 'code'] as const) {
        const form: Record<string, string> = { ...full };
        delete form[missing];
        const answer = await post('/oauth2/token', form);
        expect(answer.status, missing).toBeGreaterThanOrEqual(400);
        expect(answer.status, missing).toBeLessThan(500);
        expect(answer.body.error, missing).toMatch(/^invalid_(request|client|grant)$/);
        expect(answer.body, missing).not.toHaveProperty('access_token');
      }
      const refreshWithout = await post('/oauth2/token', { ...credentials(), grant_type: 'refresh_token' });
      expect(refreshWithout).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
      // The code survived all of that.
      expect((await exchange(code)).status).toBe(200);
    });

    it('checks a redirect_uri sent at the token endpoint against the one implied at authorize', async () => {
      const implied = async () => new URL((await authorize(new Browser(t.issuer), authorizeUrl({ client_id: seed.legacy.app.clientId, response_type: 'code' }), aliceLogin)).location!).searchParams.get('code')!;
      expect((await exchange(await implied(), { redirect_uri: CALLBACK })).status).toBe(200);
      expect(await exchange(await implied(), { redirect_uri: 'https://legacy.test/other' })).toEqual({
        status: 400,
        body: { error: 'invalid_grant', error_description: 'Invalid authorization code' },
      });
    });

    it('exchanges a code for exactly access_token, token_type, expires_in, scope and refresh_token', async () => {
      const code = (await callback()).searchParams.get('code')!;
      const answer = await exchange(code);
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
      expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: 7200, scope: 'get_user_info' });
      expect(answer.body.access_token).toEqual(expect.any(String));
      expect(answer.body.refresh_token).toEqual(expect.any(String));
    });

    it('accepts the client credentials in HTTP Basic too', async () => {
      const code = (await callback()).searchParams.get('code')!;
      const basic = Buffer.from(`${seed.legacy.app.clientId}:${seed.legacy.clientSecret}`).toString('base64');
      const answer = await post('/oauth2/token', { grant_type: 'authorization_code', code }, { authorization: `Basic ${basic}` });
      expect(answer.status).toBe(200);
      expect(answer.body.scope).toBe('get_user_info');
    });

    it('checks redirect_uri when it is sent', async () => {
      const code = (await callback()).searchParams.get('code')!;
      const wrong = await exchange(code, { redirect_uri: 'https://legacy.test/other' });
      expect(wrong).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid authorization code' } });
      const code2 = (await callback()).searchParams.get('code')!;
      expect((await exchange(code2, { redirect_uri: CALLBACK })).status).toBe(200);
    });

    it('uses a code once: a second exchange is invalid_grant', async () => {
      const code = (await callback()).searchParams.get('code')!;
      expect((await exchange(code)).status).toBe(200);
      expect(await exchange(code)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid authorization code' } });
    });

    it('answers an unknown code with the documented error', async () => {
      expect(await exchange('no-such-code')).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid authorization code' } });
    });

    it('refreshes with a new refresh token; an old one reused revokes the grant', async () => {
      const first = await tokens();
      const second = await refresh(first.refresh_token);
      expect(second.status).toBe(200);
      expect(Object.keys(second.body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
      expect(second.body).toMatchObject({ token_type: 'Bearer', expires_in: 7200, scope: 'get_user_info' });
      expect(second.body.refresh_token).not.toBe(first.refresh_token);

      expect(await refresh(first.refresh_token)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh token' } });
      expect((await refresh(second.body.refresh_token as string)).status).toBe(400);
      expect((await userinfo(second.body.access_token as string)).status).toBe(401);
    });

    it('lets at most one of parallel refreshes with one token succeed, and answers the rest with the documented error', async () => {
      const { refresh_token } = await tokens();
      const results = await Promise.all(Array.from({ length: 8 }, () => refresh(refresh_token)));
      const losers = results.filter((r) => r.status !== 200);
      expect(losers.length).toBeGreaterThanOrEqual(7);
      for (const loser of losers) expect(loser).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh token' } });
    });

    it('answers an unknown refresh token with the documented error', async () => {
      expect(await refresh('no-such-token')).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh token' } });
    });

    it('answers bad client credentials with invalid_client: 400 for the form’s, 401 with a challenge for HTTP Basic', async () => {
      const code = (await callback()).searchParams.get('code')!;
      const answer = await post('/oauth2/token', { client_id: seed.legacy.app.clientId, client_secret: 'wrong', grant_type: 'authorization_code', code });
      expect(answer).toEqual({ status: 400, body: { error: 'invalid_client', error_description: 'Bad client credentials' } });
      const unknown = await post('/oauth2/token', { client_id: 'nobody', client_secret: 'x', grant_type: 'authorization_code', code });
      expect(unknown).toEqual({ status: 400, body: { error: 'invalid_client', error_description: 'Bad client credentials' } });
      const basic = await fetch(`${api}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${seed.legacy.app.clientId}:wrong`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code }),
      });
      expect(basic.status).toBe(401);
      expect(basic.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect(await basic.json()).toEqual({ error: 'invalid_client', error_description: 'Bad client credentials' });
      // None of these spent the code.
      expect((await exchange(code)).status).toBe(200);
    });

    it('answers other grant types with unsupported_grant_type', async () => {
      const answer = await post('/oauth2/token', { ...credentials(), grant_type: 'password', username: 'alice', password: PASSWORD });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('unsupported_grant_type');
    });

    it('answers scope=openid with get_user_info as well, and the ID token the app asked for', async () => {
      // OneAccess apps send scope=openid and then read the user at the dialect's userinfo.
      const answer = await tokens({ scope: 'openid' });
      expect(answer.scope).toBe('openid get_user_info');
      expect(answer.id_token).toEqual(expect.any(String));
      const claims = JSON.parse(Buffer.from(answer.id_token!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(claims.sub).toBe(seed.alice.id);
      expect(claims.tenant_id).toBe(seed.acme.id);
      expect((await userinfo(answer.access_token)).body).toMatchObject({ userName: 'alice', name: 'Alice Liddell', email: 'alice@acme.test', mobile: '+86 138 0000 0000', role: 'user', accName: 'alice', loginName: 'alice' });
    });

    it.each([
      ['profile', 'profile get_user_info'],
      ['email', 'email get_user_info'],
      ['foo', 'get_user_info'],
    ])('answers scope=%s with get_user_info as well, and no ID token the app did not ask for', async (scope, shown) => {
      const answer = await tokens({ scope });
      expect(answer.scope).toBe(shown);
      expect(answer).not.toHaveProperty('id_token');
      expect((await userinfo(answer.access_token)).body).toMatchObject({ userName: 'alice', name: 'Alice Liddell', email: 'alice@acme.test', mobile: '+86 138 0000 0000', role: 'user', accName: 'alice', loginName: 'alice' });
      expect((await refresh(answer.refresh_token)).body).toMatchObject({ scope: shown });
    });

    it('issues an ID token with the app’s nonce when it asked for openid and get_user_info, also on refresh', async () => {
      const decode = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      const answer = await tokens({ scope: 'openid get_user_info', nonce: 'n-0S6_WzA2Mj' });
      expect(answer.scope).toBe('openid get_user_info');
      expect(decode(answer.id_token!)).toMatchObject({ sub: seed.alice.id, nonce: 'n-0S6_WzA2Mj' });
      expect((await userinfo(answer.access_token)).body.userName).toBe('alice');
      const refreshed = (await refresh(answer.refresh_token!)).body as unknown as TokenAnswer;
      expect(refreshed.scope).toBe('openid get_user_info');
      expect(decode(refreshed.id_token!).sub).toBe(seed.alice.id);
      // Without a nonce of its own, the app's ID token has none.
      const plain = await tokens({ scope: 'openid get_user_info' });
      expect(decode(plain.id_token!).nonce).toBeUndefined();
    });

    it('answers get_user_info alone, and a workbench launch, without an ID token, also on refresh', async () => {
      const asked = await tokens({ scope: 'get_user_info', nonce: 'ignored' });
      expect(asked.scope).toBe('get_user_info');
      expect(asked.id_token).toBeUndefined();
      expect((await refresh(asked.refresh_token!)).body).not.toHaveProperty('id_token');

      const browser = new Browser(t.issuer);
      await callback({}, browser);
      const launch = await browser.get(`${t.issuer}/launch/${seed.legacy.app.clientId}`);
      const landed = new URL((await browser.follow(launch.location!)).location!);
      expect(landed.origin + landed.pathname).toBe(CALLBACK);
      const launched = await exchange(landed.searchParams.get('code')!);
      expect(launched.status).toBe(200);
      expect(Object.keys(launched.body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
      expect(launched.body.scope).toBe('get_user_info');

      // Also a kit app registered as apps are by default (PKCE required of its own requests).
      const crmLanding = new URL((await browser.follow((await browser.get(`${t.issuer}/launch/${seed.crm.app.clientId}`)).location!)).location!);
      const crmLaunched = await post('/oauth2/token', { client_id: seed.crm.app.clientId, client_secret: seed.crm.clientSecret!, grant_type: 'authorization_code', code: crmLanding.searchParams.get('code')! });
      expect(crmLaunched.status).toBe(200);
      expect(crmLaunched.body).not.toHaveProperty('id_token');
      expect(crmLaunched.body.scope).toBe('get_user_info');
    });
  });

  describe('GET /api/v1/oauth2/userinfo', () => {
    it('answers every documented field, as strings', async () => {
      const { access_token } = await tokens();
      const answer = await userinfo(access_token);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        id: seed.alice.id,
        userName: 'alice',
        name: 'Alice Liddell',
        email: 'alice@acme.test',
        mobile: '+86 138 0000 0000',
        role: 'user',
        organizationName: 'Acme Corp',
        organizationCode: 'acme',
        userId: seed.alice.id,
        projectName: 'Acme Corp',
        tenant: seed.acme.id,
        accName: 'alice',
        loginName: 'alice',
      });
    });

    it('answers unknown values as empty strings', async () => {
      const browser = new Browser(t.issuer);
      const url = await callback({}, browser, { tenant: 'acme', username: 'carol', password: PASSWORD });
      const answer = await exchange(url.searchParams.get('code')!);
      const info = await userinfo(answer.body.access_token as string);
      expect(info.body.email).toBe('');
      expect(info.body.mobile).toBe('');
      expect(Object.values(info.body).every((v) => typeof v === 'string')).toBe(true);
    });

    it.each([
      ['no token', undefined],
      ['an unknown token', 'not-a-token'],
    ])('answers %s with 401 and the documented body', async (_why, token) => {
      expect(await userinfo(token)).toEqual({ status: 401, body: UNAUTHORIZED });
    });

    it('answers a malformed Authorization header with 401', async () => {
      const res = await fetch(`${api}/oauth2/userinfo`, { headers: { authorization: 'Basic abc' } });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(UNAUTHORIZED);
    });
  });

  describe('one set of tokens for both dialects', () => {
    it('lets a joint-operation token read the standard userinfo, and a standard token the dialect’s', async () => {
      const { access_token } = await tokens();
      const standard = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${access_token}` } });
      expect(standard.status).toBe(200);
      expect(await standard.json()).toMatchObject({ sub: seed.alice.id, tenant_id: seed.acme.id, preferred_username: 'alice' });

      // A token from the standard endpoints, read by the dialect's userinfo: what its scopes allow,
      // the other fields empty (the dialect is no way round the scopes an app was granted; only the
      // dialect's own authorize adds get_user_info).
      const standardToken = async (scope: string) => {
        const page = await authorize(new Browser(t.issuer), `${t.issuer}/auth?${new URLSearchParams({ client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, response_type: 'code', scope })}`, aliceLogin);
        const code = new URL(page.location!).searchParams.get('code')!;
        const basic = Buffer.from(`${seed.legacy.app.clientId}:${seed.legacy.clientSecret}`).toString('base64');
        const res = await fetch(`${t.issuer}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK }),
        });
        return ((await res.json()) as { access_token: string }).access_token;
      };
      const bare = (await userinfo(await standardToken('openid'))).body;
      expect(bare).toMatchObject({ id: seed.alice.id, userId: seed.alice.id, tenant: seed.acme.id, organizationCode: 'acme', userName: '', name: '', email: '', mobile: '', role: '', accName: '', loginName: '' });
      const withEmail = (await userinfo(await standardToken('openid email'))).body;
      expect(withEmail).toMatchObject({ email: 'alice@acme.test', userName: '', mobile: '' });
      const withProfile = (await userinfo(await standardToken('openid profile'))).body;
      expect(withProfile).toMatchObject({ userName: 'alice', name: 'Alice Liddell', role: 'user', loginName: 'alice', email: '' });
    });

    it('applies standard revocation to the dialect’s tokens', async () => {
      const { access_token, refresh_token } = await tokens();
      const basic = Buffer.from(`${seed.legacy.app.clientId}:${seed.legacy.clientSecret}`).toString('base64');
      const res = await fetch(`${t.issuer}/token/revocation`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refresh_token }),
      });
      expect(res.status).toBe(200);
      expect((await userinfo(access_token)).status).toBe(401);
      expect((await refresh(refresh_token)).status).toBe(400);
    });
  });

  describe('GET /api/v1/logout', () => {
    it('ends the session and follows a registered post-logout URL', async () => {
      const browser = new Browser(t.issuer);
      const { searchParams } = await callback({}, browser);
      const answer = await exchange(searchParams.get('code')!);
      const out = await browser.get(`${api}/logout?redirect_url=${encodeURIComponent('https://legacy.test/signed-out')}`);
      expect(out.status).toBe(302);
      expect(out.location).toBe('https://legacy.test/signed-out');
      expect(out.body).toBe('');
      // Signed out: the next authorization asks for credentials again, and the session's tokens are gone.
      const again = await browser.follow(authorizeUrl({ client_id: seed.legacy.app.clientId, redirect_uri: CALLBACK, response_type: 'code' }));
      expect(again.status).toBe(200);
      expect(again.body).toContain('name="password"');
      expect((await userinfo(answer.body.access_token as string)).status).toBe(401);
    });

    it.each([
      ['an unregistered URL', 'https://evil.test/'],
      ['a registered one with a changed path', 'https://legacy.test/signed-out/x'],
      ['a registered callback that is not a logout URL', CALLBACK],
      ['a scheme-relative URL', '//evil.test'],
    ])('never follows %s: it goes to the login page', async (_why, target) => {
      const out = await new Browser(t.issuer).get(`${api}/logout?redirect_url=${encodeURIComponent(target)}`);
      expect(out.status).toBe(302);
      expect(out.location).toBe(`${t.issuer}/`);
    });

    it('goes to the login page without redirect_url', async () => {
      const out = await new Browser(t.issuer).get(`${api}/logout`);
      expect(out.status).toBe(302);
      expect(out.location).toBe(`${t.issuer}/`);
    });
  });

  describe('per-app token lifetimes', () => {
    it('uses the app’s own access and refresh token lifetimes', async () => {
      const { app, clientSecret } = await t.atrium.directory.apps.create({
        name: 'Short-lived',
        redirectUris: ['https://short.test/cb'],
        accessTokenTtl: 600,
        refreshTokenTtl: 3600,
        requirePkce: false,
      });
      await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
      const page = await authorize(new Browser(t.issuer), authorizeUrl({ client_id: app.clientId, redirect_uri: 'https://short.test/cb', response_type: 'code' }), aliceLogin);
      const code = new URL(page.location!).searchParams.get('code')!;
      const answer = await post('/oauth2/token', { client_id: app.clientId, client_secret: clientSecret!, grant_type: 'authorization_code', code });
      expect(answer.body.expires_in).toBe(600);
      const basic = Buffer.from(`${app.clientId}:${clientSecret}`).toString('base64');
      const introspection = await fetch(`${t.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: answer.body.refresh_token as string }),
      });
      const refreshInfo = (await introspection.json()) as { exp: number; iat: number };
      expect(refreshInfo.exp - refreshInfo.iat).toBe(3600);
    });

    it('keeps the grant of an app whose refresh tokens live longer than grants do, for as long', async () => {
      const { app, clientSecret } = await t.atrium.directory.apps.create({ name: 'Long-lived', redirectUris: ['https://long.test/cb'], refreshTokenTtl: 90 * 86_400, requirePkce: false });
      await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
      const page = await authorize(new Browser(t.issuer), authorizeUrl({ client_id: app.clientId, redirect_uri: 'https://long.test/cb', response_type: 'code' }), aliceLogin);
      const code = new URL(page.location!).searchParams.get('code')!;
      const answer = await post('/oauth2/token', { client_id: app.clientId, client_secret: clientSecret!, grant_type: 'authorization_code', code });
      const refreshToken = answer.body.refresh_token as string;
      // Tokens are named {grant}.{random}: the grant that holds the refresh token outlives it.
      const grant = await t.atrium.provider.Grant.find(refreshToken.split('.')[0]!);
      const introspected = await fetch(`${t.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${app.clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken }),
      });
      const { exp, iat } = (await introspected.json()) as { exp: number; iat: number };
      expect(exp - iat).toBe(90 * 86_400);
      expect(grant!.exp).toBeGreaterThanOrEqual(exp);
    });
  });
});

describe.each(DRIVERS)('refresh tokens within their grant on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;

  beforeAll(async () => {
    // Grants as short as they may be: a refresh token's lifetime (60 s here) plus the code's (2 s).
    t = await startAtrium(driver, (config) => {
      config.ttl.grant = 1;
      config.ttl.authorizationCode = 2;
    });
    seed = await seedDirectory(t.atrium.directory);
  });
  afterAll(() => t.close());

  it('cuts the tokens a refresh rotates in to what is left of the grant, so that they say when they stop', async () => {
    const { app, clientSecret } = await t.atrium.directory.apps.create({ name: 'Minute', redirectUris: ['https://minute.test/cb'], refreshTokenTtl: 60, requirePkce: false });
    await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
    const form = async (body: Record<string, string>) => {
      const res = await fetch(`${t.issuer}/api/v1/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: app.clientId, client_secret: clientSecret!, ...body }) });
      return (await res.json()) as Record<string, string | number>;
    };
    const introspect = async (token: string) => {
      const res = await fetch(`${t.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${app.clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
      return (await res.json()) as { active: boolean; exp: number; iat: number };
    };
    const page = await authorize(new Browser(t.issuer), `${t.issuer}/api/v1/oauth2/authorize?${new URLSearchParams({ client_id: app.clientId, response_type: 'code' })}`, aliceLogin);
    const first = await form({ grant_type: 'authorization_code', code: new URL(page.location!).searchParams.get('code')! });
    const grant = await t.atrium.provider.Grant.find(String(first.refresh_token).split('.')[0]!);
    const firstRefresh = await introspect(String(first.refresh_token));
    expect(firstRefresh.exp - firstRefresh.iat).toBe(60);
    expect(grant!.exp).toBeGreaterThanOrEqual(firstRefresh.exp);

    await new Promise((resolve) => setTimeout(resolve, 3100));
    const second = await form({ grant_type: 'refresh_token', refresh_token: String(first.refresh_token) });
    const rotated = await introspect(String(second.refresh_token));
    expect(rotated.active).toBe(true);
    expect(rotated.exp).toBe(grant!.exp);
    expect(rotated.exp - rotated.iat).toBeLessThan(60);
    // The access token too: 2 h by default, here only what is left of the grant.
    expect(second.expires_in).toBeLessThanOrEqual(grant!.exp! - rotated.iat);
    expect((await introspect(String(second.access_token))).exp).toBe(grant!.exp);
  });
});

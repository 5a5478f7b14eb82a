/**
 * Adversarial: redirect URI manipulation, client/URI mix-ups, PKCE attacks, code and refresh token
 * replay and theft (RFC 9700 §2.1, §4.1, §4.5, §4.8, §4.14).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const insecure = { execute: [oidc.allowInsecureRequests] };
const CALLBACK = 'https://crm.test/callback';

describe.each(DRIVERS)('attacks on redirects and tokens (%s store)', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let crm: oidc.Configuration;
  let basicCrm: string;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    crm = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, insecure);
    basicCrm = `Basic ${Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64')}`;
  });
  afterAll(() => t.close());

  const authQuery = (params: Record<string, string>) => `${t.issuer}/auth?${new URLSearchParams({ response_type: 'code', scope: 'openid', state: 'st', ...params })}`;

  /** Signs alice in for CRM with PKCE; returns the code, the verifier and the browser. */
  async function codeFor(browser = new Browser(t.issuer)) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: CALLBACK, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const page = await authorize(browser, url.href, aliceLogin);
    return { code: new URL(page.location!).searchParams.get('code')!, verifier, browser };
  }

  const token = (form: Record<string, string>, authorization = basicCrm) =>
    fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));

  describe('redirect URI mutations never redirect', () => {
    it.each([
      ['trailing slash', `${CALLBACK}/`],
      ['extra query', `${CALLBACK}?next=/`],
      ['fragment', `${CALLBACK}#x`],
      ['other host', 'https://evil.test/callback'],
      ['subdomain', 'https://evil.crm.test/callback'],
      ['suffix host', 'https://crm.test.evil.test/callback'],
      ['http downgrade', 'http://crm.test/callback'],
      ['other port', 'https://crm.test:444/callback'],
      ['path traversal', 'https://crm.test/callback/../admin'],
      ['user info', 'https://crm.test@evil.test/callback'],
      ['encoded path', 'https://crm.test/%63allback'],
      ['case change', 'https://CRM.test/Callback'],
      ['javascript scheme', 'javascript://crm.test/%0aalert(1)'],
    ])('%s', async (_kind, redirectUri) => {
      const page = await new Browser(t.issuer).follow(authQuery({ client_id: seed.crm.app.clientId, redirect_uri: redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
    });
  });

  describe('invalid client and redirect URI combinations never redirect', () => {
    it.each([
      ['unknown client', () => ({ client_id: 'f'.repeat(32), redirect_uri: CALLBACK })],
      ['missing client', () => ({ redirect_uri: CALLBACK })],
      ['client A with client B’s callback', () => ({ client_id: seed.crm.app.clientId, redirect_uri: 'https://globex.test/cb' })],
      ['client B with client A’s callback', () => ({ client_id: seed.globexApp.app.clientId, redirect_uri: CALLBACK })],
      ['the workbench client with an app’s callback', () => ({ client_id: 'atrium-workbench', redirect_uri: CALLBACK })],
    ])('%s', async (_kind, params) => {
      const page = await new Browser(t.issuer).follow(authQuery(params() as Record<string, string>));
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
    });
  });

  describe('PKCE', () => {
    it('refuses a request without PKCE at the callback, without a code', async () => {
      const page = await authorize(new Browser(t.issuer), authQuery({ client_id: seed.crm.app.clientId, redirect_uri: CALLBACK }), aliceLogin);
      const url = new URL(page.location!);
      expect(url.searchParams.get('error')).toBe('invalid_request');
      expect(url.searchParams.get('code')).toBeNull();
    });

    it('refuses a downgrade to plain', async () => {
      const page = await authorize(new Browser(t.issuer), authQuery({ client_id: seed.crm.app.clientId, redirect_uri: CALLBACK, code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }), aliceLogin);
      expect(new URL(page.location!).searchParams.get('code')).toBeNull();
    });

    it('refuses a wrong verifier, and a missing one, at the token endpoint', async () => {
      const { code } = await codeFor();
      expect((await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: oidc.randomPKCECodeVerifier() })).body.error).toBe('invalid_grant');
      const second = await codeFor();
      expect((await token({ grant_type: 'authorization_code', code: second.code, redirect_uri: CALLBACK })).body.error).toBe('invalid_grant');
    });

    it('does not accept a forged or foreign launch ticket in place of PKCE', async () => {
      const forged = authQuery({ client_id: seed.crm.app.clientId, redirect_uri: CALLBACK, atrium_launch: `${Math.floor(Date.now() / 1000) + 60}.AAAA` });
      const page = await authorize(new Browser(t.issuer), forged, aliceLogin);
      expect(new URL(page.location!).searchParams.get('error')).toBe('invalid_request');
    });

    it('takes a real launch ticket only in the session it was made for, and only for its callback', async () => {
      const { app } = await t.atrium.directory.apps.create({ name: 'Two callbacks', redirectUris: ['https://two.test/first', 'https://two.test/second'] });
      await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
      const alice = new Browser(t.issuer);
      await authorize(alice, `${t.issuer}/`, aliceLogin);
      const launch = new URL((await alice.get(`${t.issuer}/launch/${app.clientId}`)).location!);
      const ticket = launch.searchParams.get('atrium_launch')!;
      expect(ticket).toBeTruthy();
      const withTicket = (redirectUri: string) => authQuery({ client_id: app.clientId, redirect_uri: redirectUri, atrium_launch: ticket });

      // Copied into another user's browser, or to the app's other callback: PKCE is required again.
      const carol = new Browser(t.issuer);
      const elsewhere = new URL((await authorize(carol, withTicket('https://two.test/first'), { tenant: 'acme', username: 'carol', password: PASSWORD })).location!);
      expect(elsewhere.searchParams.get('error')).toBe('invalid_request');
      expect(elsewhere.searchParams.get('code')).toBeNull();
      const otherCallback = new URL((await alice.follow(withTicket('https://two.test/second'))).location!);
      expect(otherCallback.searchParams.get('error')).toBe('invalid_request');
      // Where it was made for: a code.
      const own = new URL((await alice.follow(withTicket('https://two.test/first'))).location!);
      expect(own.origin + own.pathname).toBe('https://two.test/first');
      expect(own.searchParams.get('code')).toBeTruthy();
    });
  });

  describe('codes', () => {
    it('is single-use: a replay fails and revokes what the code issued', async () => {
      const { code, verifier } = await codeFor();
      const first = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
      expect(first.status).toBe(200);
      const replay = await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier });
      expect(replay.body.error).toBe('invalid_grant');
      expect((await oidc.tokenIntrospection(crm, first.body.access_token!)).active).toBe(false);
    });

    it('gives tokens to at most one of 30 parallel redemptions', async () => {
      const { code, verifier } = await codeFor();
      const results = await Promise.all(Array.from({ length: 30 }, () => token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })));
      // One consumes the code; one that finds it consumed revokes the grant as a replay, and when
      // that comes first the winner's tokens are refused too: zero or one, never two.
      const winners = results.filter((r) => r.status === 200).length;
      expect(winners).toBeLessThanOrEqual(1);
      expect(results.filter((r) => r.body.error === 'invalid_grant')).toHaveLength(30 - winners);
    });

    it('cannot be redeemed by another client, even with its own valid credentials', async () => {
      const { code, verifier } = await codeFor();
      const other = `Basic ${Buffer.from(`${seed.unassigned.app.clientId}:${seed.unassigned.clientSecret}`).toString('base64')}`;
      const stolen = await token({ grant_type: 'authorization_code', code, redirect_uri: 'https://unassigned.test/cb', code_verifier: verifier }, other);
      expect(stolen.body.error).toBe('invalid_grant');
    });
  });

  describe('refresh tokens', () => {
    it('revokes the grant when an old refresh token is reused', async () => {
      const { code, verifier } = await codeFor();
      const tokens = (await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })).body;
      const rotated = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
      expect(rotated.status).toBe(200);
      expect((await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! })).body.error).toBe('invalid_grant');
      expect((await token({ grant_type: 'refresh_token', refresh_token: rotated.body.refresh_token! })).body.error).toBe('invalid_grant');
    });

    it('lets exactly one of parallel refreshes with the same token succeed', async () => {
      const { code, verifier } = await codeFor();
      const tokens = (await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })).body;
      const results = await Promise.all(Array.from({ length: 10 }, () => token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! })));
      expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
      expect(results.filter((r) => r.status !== 200).every((r) => r.body.error === 'invalid_grant')).toBe(true);
    });

    it('refuses client A’s refresh token presented with client B’s credentials', async () => {
      const { code, verifier } = await codeFor();
      const tokens = (await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })).body;
      const other = `Basic ${Buffer.from(`${seed.legacy.app.clientId}:${seed.legacy.clientSecret}`).toString('base64')}`;
      expect((await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, other)).body.error).toBe('invalid_grant');
      // The rightful client can still use it.
      expect((await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! })).status).toBe(200);
    });
  });

  describe('sender-constrained tokens and scopes', () => {
    it('refuses a DPoP-bound access token presented as a plain bearer token, at both userinfo endpoints', async () => {
      const dpop = oidc.getDPoPHandle(crm, await oidc.randomDPoPKeyPair());
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: CALLBACK, scope: 'openid email', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      const page = await authorize(new Browser(t.issuer), url.href, aliceLogin);
      const tokens = await oidc.authorizationCodeGrant(crm, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 's' }, undefined, { DPoP: dpop });
      expect(tokens.token_type.toLowerCase()).toBe('dpop');
      // With its proof it works where DPoP is spoken (the standard userinfo).
      expect((await oidc.fetchUserInfo(crm, tokens.access_token, oidc.skipSubjectCheck, { DPoP: dpop })).sub).toBe(seed.alice.id);
      const bearer = { authorization: `Bearer ${tokens.access_token}` };
      expect((await fetch(`${t.issuer}/me`, { headers: bearer })).status).toBe(401);
      expect((await fetch(`${t.issuer}/api/v1/oauth2/userinfo`, { headers: bearer })).status).toBe(401);
    });

    it('refuses a DPoP-bound management token presented as a plain bearer token at the admin API', async () => {
      const { app, clientSecret } = await t.atrium.directory.apps.create({ name: 'Bound robot', redirectUris: ['https://robot.test/cb'], management: { role: 'platform' } });
      const robot = await oidc.discovery(new URL(t.issuer), app.clientId, clientSecret!, undefined, insecure);
      const admin = (tokens: oidc.TokenEndpointResponse) => fetch(`${t.issuer}/admin/api/v1/tenants`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
      expect((await admin(await oidc.clientCredentialsGrant(robot, { scope: 'atrium:admin' }))).status).toBe(200);
      const bound = await oidc.clientCredentialsGrant(robot, { scope: 'atrium:admin' }, { DPoP: oidc.getDPoPHandle(robot, await oidc.randomDPoPKeyPair()) });
      expect(bound.token_type.toLowerCase()).toBe('dpop');
      expect((await admin(bound)).status).toBe(401);
    });

    it('never grants the management scopes to an app that is not a management app, nor to the workbench', async () => {
      for (const scope of ['openid atrium:admin', 'openid atrium:tenant-admin']) {
        for (const params of [{ client_id: seed.crm.app.clientId, redirect_uri: CALLBACK }, { client_id: 'atrium-workbench', redirect_uri: `${t.issuer}/workbench/callback` }]) {
          const page = await new Browser(t.issuer).get(authQuery({ ...params, scope, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
          const answer = new URL(page.location!);
          expect([answer.origin + answer.pathname, answer.searchParams.get('error'), answer.searchParams.get('code')]).toEqual([params.redirect_uri, 'invalid_scope', null]);
        }
      }
      // What apps ask for still works.
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: CALLBACK, scope: 'openid profile email phone get_user_info', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      const page = await authorize(new Browser(t.issuer), url.href, aliceLogin);
      const tokens = await oidc.authorizationCodeGrant(crm, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 's' });
      expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'get_user_info', 'openid', 'phone', 'profile']);
    });
  });

  describe('logout redirects', () => {
    it.each([
      ['unregistered', 'https://evil.test/'],
      ['modified path', 'https://crm.test/signed-out/evil'],
      ['modified query', 'https://crm.test/signed-out?next=https://evil.test'],
      ['other scheme', 'http://crm.test/signed-out'],
    ])('refuses a %s post_logout_redirect_uri without redirecting', async (_kind, target) => {
      const { browser, code, verifier } = await codeFor();
      const tokens = (await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })).body;
      const url = `${t.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: target })}`;
      const page = await browser.follow(url);
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
      const joint = await browser.get(`${t.issuer}/api/v1/logout?redirect_url=${encodeURIComponent(target)}`);
      expect(joint.location).toBe(`${t.issuer}/`);
    });
  });
});

/**
 * Cross-tenant access on every route: a user and an app of tenant Acme against the routes of tenant
 * Globex's app, and Globex's app against Acme's tokens. Nothing crosses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const PKCE = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

describe.each(DRIVERS)('tenant isolation on every route (%s store)', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let aliceTokens: { access_token: string; refresh_token: string };
  let browser: Browser;
  let globexBasic: string;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    globexBasic = `Basic ${Buffer.from(`${seed.globexApp.app.clientId}:${seed.globexApp.clientSecret}`).toString('base64')}`;
    const crm = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    browser = new Browser(t.issuer);
    const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const page = await authorize(browser, url.href, aliceLogin);
    const tokens = await oidc.authorizationCodeGrant(crm, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 's' });
    aliceTokens = { access_token: tokens.access_token, refresh_token: tokens.refresh_token! };
  });
  afterAll(() => t.close());

  const post = (path: string, form: Record<string, string>) =>
    fetch(`${t.issuer}${path}`, { method: 'POST', headers: { authorization: globexBasic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });

  it('/auth: another tenant’s app gets access_denied for alice', async () => {
    const page = await browser.follow(`${t.issuer}/auth?${new URLSearchParams({ client_id: seed.globexApp.app.clientId, redirect_uri: 'https://globex.test/cb', response_type: 'code', scope: 'openid', state: 'x', ...PKCE })}`);
    expect(new URL(page.location!).searchParams.get('error')).toBe('access_denied');
  });

  it('/api/v1/oauth2/authorize: the same', async () => {
    const page = await browser.follow(`${t.issuer}/api/v1/oauth2/authorize?${new URLSearchParams({ client_id: seed.globexApp.app.clientId, redirect_uri: 'https://globex.test/cb', response_type: 'code', ...PKCE })}`);
    expect(new URL(page.location!).searchParams.get('error')).toBe('access_denied');
  });

  it('/ and /launch: another tenant’s app is neither shown nor launched', async () => {
    expect((await browser.get(`${t.issuer}/`)).body).not.toContain(seed.globexApp.app.clientId);
    expect((await browser.get(`${t.issuer}/launch/${seed.globexApp.app.clientId}`)).status).toBe(404);
  });

  it('/token: another tenant’s app cannot use alice’s refresh token', async () => {
    const res = await post('/token', { grant_type: 'refresh_token', refresh_token: aliceTokens.refresh_token });
    expect(((await res.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('/token/introspection: another tenant’s app learns nothing about alice’s tokens', async () => {
    for (const token of [aliceTokens.access_token, aliceTokens.refresh_token]) {
      expect(await (await post('/token/introspection', { token })).json()).toEqual({ active: false });
    }
  });

  it('/token/revocation: another tenant’s app cannot revoke alice’s tokens', async () => {
    expect((await post('/token/revocation', { token: aliceTokens.refresh_token })).status).toBe(200);
    const crmBasic = `Basic ${Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64')}`;
    const check = await fetch(`${t.issuer}/token/introspection`, { method: 'POST', headers: { authorization: crmBasic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: aliceTokens.refresh_token }) });
    expect(((await check.json()) as { active: boolean }).active).toBe(true);
  });

  it('/me and /api/v1/oauth2/userinfo: a token shows only its own user and tenant', async () => {
    const standard = (await (await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${aliceTokens.access_token}` } })).json()) as Record<string, string>;
    expect(standard.tenant_id).toBe(seed.acme.id);
    const joint = (await (await fetch(`${t.issuer}/api/v1/oauth2/userinfo`, { headers: { authorization: `Bearer ${aliceTokens.access_token}` } })).json()) as Record<string, string>;
    expect(joint.tenant).toBe(seed.acme.id);
    expect(JSON.stringify([standard, joint])).not.toContain(seed.globex.id);
  });
});

/**
 * The standard OIDC flows, driven by openid-client (an independent relying party) against a real
 * Atrium on each store driver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { oidcKeys } from '../../src/oidc/adapter.js';
import { withRecordCache } from '../../src/directory/records.js';
import { revokeGrant } from '../../src/oidc/logout.js';
import { grantForAssignedApp } from '../../src/oidc/provider.js';
import { authorize, Browser, submitForm } from '../helpers/browser.js';
import { aliceLogin, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { ALL_TOPOLOGIES } from '../helpers/stores.js';

const insecure = { execute: [oidc.allowInsecureRequests] };
/** A valid S256 challenge, for requests whose code is never redeemed. */
const PKCE = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

describe.each(ALL_TOPOLOGIES)('standard OIDC flows on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let crm: oidc.Configuration;
  let spa: oidc.Configuration;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    crm = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, insecure);
    spa = await oidc.discovery(new URL(t.issuer), seed.spa.app.clientId, undefined, oidc.None(), insecure);
  });
  afterAll(() => t.close());

  /** One full sign-in of alice into an app; returns the callback URL and the PKCE verifier. */
  async function signIn(config: oidc.Configuration, redirectUri: string, options: { browser?: Browser; scope?: string; extra?: Record<string, string> } = {}) {
    const browser = options.browser ?? new Browser(t.issuer);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: options.scope ?? 'openid profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      ...options.extra,
    });
    const page = await authorize(browser, url.href, aliceLogin);
    return { browser, verifier, state, callback: page.location ?? '', page };
  }

  async function tokensFor(config: oidc.Configuration, redirectUri: string, options: Parameters<typeof signIn>[2] = {}) {
    const { callback, verifier, state, browser } = await signIn(config, redirectUri, options);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    return { tokens, callback, browser };
  }

  it('publishes discovery and a JWKS with RS256 and ES256 keys', async () => {
    const metadata = crm.serverMetadata();
    expect(metadata.issuer).toBe(t.issuer);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['RS256', 'ES256']);
    expect(metadata.introspection_endpoint).toBeDefined();
    expect(metadata.revocation_endpoint).toBeDefined();
    expect(metadata.end_session_endpoint).toBeDefined();
    const jwks = (await (await fetch(metadata.jwks_uri!)).json()) as { keys: { alg: string; d?: string }[] };
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  /** How many times each store operation ran so far, from /metrics. */
  async function storeOperations(): Promise<Record<string, number>> {
    const text = await (await fetch(`${t.issuer}/metrics`)).text();
    return Object.fromEntries([...text.matchAll(/atrium_store_operation_duration_seconds_count\{operation="(\w+)"\} (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  }

  it("reads a code being exchanged along with the directory version its client's record is checked against", async () => {
    const { callback, verifier, state } = await signIn(crm, 'https://crm.test/callback');
    const before = await storeOperations();
    const tokens = await oidc.authorizationCodeGrant(crm, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.refresh_token).toBeTruthy();
    const after = await storeOperations();
    const ran = (operation: string) => (after[operation] ?? 0) - (before[operation] ?? 0);
    // One getMany (the code and the version) and one hgetMany (its grant and index entry), started
    // as the client is found; no get of the version on its own, nor of the code after it. The app,
    // account and assignment records come from the cache the sign-in filled, at the same version.
    expect({ get: ran('get'), getMany: ran('getMany'), hgetMany: ran('hgetMany') }).toEqual({ get: 0, getMany: 1, hgetMany: 1 });
  });

  it("reads a sign-in form's account beside its interaction, and nothing of the account for a form without its CSRF token", async () => {
    await signIn(crm, 'https://crm.test/callback'); // alice's records are in the cache from here on
    const operationsOf = async (post: () => Promise<{ status: number }>, status: number) => {
      const before = await storeOperations();
      expect((await post()).status).toBe(status);
      const after = await storeOperations();
      return Object.fromEntries(Object.keys(after).map((operation) => [operation, after[operation]! - (before[operation] ?? 0)]).filter(([, n]) => n !== 0));
    };
    const loginPage = async () => {
      const browser = new Browser(t.issuer);
      return { browser, login: await browser.follow(oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 'st', ...PKCE }).href) };
    };

    const { browser, login } = await loginPage();
    // The interaction with the directory version (getMany) in the round trip of the attempt counted
    // for the account and the address (two incrs), taken back once it succeeded (two more, which
    // delete the counts back at zero); the interaction saved back with the result (set, only while
    // it still exists: the check that its sign-in was not resumed meanwhile); the event (hset).
    expect(await operationsOf(() => submitForm(browser, login, aliceLogin), 303)).toEqual({ getMany: 1, incr: 4, hset: 1, set: 1 });

    const forged = await loginPage();
    expect(await operationsOf(() => submitForm(forged.browser, forged.login, { ...aliceLogin, csrf: 'A'.repeat(43) }), 403)).toEqual({ getMany: 1 });
  });

  it('signs alice in with code + PKCE and puts the tenant on the callback, in the ID token and in userinfo', async () => {
    const { tokens, callback } = await tokensFor(crm, 'https://crm.test/callback');
    const params = new URL(callback).searchParams;
    expect(callback.startsWith('https://crm.test/callback?')).toBe(true);
    expect(params.get('tenant')).toBe(seed.acme.id);
    expect(params.get('iss')).toBe(t.issuer);
    expect(params.get('code')).toBeTruthy();

    const claims = tokens.claims()!;
    expect(claims.sub).toBe(seed.alice.id);
    expect(claims.tenant_id).toBe(seed.acme.id);
    expect(decodeJwt(tokens.id_token!).iss).toBe(t.issuer);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBeGreaterThan(7190);
    expect(tokens.expires_in).toBeLessThanOrEqual(7200);
    expect(tokens.refresh_token).toBeTruthy();

    const userinfo = await oidc.fetchUserInfo(crm, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({
      sub: seed.alice.id,
      tenant_id: seed.acme.id,
      tenant_code: 'acme',
      tenant_name: 'Acme Corp',
      name: 'Alice Liddell',
      preferred_username: 'alice',
      email: 'alice@acme.test',
    });
  });

  it('keeps a code at most 60 s, an access token 2 h and a refresh token 30 days', async () => {
    const { callback, verifier, state } = await signIn(crm, 'https://crm.test/callback');
    const code = new URL(callback).searchParams.get('code')!;
    const codeTtl = await t.atrium.store.ttl(oidcKeys.record('AuthorizationCode', code));
    expect(codeTtl).toBeGreaterThan(0);
    expect(codeTtl).toBeLessThanOrEqual(60);
    const tokens = await oidc.authorizationCodeGrant(crm, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    const access = await oidc.tokenIntrospection(crm, tokens.access_token);
    expect(access.exp! - access.iat!).toBe(7200);
    const refresh = await oidc.tokenIntrospection(crm, tokens.refresh_token!);
    expect(refresh.active).toBe(true);
    expect(refresh.exp! - refresh.iat!).toBe(30 * 24 * 3600);
  });

  it('grants an assigned app at once even when it asks for consent explicitly', async () => {
    const { callback } = await signIn(crm, 'https://crm.test/callback', { extra: { prompt: 'consent' } });
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
    expect(new URL(callback).searchParams.get('tenant')).toBe(seed.acme.id);
  });

  it('signs ID tokens with RS256 by default', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { alg: string };
    expect(header.alg).toBe('RS256');
  });

  it('reuses the session: a second authorization completes without the login page', async () => {
    const first = await signIn(crm, 'https://crm.test/callback');
    const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', prompt: 'none', ...PKCE });
    const page = await first.browser.follow(url.href);
    expect(new URL(page.location!).searchParams.get('code')).toBeTruthy();
    expect(new URL(page.location!).searchParams.get('tenant')).toBe(seed.acme.id);
  });

  it('introspects with tenant_id, for the token’s own app only', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const introspection = await oidc.tokenIntrospection(crm, tokens.access_token);
    expect(introspection.active).toBe(true);
    expect(introspection.tenant_id).toBe(seed.acme.id);
    expect(introspection.sub).toBe(seed.alice.id);

    const other = await oidc.discovery(new URL(t.issuer), seed.unassigned.app.clientId, seed.unassigned.clientSecret, undefined, insecure);
    expect((await oidc.tokenIntrospection(other, tokens.access_token)).active).toBe(false);
  });

  it('rotates the refresh token on every use, and a reused old one revokes the whole grant', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const first = tokens.refresh_token!;
    const second = await oidc.refreshTokenGrant(crm, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    expect((await oidc.tokenIntrospection(crm, second.access_token)).active).toBe(true);

    await expect(oidc.refreshTokenGrant(crm, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The whole grant is gone: the newest refresh token and every access token with it.
    await expect(oidc.refreshTokenGrant(crm, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(crm, second.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(crm, tokens.access_token)).active).toBe(false);
  });

  it('keeps nothing of a spent refresh token, yet a replay of one spent many rotations ago revokes the grant', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const grantId = tokens.refresh_token!.split('.')[0]!; // ids are {grantId}.{n}
    const grantKey = oidcKeys.grant(grantId);
    const refreshFields = async () => Object.keys((await t.atrium.store.hgetall(grantKey)) ?? {}).filter((f) => f.startsWith('RT:'));
    const chain = [tokens.refresh_token!];
    for (let i = 0; i < 5; i += 1) chain.push((await oidc.refreshTokenGrant(crm, chain.at(-1)!)).refresh_token!);
    // Only the live refresh token is in the grant: no marker per refresh, however many there were.
    expect(await refreshFields()).toEqual([`RT:${chain.at(-1)!.split('.')[1]}`]);

    // An id of this grant that Atrium did not seal is only not found: the grant stays.
    const live = chain.at(-1)!;
    const forged = `${live.slice(0, -4)}${live.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    await expect(oidc.refreshTokenGrant(crm, forged)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await refreshFields()).toHaveLength(1);

    // The first token of the chain, five rotations back: a replay, and the whole grant goes.
    await expect(oidc.refreshTokenGrant(crm, chain[0]!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await t.atrium.store.hgetall(grantKey)).toBeUndefined();
    await expect(oidc.refreshTokenGrant(crm, live)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('revokes the grant when its access token is revoked: a later sign-in gets a new grant that the old refresh token cannot touch', async () => {
    const first = await tokensFor(crm, 'https://crm.test/callback');
    const grantId = first.tokens.refresh_token!.split('.')[0]!;
    await oidc.tokenRevocation(crm, first.tokens.access_token);
    expect(await t.atrium.store.hgetall(oidcKeys.grant(grantId))).toBeUndefined();
    // The same browser session signs in to the app again.
    const second = await tokensFor(crm, 'https://crm.test/callback', { browser: first.browser });
    expect(second.tokens.refresh_token!.split('.')[0]).not.toBe(grantId);
    // Another instance of the app still holds the first refresh token, which was never spent.
    await expect(oidc.refreshTokenGrant(crm, first.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.refreshTokenGrant(crm, second.tokens.refresh_token!)).access_token).toBeTruthy();
  });

  it('revokes the grant when a spent refresh token is replayed asking for a scope', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const first = tokens.refresh_token!;
    const second = await oidc.refreshTokenGrant(crm, first);
    // A replay that narrows the scope must still be caught as a replay, not refused as invalid_scope.
    await expect(oidc.refreshTokenGrant(crm, first, { scope: 'openid' })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(crm, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(crm, second.access_token)).active).toBe(false);
  });

  it('revokes what a code issued when the code is replayed', async () => {
    const { callback, verifier, state } = await signIn(crm, 'https://crm.test/callback');
    const tokens = await oidc.authorizationCodeGrant(crm, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    await expect(
      oidc.authorizationCodeGrant(crm, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(crm, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(crm, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('gives tokens to at most one of 50 parallel redemptions of one code, and refuses the rest', async () => {
    const { callback, verifier } = await signIn(crm, 'https://crm.test/callback');
    const code = new URL(callback).searchParams.get('code')!;
    const basic = `Basic ${Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64')}`;
    const attempts = await Promise.all(
      Array.from({ length: 50 }, () =>
        fetch(`${t.issuer}/token`, {
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: 'https://crm.test/callback', code_verifier: verifier }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: string; access_token?: string } })),
      ),
    );
    // One redemption consumes the code. A redemption that finds the code already consumed is a
    // replay and revokes the grant; when that happens before the winner's tokens are written, the
    // winner is refused too (tokens are never written into a revoked grant). Never two.
    const winners = attempts.filter((a) => a.status === 200);
    expect(winners.length).toBeLessThanOrEqual(1);
    for (const winner of winners) expect(winner.body.access_token).toBeTruthy();
    const losers = attempts.filter((a) => a.status !== 200);
    expect(losers).toHaveLength(50 - winners.length);
    expect(losers.every((a) => a.status === 400 && a.body.error === 'invalid_grant')).toBe(true);
  });

  it('revokes a refresh token through the revocation endpoint, for its own app only', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const other = await oidc.discovery(new URL(t.issuer), seed.unassigned.app.clientId, seed.unassigned.clientSecret, undefined, insecure);
    await oidc.tokenRevocation(other, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(crm, tokens.refresh_token!)).active).toBe(true);
    await oidc.tokenRevocation(crm, tokens.refresh_token!);
    await expect(oidc.refreshTokenGrant(crm, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('makes a new grant, never the revoked one back, when a grant is revoked while an authorization uses it', async () => {
    const { provider } = t.atrium;
    const clientId = seed.crm.app.clientId;
    const old = new provider.Grant({ accountId: 'race-account', clientId });
    old.addOIDCScope('openid');
    const oldId = await old.save();
    const grants = provider.Grant as unknown as { find: (jti: string) => Promise<unknown> };
    const find = grants.find;
    // Between the authorization's find and its save, another request revokes the grant.
    grants.find = async (jti) => {
      const found = await find.call(provider.Grant, jti);
      await withRecordCache(() => revokeGrant(provider, oldId));
      return found;
    };
    try {
      const client = (await provider.Client.find(clientId))!;
      const grant = await withRecordCache(() => grantForAssignedApp(provider, { accountId: 'race-account', client, scope: 'openid profile', grantId: oldId }));
      expect(grant.jti).not.toBe(oldId);
      expect(grant.getOIDCScope()).toBe('openid profile');
    } finally {
      grants.find = find;
    }
    expect(await provider.Grant.find(oldId)).toBeUndefined();
  });

  it('revoking an access token revokes the other tokens of its grant: refresh tokens and earlier access tokens', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const refreshed = await oidc.refreshTokenGrant(crm, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(crm, tokens.access_token)).active).toBe(true);
    await oidc.tokenRevocation(crm, refreshed.access_token);
    expect((await oidc.tokenIntrospection(crm, refreshed.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(crm, tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(crm, tokens.access_token, oidc.skipSubjectCheck)).rejects.toBeDefined();
    await expect(oidc.refreshTokenGrant(crm, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('requires PKCE from public apps and issues them no refresh token', async () => {
    const browser = new Browser(t.issuer);
    const withoutPkce = oidc.buildAuthorizationUrl(spa, { redirect_uri: 'http://localhost:8080/cb', scope: 'openid' });
    const refused = new URL((await authorize(browser, withoutPkce.href, aliceLogin)).location!);
    expect(refused.origin + refused.pathname).toBe('http://localhost:8080/cb');
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('error_description')).toContain('PKCE');
    expect(refused.searchParams.get('code')).toBeNull();

    const { tokens } = await tokensFor(spa, 'http://localhost:8080/cb');
    expect(tokens.claims()!.tenant_id).toBe(seed.acme.id);
    expect(tokens.refresh_token).toBeUndefined();
    // Introspection needs client authentication (RFC 7662 §2.1): a public app's id is anyone's.
    expect(await oidc.tokenIntrospection(spa, tokens.access_token)).toEqual({ active: false });
    // Revoking its own token needs none (RFC 7009 §2.1).
    await oidc.tokenRevocation(spa, tokens.access_token);
    expect((await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
  });

  it('refuses the plain PKCE method', async () => {
    const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain', state: 's' });
    const page = await new Browser(t.issuer).follow(url.href);
    const location = new URL(page.location!);
    expect(location.origin + location.pathname).toBe('https://crm.test/callback');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it.each([
    ['a trailing slash', 'https://crm.test/callback/'],
    ['an extra query', 'https://crm.test/callback?x=1'],
    ['another host', 'https://evil.test/callback'],
    ['another scheme', 'http://crm.test/callback'],
    ['another port', 'https://crm.test:8443/callback'],
    ['another case', 'https://crm.test/Callback'],
  ])('refuses a redirect URI with %s, without redirecting', async (_kind, redirectUri) => {
    const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: redirectUri, scope: 'openid', state: 's' });
    const page = await new Browser(t.issuer).follow(url.href);
    expect(page.location).toBeUndefined();
    expect(page.status).toBe(400);
    expect(page.body).toContain('redirect_uri');
  });

  it.each([
    ['not assigned to the tenant', 'unassigned', 'https://unassigned.test/cb'],
    ['whose assignment expired', 'expired', 'https://expired.test/cb'],
    ['limited to other users', 'carolOnly', 'https://carol.test/cb'],
    ['of another tenant', 'globexApp', 'https://globex.test/cb'],
  ] as const)('answers an app %s with access_denied, never a code', async (_kind, name, redirectUri) => {
    const app = seed[name];
    const config = await oidc.discovery(new URL(t.issuer), app.app.clientId, app.clientSecret, undefined, insecure);
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', state: 'xyz', ...PKCE });
    const page = await authorize(new Browser(t.issuer), url.href, aliceLogin);
    const location = new URL(page.location!);
    expect(location.origin + location.pathname).toBe(redirectUri);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe('xyz');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('ends the session at RP-initiated logout: prompt=none then gives login_required', async () => {
    const { tokens, browser } = await tokensFor(crm, 'https://crm.test/callback');
    const endUrl = oidc.buildEndSessionUrl(crm, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://crm.test/signed-out', state: 'bye' });
    const confirm = await browser.follow(endUrl.href);
    expect(confirm.status).toBe(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)?.[1];
    expect(xsrf).toBeTruthy();
    const done = await browser.post(`${t.issuer}/session/end/confirm`, { xsrf: xsrf!, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.location).toBe('https://crm.test/signed-out?state=bye');

    const silent = oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', prompt: 'none', state: 's', ...PKCE });
    const page = await browser.follow(silent.href);
    expect(new URL(page.location!).searchParams.get('error')).toBe('login_required');
    // Signing out revoked what the session had issued.
    expect((await oidc.tokenIntrospection(crm, tokens.access_token)).active).toBe(false);
  });

  it('refuses a post-logout redirect URI that is not registered, without redirecting', async () => {
    const { tokens } = await tokensFor(crm, 'https://crm.test/callback');
    const endUrl = oidc.buildEndSessionUrl(crm, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.test/' });
    const page = await new Browser(t.issuer).follow(endUrl.href);
    expect(page.location).toBeUndefined();
    expect(page.status).toBe(400);
  });
});

describe('refresh tokens asked to outlive what a seal can carry', () => {
  let t: TestServer;
  let seed: Seed;
  let crm: oidc.Configuration;
  beforeAll(async () => {
    // 100 years: past 2106, the last expiry a seal holds (refresh-seal.ts); set past the config's
    // checks, as a grant lives at most 10 years.
    t = await startAtrium('sqlite', (config) => {
      config.ttl.refreshToken = 100 * 365 * 86_400;
    });
    seed = await seedDirectory(t.atrium.directory);
    crm = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, insecure);
  });
  afterAll(() => t.close());

  it('are cut to their grant’s lifetime (at most 10 years), so sealed, and a replay of a spent one revokes the grant', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const page = await authorize(new Browser(t.issuer), url.href, aliceLogin);
    const tokens = await oidc.authorizationCodeGrant(crm, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: state });
    const [grantId, n] = tokens.refresh_token!.split('.') as [string, string];
    expect(n).toHaveLength(9 + 43 + 22); // when it was issued, 256 random bits and the seal
    expect(Math.abs(parseInt(n.slice(0, 9), 36) - Date.now())).toBeLessThan(60_000);
    const grant = await t.atrium.provider.Grant.find(grantId);
    const { exp } = await oidc.tokenIntrospection(crm, tokens.refresh_token!);
    expect(exp).toBe(grant!.exp);
    expect(exp! - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(3650 * 86_400);
    const second = await oidc.refreshTokenGrant(crm, tokens.refresh_token!);
    expect(Object.keys((await t.atrium.store.hgetall(oidcKeys.grant(grantId))) ?? {})).not.toContain(`RT:${n}`);
    await expect(oidc.refreshTokenGrant(crm, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(crm, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

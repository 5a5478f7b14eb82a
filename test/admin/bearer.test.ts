/** Automation: management apps call the admin API with client_credentials tokens, and nothing else gets in. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { writeRecord } from '../../src/directory/records.js';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

describe.each(DRIVERS)('management tokens on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  const insecure = { execute: [oidc.allowInsecureRequests] };

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    await ensurePlatformAdmin(t.atrium.directory, 'platform admin password 1');
  });
  afterAll(() => t.close());

  const tokenFor = async (management: { role: 'platform' } | { role: 'tenant'; tenantId: string }, scope: string) => {
    const { app, clientSecret } = await t.atrium.directory.apps.create({ name: `Robot ${scope}`, redirectUris: ['https://robot.test/cb'], management });
    const config = await oidc.discovery(new URL(t.issuer), app.clientId, clientSecret, undefined, insecure);
    return { token: (await oidc.clientCredentialsGrant(config, { scope })).access_token, app, config };
  };
  const get = (path: string, token: string) => fetch(`${t.issuer}/admin/api/v1${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });

  it('lets a platform management app act on every tenant, without CSRF', async () => {
    const { token } = await tokenFor({ role: 'platform' }, 'atrium:admin');
    expect((await get('/tenants', token)).status).toBe(200);
    expect((await get(`/tenants/${seed.globex.id}/users`, token)).status).toBe(200);
    const created = await fetch(`${t.issuer}/admin/api/v1/tenants`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ code: 'robots', name: 'Robots' }) });
    expect(created.status).toBe(201);
  });

  it('binds a tenant management app to its tenant', async () => {
    const { token } = await tokenFor({ role: 'tenant', tenantId: seed.acme.id }, 'atrium:tenant-admin');
    expect((await get(`/tenants/${seed.acme.id}/users`, token)).status).toBe(200);
    expect((await get(`/tenants/${seed.globex.id}/users`, token)).status).toBe(404);
    expect((await get('/apps', token)).status).toBe(403);
  });

  it('stops a tenant management app’s token while its tenant is disabled, and for good if issued before, as its admins’ sessions', async () => {
    const tenant = await t.atrium.directory.tenants.create({ code: `robotco-${driver}`, name: 'Robot Co' });
    const { token, config } = await tokenFor({ role: 'tenant', tenantId: tenant.id }, 'atrium:tenant-admin');
    expect((await get(`/tenants/${tenant.id}/users`, token)).status).toBe(200);
    await t.atrium.directory.tenants.setStatus(tenant.id, 'disabled');
    const refused = await get(`/tenants/${tenant.id}/users`, token);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'unauthorized' });
    const created = await fetch(`${t.issuer}/admin/api/v1/tenants/${tenant.id}/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'intruder', password: 'a long enough password 1', role: 'admin' }),
    });
    expect(created.status).toBe(401);
    expect(await t.atrium.directory.users.byUsername(tenant.id, 'intruder')).toBeUndefined();
    // A new token is no way round it.
    const fresh = (await oidc.clientCredentialsGrant(config, { scope: 'atrium:tenant-admin' })).access_token;
    expect((await get(`/tenants/${tenant.id}/users`, fresh)).status).toBe(401);
    await t.atrium.directory.tenants.setStatus(tenant.id, 'active');
    // Enabled again: the token from before stays void (as its admins' sessions from before do); a new one works.
    expect((await get(`/tenants/${tenant.id}/users`, token)).status).toBe(401);
    const again = (await oidc.clientCredentialsGrant(config, { scope: 'atrium:tenant-admin' })).access_token;
    expect((await get(`/tenants/${tenant.id}/users`, again)).status).toBe(200);
  });

  it('registers no tenant management app for a tenant that does not exist or for the platform tenant', async () => {
    const platform = await t.atrium.directory.tenants.require('platform');
    const register = (tenantId: string) =>
      t.atrium.directory.apps.create({ name: 'Stray robot', redirectUris: ['https://robot.test/cb'], management: { role: 'tenant', tenantId } });
    await expect(register('0'.repeat(32))).rejects.toMatchObject({ status: 400, message: 'management.tenantId: no such tenant' });
    await expect(register(platform.id)).rejects.toMatchObject({ status: 400, message: 'management.tenantId: the platform tenant is managed with role platform' });

    // One registered before that was refused (its record rewritten here) gets no access either.
    const { token, app } = await tokenFor({ role: 'tenant', tenantId: seed.acme.id }, 'atrium:tenant-admin');
    await writeRecord(t.atrium.store, `app:${app.clientId}`, { ...app, management: { role: 'tenant', tenantId: platform.id } });
    expect((await get(`/tenants/${platform.id}/users`, token)).status).toBe(401);
  });

  it('refuses a management app the scope it was not given', async () => {
    const { app, clientSecret } = await t.atrium.directory.apps.create({ name: 'Tenant robot', redirectUris: ['https://robot.test/cb'], management: { role: 'tenant', tenantId: seed.acme.id } });
    const config = await oidc.discovery(new URL(t.issuer), app.clientId, clientSecret, undefined, insecure);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'atrium:admin' })).rejects.toMatchObject({ error: 'invalid_scope' });
  });

  it('refuses client_credentials to ordinary apps', async () => {
    const config = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, insecure);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'atrium:admin' })).rejects.toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
  });

  it('accepts no other token: a user’s access token, a garbage token, or a deleted app’s token', async () => {
    const config = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, insecure);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const page = await authorize(new Browser(t.issuer), url.href, aliceLogin);
    const userToken = (await oidc.authorizationCodeGrant(config, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 's' })).access_token;
    expect((await get('/tenants', userToken)).status).toBe(401);
    expect((await get('/tenants', 'garbage')).status).toBe(401);
    const { token, app } = await tokenFor({ role: 'platform' }, 'atrium:admin');
    await t.atrium.directory.apps.remove(app.clientId);
    expect((await get('/tenants', token)).status).toBe(401);
  });
});

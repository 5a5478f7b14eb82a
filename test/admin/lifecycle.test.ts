/** App and user lifecycle through the admin API: secret rotation, deletion, assignments, expiry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { MAX_API_IMPORT_ROWS } from '../../src/directory/import.js';
import { clientGrantIds } from '../../src/oidc/adapter.js';
import { authorize, Browser, hiddenFields } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const API = '/admin/api/v1';

describe.each(DRIVERS)('app and user lifecycle on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> & { items?: Record<string, unknown>[] } }>;
  let tenantCall: typeof call;
  let tenantCallRaw: (type: string, body: string | Uint8Array<ArrayBuffer>) => Promise<{ status: number; body: Record<string, unknown> }>;

  let lastRaw: typeof tenantCallRaw;
  const clientFor = async (login: { tenant: string; username: string; password: string }) => {
    const browser = new Browser(t.issuer);
    const page = await browser.follow(`${t.issuer}/`);
    await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), ...login })).location!);
    const { csrf_token: csrf } = JSON.parse((await browser.request(`${t.issuer}${API}/session`, { headers: { accept: 'application/json' } })).body) as { csrf_token: string };
    const raw = async (type: string, text: string | Uint8Array<ArrayBuffer>) => {
      const res = await browser.request(`${t.issuer}${API}/tenants/${seed.acme.id}/users:import`, { method: 'POST', headers: { accept: 'application/json', 'x-csrf-token': csrf, 'content-type': type }, body: text });
      return { status: res.status, body: res.body ? JSON.parse(res.body) : {} };
    };
    lastRaw = raw;
    return async (method: string, path: string, body?: unknown) => {
      const res = await browser.request(`${t.issuer}${API}${path}`, {
        method,
        headers: { accept: 'application/json', 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: res.body ? JSON.parse(res.body) : {} };
    };
  };

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    await ensurePlatformAdmin(t.atrium.directory, 'platform admin password 1');
    await t.atrium.directory.users.create(seed.acme.id, { username: 'boss', password: PASSWORD, role: 'admin' });
    call = await clientFor({ tenant: 'platform', username: 'admin', password: 'platform admin password 1' });
    tenantCall = await clientFor({ tenant: 'acme', username: 'boss', password: PASSWORD });
    tenantCallRaw = lastRaw;
  });
  afterAll(() => t.close());

  /** Registers an app through the API, assigns it to acme and signs alice in to it. */
  async function appWithTokens(name: string) {
    const created = await call('POST', '/apps', { name, redirectUris: [`https://${name}.test/cb`] });
    const clientId = created.body.clientId as string;
    const secret = created.body.client_secret as string;
    await call('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}`, {});
    const config = await oidc.discovery(new URL(t.issuer), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: `https://${name}.test/cb`, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const page = await authorize(new Browser(t.issuer), url.href, aliceLogin);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: 's' });
    return { clientId, secret, config, tokens };
  }

  /** Today's events of a type in the platform's trail (where app changes go), oldest first. */
  const platformEvents = async (type: string) => {
    const platform = await t.atrium.directory.tenants.require('platform');
    const events = await t.atrium.directory.audit.ofDay(platform.id, new Date().toISOString().slice(0, 10));
    return events.filter((e) => e.type === type) as unknown as { clientId?: string; detail: { before: string; after: string } }[];
  };

  const introspect = (clientId: string, secret: string, token: string) =>
    fetch(`${t.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { active?: boolean; error?: string } }));

  it('rotates a secret: the old one keeps working during the grace period, then is refused', async () => {
    const { clientId, secret, tokens } = await appWithTokens('rotating');
    const rotated = await call('POST', `/apps/${clientId}/rotate-secret`, { graceSeconds: 2 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.client_secret as string;
    expect(fresh).not.toBe(secret);
    expect((await introspect(clientId, fresh, tokens.access_token)).body.active).toBe(true);
    expect((await introspect(clientId, secret, tokens.access_token)).body.active).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await introspect(clientId, secret, tokens.access_token)).body.error).toBe('invalid_client');
    expect((await introspect(clientId, fresh, tokens.access_token)).body.active).toBe(true);
    // The audit trail has the rotation, never a secret.
    const audit = JSON.stringify((await call('GET', `/tenants/${(await t.atrium.directory.tenants.byCode('platform'))!.id}/audit?type=admin.app.rotate_secret`)).body);
    expect(audit).toContain('admin.app.rotate_secret');
    expect(audit).not.toContain(fresh);
  });

  it('refuses the old secret at once with a grace period of 0', async () => {
    const { clientId, secret, tokens } = await appWithTokens('instant');
    await call('POST', `/apps/${clientId}/rotate-secret`, { graceSeconds: 0 });
    expect((await introspect(clientId, secret, tokens.access_token)).status).toBe(401);
  });

  it('refuses a second rotation while the first one’s grace period runs (it would cut off the secret in use), unless with a grace period of 0', async () => {
    const { clientId, secret, tokens } = await appWithTokens('twice');
    const first = await call('POST', `/apps/${clientId}/rotate-secret`, {});
    expect(first.status).toBe(200);
    // A double-click, or a second admin: refused, and the secret the app still uses keeps working.
    const second = await call('POST', `/apps/${clientId}/rotate-secret`, { graceSeconds: 3600 });
    expect(second.status).toBe(409);
    expect(second.body.error_description).toContain(first.body.previous_secret_expires_at as string);
    expect((await introspect(clientId, secret, tokens.access_token)).body.active).toBe(true);
    expect((await introspect(clientId, first.body.client_secret as string, tokens.access_token)).body.active).toBe(true);
    // An emergency rotation ends every old secret at once.
    const emergency = await call('POST', `/apps/${clientId}/rotate-secret`, { graceSeconds: 0 });
    expect(emergency.status).toBe(200);
    expect((await introspect(clientId, secret, tokens.access_token)).status).toBe(401);
    expect((await introspect(clientId, first.body.client_secret as string, tokens.access_token)).status).toBe(401);
    expect((await introspect(clientId, emergency.body.client_secret as string, tokens.access_token)).body.active).toBe(true);
    // With no grace period running, a rotation is accepted again.
    const later = await call('POST', `/apps/${clientId}/rotate-secret`, {});
    expect(later.status).toBe(200);

    // The replaced secret leaked: its grace period is ended, and the current one stays.
    const leaked = emergency.body.client_secret as string;
    const current = later.body.client_secret as string;
    expect((await introspect(clientId, leaked, tokens.access_token)).body.active).toBe(true);
    expect((await call('POST', `/apps/${clientId}/end-previous-secret`)).body).toEqual({ client_id: clientId, previous_secret_ended: true });
    expect((await introspect(clientId, leaked, tokens.access_token)).status).toBe(401);
    expect((await introspect(clientId, current, tokens.access_token)).body.active).toBe(true);
    expect((await call('POST', `/apps/${clientId}/end-previous-secret`)).body).toEqual({ client_id: clientId, previous_secret_ended: false });
    // …and a rotation with a grace period is accepted again at once.
    expect((await call('POST', `/apps/${clientId}/rotate-secret`, {})).status).toBe(200);
    const ended = (await platformEvents('admin.app.end_previous_secret')).filter((e) => e.clientId === clientId);
    expect(ended).toHaveLength(2);
    expect(JSON.stringify(ended)).not.toContain(leaked);
  });

  it('updates an app, validating its redirect URIs', async () => {
    const { clientId } = await appWithTokens('updatable');
    expect((await call('PATCH', `/apps/${clientId}`, { description: 'New words' })).body.description).toBe('New words');
    expect((await call('PATCH', `/apps/${clientId}`, { redirectUris: ['https://ok.test/cb#frag'] })).body.error_description).toMatch(/^redirectUris\.0: must not contain a fragment/);
    expect((await call('PATCH', `/apps/${clientId}`, { type: 'public' })).status).toBe(400);
    // Audited with the version the change replaced (after a change made meanwhile elsewhere) and the new one.
    await t.atrium.directory.apps.update(clientId, { name: 'Renamed elsewhere' });
    await call('PATCH', `/apps/${clientId}`, { description: 'Newer words' });
    const updates = (await platformEvents('admin.app.update')).filter((e) => e.clientId === clientId);
    expect(updates.map((e) => [JSON.parse(e.detail.before).name, JSON.parse(e.detail.before).description, JSON.parse(e.detail.after).description])).toEqual([
      ['updatable', '', 'New words'],
      ['Renamed elsewhere', 'New words', 'Newer words'],
    ]);
  });

  it('deletes an app and revokes every token issued to it', async () => {
    const { clientId, tokens, config } = await appWithTokens('doomed');
    expect((await call('DELETE', `/apps/${clientId}`)).status).toBe(204);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toBeDefined();
    const stored = await clientGrantIds(t.atrium.store, clientId);
    expect(stored).toEqual([]);
    expect((await call('GET', `/tenants/${seed.acme.id}/assignments`)).body.items!.map((a) => a.clientId)).not.toContain(clientId);
    const deleted = (await platformEvents('admin.app.delete')).find((e) => e.clientId === clientId);
    expect([JSON.parse(deleted!.detail.before).name, JSON.parse(deleted!.detail.after)]).toEqual(['doomed', { grantsRevoked: 1 }]);
  });

  it('stops refresh and userinfo for an app whose assignment has expired', async () => {
    const { clientId, tokens, config } = await appWithTokens('expiring');
    // An end already past is refused (a mistake: unassigning ends a subscription now).
    const past = await call('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}`, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(past).toMatchObject({ status: 400, body: { error_description: 'expiresAt: must be in the future (to end a subscription now, unassign the app)' } });
    const ending = Date.now() + 300;
    expect((await call('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}`, { expiresAt: new Date(ending).toISOString() })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, ending + 10 - Date.now()));
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(config, tokens.access_token, seed.alice.id)).rejects.toBeDefined();
  });

  it('lets a tenant admin choose which users see a subscribed app, but not subscribe to new apps', async () => {
    const { clientId } = await appWithTokens('chosen');
    const chosen = await tenantCall('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}/users`, { userIds: [seed.carol.id] });
    expect(chosen.status).toBe(200);
    expect(await t.atrium.directory.assignments.decide(seed.alice, clientId)).toBe('not_listed');
    expect(await t.atrium.directory.assignments.decide(seed.carol, clientId)).toBe('granted');
    // The platform renewing the subscription keeps the tenant admin's choice, and audits the version it replaced.
    const renewed = await call('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}`, { expiresAt: '2031-01-01T00:00:00Z' });
    expect(renewed.body).toMatchObject({ expiresAt: '2031-01-01T00:00:00.000Z', userIds: [seed.carol.id] });
    expect(await t.atrium.directory.assignments.decide(seed.alice, clientId)).toBe('not_listed');
    const audited = (await t.atrium.directory.audit.ofDay(seed.acme.id, new Date().toISOString().slice(0, 10))).filter((e) => e.type === 'admin.assignment.put' && e.clientId === clientId).at(-1);
    expect(JSON.parse(String(audited?.detail?.before))).toMatchObject({ userIds: [seed.carol.id] });
    expect(JSON.parse(String(audited?.detail?.before)).expiresAt).toBeUndefined();
    await tenantCall('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}/users`, { userIds: [] });
    expect(await t.atrium.directory.assignments.decide(seed.alice, clientId)).toBe('granted');
    expect((await tenantCall('PUT', `/tenants/${seed.acme.id}/assignments/${seed.globexApp.app.clientId}/users`, { userIds: [] })).status).toBe(404);
    expect((await tenantCall('PUT', `/tenants/${seed.acme.id}/assignments/${seed.unassigned.app.clientId}`, {})).status).toBe(403);
    expect((await tenantCall('PUT', `/tenants/${seed.acme.id}/assignments/${clientId}/users`, { userIds: [seed.bob.id] })).status).toBe(404);
  });

  it('counts tokens issued, refreshed and revoked per tenant and day', async () => {
    const before = (await call('GET', `/tenants/${seed.acme.id}/audit/counts`)).body.counts as Record<string, number>;
    const { clientId, secret, config, tokens } = await appWithTokens('counted');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await fetch(`${t.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.refresh_token! }),
    });
    await expect
      .poll(async () => (await call('GET', `/tenants/${seed.acme.id}/audit/counts`)).body.counts)
      .toMatchObject({
        'token.authorization_code': before['token.authorization_code']! + 1,
        'token.refresh_token': before['token.refresh_token']! + 1,
        'token.revoked': before['token.revoked']! + 1,
      });
    expect((await call('GET', `/tenants/${seed.acme.id}/audit/counts?day=yesterday`)).body.error_description).toMatch(/^day: /);
  });

  it('imports users over the API: CSV and JSON lines, errors by line, idempotent', async () => {
    const post = async (type: string, body: string) => {
      const res = await fetch(`${t.issuer}${API}/tenants/${seed.acme.id}/users:import`, { method: 'POST', headers: { 'content-type': type, accept: 'application/json' }, body });
      return res.status;
    };
    expect(await post('text/csv', 'username\nx')).toBe(401); // the session is required
    const csv = 'username,password,name\nkim,a fine passphrase,Kim\nlee,another passphrase,Lee\n';
    const first = await tenantCallRaw('text/csv', csv);
    expect(first).toMatchObject({ status: 200, body: { rows: 2, created: 2, updated: 0 } });
    const second = await tenantCallRaw('application/x-ndjson', '{"username":"kim","name":"Kim K."}\n{"username":"lee"}\n');
    expect(second.body).toMatchObject({ created: 0, updated: 2 });
    const bad = await tenantCallRaw('text/csv', 'username,password\nok,a fine passphrase\nbad!,x\n');
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { line: number }[]).map((e) => e.line)).toEqual([3]);
    expect((await tenantCallRaw('application/xml', '<x/>')).status).toBe(415);
    // Saved as Latin-1: refused, not imported with a mangled name and password.
    const latin1 = await tenantCallRaw('text/csv', Buffer.from('username,password,name\njose,contraseña segura,José García\n', 'latin1'));
    expect(latin1).toMatchObject({ status: 400, body: { errors: [{ line: 2, message: 'not UTF-8: save the file as UTF-8 and import it again' }] } });
    expect(await t.atrium.directory.users.byUsername(seed.acme.id, 'jose')).toBeUndefined();
    // One row too many (short rows, well within the body limit) is refused whole, before any work.
    const long = `username\n${Array.from({ length: MAX_API_IMPORT_ROWS + 1 }, (_, i) => `u${i}`).join('\n')}\n`;
    const tooLong = await tenantCallRaw('text/csv', long);
    expect(tooLong).toMatchObject({ status: 400, body: { errors: [{ line: 1, message: `at most ${MAX_API_IMPORT_ROWS} rows per import (this file has ${MAX_API_IMPORT_ROWS + 1}): split it` }] } });
    expect(await t.atrium.directory.users.byUsername(seed.acme.id, 'u0')).toBeUndefined();
  });

  it('audits an import: its counts, and on their own who it made admins, demoted, or gave a new admin password; never a password', async () => {
    const first = await tenantCallRaw('text/csv', 'username,password,role\nada,a fine passphrase,admin\nida,a fine passphrase,user\n');
    const second = await tenantCallRaw('text/csv', 'username,password,role\nada,a newer passphrase,\nida,,admin\nkim,,user\n');
    expect([first.status, second.status]).toEqual([200, 200]);
    const ada = (await t.atrium.directory.users.byUsername(seed.acme.id, 'ada'))!;
    const ida = (await t.atrium.directory.users.byUsername(seed.acme.id, 'ida'))!;
    const events = (await tenantCall('GET', `/tenants/${seed.acme.id}/audit?limit=200`)).body.items! as { type: string; userId?: string; detail: { before: string; after: string } }[];
    const about = (userId: string) => events.filter((e) => e.userId === userId).map((e) => [e.type, e.detail.before, e.detail.after]);
    expect(about(ada.id)).toEqual([
      ['admin.user.create', 'null', '{"username":"ada","role":"admin"}'],
      ['admin.user.reset_password', 'null', 'null'],
    ]);
    expect(about(ida.id)).toEqual([['admin.user.update', '{"role":"user"}', '{"role":"admin"}']]);
    const imports = events.filter((e) => e.type === 'admin.user.import').slice(-2).map((e) => JSON.parse(e.detail.after) as unknown);
    expect(imports).toEqual([
      { created: 2, updated: 0, passwordsReset: 0 },
      { created: 0, updated: 3, passwordsReset: 1 },
    ]);
    expect(JSON.stringify(events)).not.toMatch(/passphrase|\$argon2/);
  });

  it('audits what an import wrote when it stops halfway, and runs one import per tenant at a time', async () => {
    await t.atrium.directory.users.create(seed.acme.id, { username: 'tmp', password: PASSWORD });
    const filler = Array.from({ length: 60 }, (_, i) => `filler${i},a fine passphrase,user`).join('\n');
    // A new admin first, the existing user tmp (no password) last: deleted while the import runs.
    const running = tenantCallRaw('text/csv', `username,password,role\nevil,a fine passphrase,admin\n${filler}\ntmp,,user\n`);
    await expect.poll(() => t.atrium.directory.users.byUsername(seed.acme.id, 'evil'), { interval: 5, timeout: 20_000 }).toBeDefined();
    const tmp = (await t.atrium.directory.users.byUsername(seed.acme.id, 'tmp'))!;
    expect((await tenantCall('DELETE', `/tenants/${seed.acme.id}/users/${tmp.id}`)).status).toBe(204);
    // Meanwhile a second import into the same tenant is refused.
    const second = await tenantCallRaw('text/csv', 'username,password\nlate,a fine passphrase\n');
    expect([second.status, second.body.error]).toEqual([409, 'conflict']);

    const stopped = await running;
    expect(stopped.status).toBe(409);
    expect(stopped.body.error_description).toMatch(/^line 63: user tmp was deleted while the import ran, and the row has no password to make it again \(the import stopped after writing 61 of 62 rows; run it again to complete it\)$/);
    const evil = (await t.atrium.directory.users.byUsername(seed.acme.id, 'evil'))!;
    const events = (await tenantCall('GET', `/tenants/${seed.acme.id}/audit?limit=200`)).body.items! as { type: string; userId?: string; detail: { after: string; stopped?: string } }[];
    expect(events.filter((e) => e.userId === evil.id).map((e) => e.type)).toEqual(['admin.user.create']);
    const summary = events.filter((e) => e.type === 'admin.user.import').at(-1)!;
    expect([JSON.parse(summary.detail.after), summary.detail.stopped]).toEqual([{ created: 61, updated: 0, passwordsReset: 0 }, expect.stringMatching(/^line 63: user tmp was deleted/)]);
    // The import has ended: the next one runs.
    expect((await tenantCallRaw('text/csv', 'username,password\nlate,a fine passphrase\n')).status).toBe(200);
  });

  it('lists a tenant’s sessions and deletes a user, ending their sessions', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'henry', password: PASSWORD });
    const browser = new Browser(t.issuer);
    const page = await browser.follow(`${t.issuer}/`);
    await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), tenant: 'acme', username: 'henry', password: PASSWORD })).location!);
    const sessions = await tenantCall('GET', `/tenants/${seed.acme.id}/sessions?q=henry`);
    expect(sessions.body.items).toHaveLength(1);
    expect(sessions.body.items![0]).toMatchObject({ user_id: user.id, username: 'henry' });
    // Newest sign-in first, page after page: henry signs in again a second later, elsewhere.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const elsewhere = new Browser(t.issuer);
    const again = await elsewhere.follow(`${t.issuer}/`);
    await elsewhere.follow((await elsewhere.post(`${t.issuer}${new URL(again.url).pathname}/login`, { ...hiddenFields(again.body), tenant: 'acme', username: 'henry', password: PASSWORD })).location!);
    const first = await tenantCall('GET', `/tenants/${seed.acme.id}/sessions?q=henry&limit=1`);
    const second = await tenantCall('GET', `/tenants/${seed.acme.id}/sessions?q=henry&limit=1&cursor=${first.body.next_cursor as string}`);
    const times = [first, second].map((page) => (page.body.items![0] as { signedInAt: string }).signedInAt);
    expect(Date.parse(times[0]!)).toBeGreaterThan(Date.parse(times[1]!));
    expect(second.body.next_cursor).toBeNull();

    expect((await tenantCall('DELETE', `/tenants/${seed.acme.id}/users/${user.id}`)).status).toBe(204);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(303);
    expect(await t.atrium.directory.users.byUsername(seed.acme.id, 'henry')).toBeUndefined();
    // The username is free again.
    await expect(t.atrium.directory.users.create(seed.acme.id, { username: 'henry', password: PASSWORD })).resolves.toBeDefined();
  });
});

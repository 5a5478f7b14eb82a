/** The admin API on both drivers: its OpenAPI document, authentication, roles, every route, isolation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { Browser, hiddenFields } from '../helpers/browser.js';
import { PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const API = '/admin/api/v1';
const ADMIN_PASSWORD = 'platform admin password 1';

interface Operation {
  'x-platform-admin-only': boolean;
  parameters: { name: string; in: string }[];
}

describe.each(DRIVERS)('admin API on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let doc: { paths: Record<string, Record<string, Operation>> };

  /** An admin client: an Atrium session signed in through the login page, plus its CSRF token. */
  async function adminClient(login: { tenant: string; username: string; password: string }) {
    const browser = new Browser(t.issuer);
    const page = await browser.follow(`${t.issuer}/`);
    await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), ...login })).location!);
    const session = await browser.request(`${t.issuer}${API}/session`, { headers: { accept: 'application/json' } });
    const csrf = session.status === 200 ? (JSON.parse(session.body) as { csrf_token: string }).csrf_token : '';
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await browser.request(`${t.issuer}${API}${path}`, {
        method,
        headers: { accept: 'application/json', 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: res.body ? (JSON.parse(res.body) as Record<string, unknown> & { items?: Record<string, unknown>[] }) : {} };
    };
    return { call, browser, sessionStatus: session.status };
  }

  let platform: Awaited<ReturnType<typeof adminClient>>;
  let acmeAdmin: Awaited<ReturnType<typeof adminClient>>;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    await ensurePlatformAdmin(t.atrium.directory, ADMIN_PASSWORD);
    await t.atrium.directory.users.create(seed.acme.id, { username: 'boss', password: PASSWORD, role: 'admin' });
    platform = await adminClient({ tenant: 'platform', username: 'admin', password: ADMIN_PASSWORD });
    acmeAdmin = await adminClient({ tenant: 'acme', username: 'boss', password: PASSWORD });
    doc = (await (await fetch(`${t.issuer}/admin/api/openapi.json`)).json()) as typeof doc;
  });
  afterAll(() => t.close());

  describe('the OpenAPI document', () => {
    it('is OpenAPI 3.1 and lists every route the server has, and nothing else', async () => {
      expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
      const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
      const served = t.atrium.adminRoutes.filter((r) => r.includes(`${API}/`));
      expect(documented.sort()).toEqual([...new Set(served)].sort());
      expect(t.atrium.adminRoutes).toContain('GET /admin/api/openapi.json');
    });

    it('has no route that the server does not answer', async () => {
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) {
          // Ids that exist nowhere: the route must answer, with its own "not found", not the router's.
          const concrete = path.replace(/\{\w+\}/g, '0'.repeat(32)).slice(API.length);
          const res = await platform.call(method.toUpperCase(), concrete, ['post', 'put', 'patch'].includes(method) ? {} : undefined);
          expect([404, 405].includes(res.status) && res.body.error_description === 'There is nothing at this address', `${method} ${path}`).toBe(false);
          expect(res.status, `${method} ${path}`).toBeLessThan(500);
        }
      }
    });

    it('answers unknown admin paths with a JSON 404', async () => {
      const res = await platform.call('GET', '/no-such-thing');
      expect(res.status).toBe(404);
      expect(res.body.error).toBe('not_found');
    });
  });

  describe('authentication', () => {
    it('refuses callers who are not signed in, and users who are not admins', async () => {
      expect((await fetch(`${t.issuer}${API}/tenants`, { headers: { accept: 'application/json' } })).status).toBe(401);
      const alice = await adminClient({ tenant: 'acme', username: 'alice', password: PASSWORD });
      expect(alice.sessionStatus).toBe(403);
      expect((await alice.call('GET', `/tenants/${seed.acme.id}/users`)).status).toBe(403);
    });

    it('refuses a state-changing request without the CSRF header', async () => {
      const res = await platform.call('POST', '/tenants', { code: 'nocsrf', name: 'No CSRF' }, { 'x-csrf-token': '' });
      expect(res.status).toBe(403);
      expect((await t.atrium.directory.tenants.byCode('nocsrf'))).toBeUndefined();
    });

    it('refuses a CSRF header of the right length in characters but not in bytes with 403, not 500', async () => {
      const res = await platform.call('POST', '/tenants', { code: 'widecsrf', name: 'Wide CSRF' }, { 'x-csrf-token': `\u00e9${'a'.repeat(42)}` });
      expect(res.status).toBe(403);
      expect((await t.atrium.directory.tenants.byCode('widecsrf'))).toBeUndefined();
    });

    it('accepts no bearer token in place of the session', async () => {
      const res = await fetch(`${t.issuer}${API}/tenants`, { headers: { accept: 'application/json', authorization: 'Bearer something' } });
      expect(res.status).toBe(401);
    });
  });

  describe('the platform admin', () => {
    it('creates tenants, apps and assignments, and lists them with search and pagination', async () => {
      const tenant = await platform.call('POST', '/tenants', { code: 'initech', name: 'Initech' });
      expect(tenant.status).toBe(201);
      expect(tenant.body).toMatchObject({ code: 'initech', name: 'Initech', status: 'active' });

      const app = await platform.call('POST', '/apps', { name: 'Payroll', redirectUris: ['https://payroll.test/cb'] });
      expect(app.status).toBe(201);
      expect(app.body.client_secret).toEqual(expect.any(String));
      const fetched = await platform.call('GET', `/apps/${app.body.clientId as string}`);
      expect(fetched.body.client_secret).toBeUndefined();
      expect(JSON.stringify(fetched.body)).not.toContain('secretHash');

      const assigned = await platform.call('PUT', `/tenants/${tenant.body.id as string}/assignments/${app.body.clientId as string}`, { expiresAt: '2031-01-01T00:00:00Z' });
      expect(assigned.status).toBe(200);
      expect((await platform.call('GET', `/tenants/${tenant.body.id as string}/assignments`)).body.items).toHaveLength(1);
      expect((await platform.call('DELETE', `/tenants/${tenant.body.id as string}/assignments/${app.body.clientId as string}`)).status).toBe(204);

      const first = await platform.call('GET', '/tenants?limit=1');
      expect(first.body.items).toHaveLength(1);
      const second = await platform.call('GET', `/tenants?limit=1&cursor=${first.body.next_cursor as string}`);
      expect(second.body.items![0]!.code).not.toBe(first.body.items![0]!.code);
      expect((await platform.call('GET', '/tenants?q=glob')).body.items!.map((i) => i.code)).toEqual(['globex']);
    });

    it('answers invalid input with 400 naming the field', async () => {
      const res = await platform.call('POST', '/tenants', { code: '!', name: 'Bad' });
      expect(res.status).toBe(400);
      expect(res.body.error_description).toMatch(/^code: /);
      const uri = await platform.call('POST', '/apps', { name: 'Bad', redirectUris: ['http://evil.test/cb'] });
      expect(uri.body.error_description).toMatch(/^redirectUris\.0: must use https/);
      expect((await platform.call('GET', '/tenants?limit=1000')).body.error_description).toMatch(/^limit: /);
      expect((await platform.call('GET', '/tenants?cursor=nonsense')).body.error_description).toMatch(/^cursor: /);
      // Said for people, not in the validation library's words.
      expect((await platform.call('POST', '/tenants', { name: 'No code' })).body.error_description).toBe('code: is required');
      expect((await platform.call('POST', '/tenants', { code: 'long', name: 'x'.repeat(201) })).body.error_description).toBe('name: must have at most 200 characters');
      expect((await platform.call('GET', '/tenants?limit=abc')).body.error_description).toBe('limit: must be a number');
      expect((await platform.call('POST', '/apps/nope/rotate-secret', { graceSeconds: 1.5 })).body.error_description).toBe('graceSeconds: must be a whole number');
    });
  });

  describe('the tenant admin', () => {
    it('manages their tenant’s users: create, update, disable, enable, unlock, reset password, sessions', async () => {
      const base = `/tenants/${seed.acme.id}/users`;
      const created = await acmeAdmin.call('POST', base, { username: 'gina', password: 'a sensible passphrase', name: 'Gina' });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(created.body.passwordHash).toBeUndefined();
      expect((await acmeAdmin.call('PATCH', `${base}/${id}`, { email: 'gina@acme.test', role: 'user' })).body.email).toBe('gina@acme.test');
      expect((await acmeAdmin.call('PATCH', `${base}/${id}`, { password: 'x' })).status).toBe(400);

      const gina = new Browser(t.issuer);
      const page = await gina.follow(`${t.issuer}/`);
      await gina.follow((await gina.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), tenant: 'acme', username: 'gina', password: 'a sensible passphrase' })).location!);
      expect((await acmeAdmin.call('GET', `${base}/${id}/sessions`)).body.items).toHaveLength(1);

      const disabled = await acmeAdmin.call('POST', `${base}/${id}/disable`);
      expect(disabled.body).toMatchObject({ status: 'disabled', sessions_ended: 1 });
      expect((await gina.get(`${t.issuer}/`)).status).toBe(303);
      expect((await acmeAdmin.call('POST', `${base}/${id}/enable`)).body.status).toBe('active');

      expect((await acmeAdmin.call('POST', `${base}/${id}/reset-password`, { password: 'password1' })).status).toBe(400);
      expect((await acmeAdmin.call('POST', `${base}/${id}/reset-password`, { password: 'another fine passphrase' })).body).toEqual({ reset: true });
      expect((await t.atrium.directory.authenticate({ tenant: 'acme', username: 'gina', password: 'another fine passphrase' })).ok).toBe(true);

      await t.atrium.directory.throttle.attempt('acme', 'gina', undefined); // a failed attempt
      expect((await acmeAdmin.call('POST', `${base}/${id}/unlock`)).body).toEqual({ unlocked: true });
      expect(await t.atrium.directory.throttle.failures('acme', 'gina')).toBe(0);

      expect((await acmeAdmin.call('DELETE', `${base}/${id}/sessions`)).body).toEqual({ sessions_ended: 0 });
    });

    it('reads the audit trail of admin changes, with who, what, before and after, and no secrets', async () => {
      const events = await acmeAdmin.call('GET', `/tenants/${seed.acme.id}/audit?type=admin.user.update`);
      expect(events.status).toBe(200);
      const update = events.body.items!.at(-1)!;
      expect(update).toMatchObject({ type: 'admin.user.update', tenantId: seed.acme.id, ip: expect.any(String) });
      expect(JSON.stringify(update)).toContain('gina@acme.test');
      const all = await acmeAdmin.call('GET', `/tenants/${seed.acme.id}/audit?limit=200`);
      const text = JSON.stringify(all.body);
      expect(text).not.toContain('another fine passphrase');
      expect(text).not.toContain('$argon2id$');
      expect(all.body.items!.some((e) => e.type === 'signin.success')).toBe(true);
      // Longer than the 31 days one query reads: refused, not cut short of its newest events.
      const long = await acmeAdmin.call('GET', `/tenants/${seed.acme.id}/audit?from=${new Date(Date.now() - 90 * 86_400_000).toISOString()}`);
      expect(long).toMatchObject({ status: 400, body: { error: 'invalid_input', error_description: 'to: at most 31 days after from' } });
    });

    it('does not let an admin disable, delete or demote their own account (nobody might be left to undo it); another admin can', async () => {
      const boss = (await t.atrium.directory.users.byUsername(seed.acme.id, 'boss'))!;
      const own = `/tenants/${seed.acme.id}/users/${boss.id}`;
      for (const [method, path, body] of [['POST', `${own}/disable`, undefined], ['DELETE', own, undefined], ['PATCH', own, { role: 'user' }]] as const) {
        const refused = await acmeAdmin.call(method, path, body);
        expect([refused.status, refused.body.error_description]).toEqual([400, expect.stringMatching(/^You cannot (disable|delete|demote) your own account; another administrator can$/)]);
      }
      expect(await t.atrium.directory.users.byId(boss.id)).toMatchObject({ status: 'active', role: 'admin' });
      // Their own name is theirs to change; the platform admin may do what they may not.
      expect((await acmeAdmin.call('PATCH', own, { name: 'The Boss', role: 'admin' })).status).toBe(200);
      expect((await platform.call('PATCH', own, { role: 'user' })).body.role).toBe('user');
      expect((await platform.call('PATCH', own, { role: 'admin' })).body.role).toBe('admin');
    });

    it('sees only their own tenant in the tenant list', async () => {
      expect((await acmeAdmin.call('GET', '/tenants')).body.items!.map((i) => i.code)).toEqual(['acme']);
    });

    it('gets 404 for every tenant-scoped route of another tenant, and 403 for platform routes (enumerated from the document)', async () => {
      const foreign = await t.atrium.directory.users.create(seed.globex.id, { username: 'victim', password: PASSWORD });
      const checked: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const concrete = path
            .replace('{tenantId}', seed.globex.id)
            .replace('{userId}', foreign.id)
            .replace('{clientId}', seed.globexApp.app.clientId)
            .slice(API.length);
          const res = await acmeAdmin.call(method.toUpperCase(), concrete, ['post', 'put', 'patch'].includes(method) ? { name: 'x', password: 'p', code: 'zz' } : undefined);
          const expected = op['x-platform-admin-only'] ? 403 : path.includes('{tenantId}') ? 404 : 200;
          expect(res.status, `${method.toUpperCase()} ${path}`).toBe(expected);
          checked.push(`${method} ${path}`);
        }
      }
      expect(checked.length).toBe(Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0));
      // And with the tenant admin's own tenant but another tenant's user: 404 too.
      for (const suffix of ['', '/sessions']) {
        expect((await acmeAdmin.call('GET', `/tenants/${seed.acme.id}/users/${foreign.id}${suffix}`)).status).toBe(404);
      }
      expect((await t.atrium.directory.users.byId(foreign.id))?.status).toBe('active');
    });
  });
});

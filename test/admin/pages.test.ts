/**
 * The admin pages' server side on both drivers: what each page renders from the admin API's data
 * (the actions it offers, the forms an ?edit= or ?app= opens, the audit trail by name). The clicks
 * themselves are walked in Chromium, in test/e2e/admin.browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { Browser, hiddenFields } from '../helpers/browser.js';
import { PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const ADMIN_PASSWORD = 'platform admin password 1';

describe.each(DRIVERS)('admin pages on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let platform: Browser;
  let boss: Browser;
  let bossId: string;

  /** A browser signed in through the login page. */
  async function signedIn(login: { tenant: string; username: string; password: string }): Promise<Browser> {
    const browser = new Browser(t.issuer);
    const page = await browser.follow(`${t.issuer}/`);
    await browser.follow((await browser.post(`${t.issuer}${new URL(page.url).pathname}/login`, { ...hiddenFields(page.body), ...login })).location!);
    return browser;
  }

  /** The admin API, called as a browser signed in as an admin does (with the CSRF header). */
  async function api(browser: Browser, method: string, path: string, body?: unknown): Promise<number> {
    const session = await browser.request(`${t.issuer}/admin/api/v1/session`, { headers: { accept: 'application/json' } });
    const { csrf_token: csrf } = JSON.parse(session.body) as { csrf_token: string };
    const res = await browser.request(`${t.issuer}/admin/api/v1${path}`, {
      method,
      headers: { accept: 'application/json', 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return res.status;
  }

  const csrfOf = async (browser: Browser): Promise<string> =>
    (JSON.parse((await browser.request(`${t.issuer}/admin/api/v1/session`, { headers: { accept: 'application/json' } })).body) as { csrf_token: string }).csrf_token;

  const page = async (browser: Browser, path: string) => {
    const res = await browser.get(`${t.issuer}${path}`);
    return { status: res.status, html: res.body };
  };
  /** The HTML of the table row (or other element) with this attribute. */
  const row = (html: string, attribute: string): string => new RegExp(`<tr ${attribute}>([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
  const buttons = (html: string): string[] => [...html.matchAll(/<button[^>]*>([^<]*)<\/button>/g)].map((m) => m[1]!);

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    await ensurePlatformAdmin(t.atrium.directory, ADMIN_PASSWORD);
    bossId = (await t.atrium.directory.users.create(seed.acme.id, { username: 'boss', password: PASSWORD, role: 'admin' })).id;
    platform = await signedIn({ tenant: 'platform', username: 'admin', password: ADMIN_PASSWORD });
    boss = await signedIn({ tenant: 'acme', username: 'boss', password: PASSWORD });
  });
  afterAll(() => t.close());

  it('offers every action on a user’s row but no disable or delete on the signed-in admin’s own, and Unlock only for a locked account', async () => {
    const { html } = await page(boss, '/admin/users');
    expect(buttons(row(html, 'data-username="alice"'))).toEqual(['Disable', 'End sessions', 'Delete', 'Set password']);
    const own = row(html, 'data-username="boss"');
    expect(own).toContain('<span class="badge">you</span>');
    expect(buttons(own)).toEqual(['End sessions', 'Set password']);
    // Locked by failed sign-ins: said, and Unlock offered (the API's list says `locked`).
    for (let i = 0; i < 200 && !(await t.atrium.directory.throttle.attempt('acme', 'carol', undefined)).locked; i += 1);
    const locked = row((await page(boss, '/admin/users')).html, 'data-username="carol"');
    expect(buttons(locked)).toEqual(['Disable', 'Unlock', 'End sessions', 'Delete', 'Set password']);
    expect(locked).toMatch(/<span class="badge warn" title="Too many failed sign-ins[^"]*">locked<\/span>/);
    expect(JSON.parse((await boss.request(`${t.issuer}/admin/api/v1/tenants/${seed.acme.id}/users?q=carol`, { headers: { accept: 'application/json' } })).body).items[0].locked).toBe(true);
    await t.atrium.directory.throttle.unlock('acme', 'carol');
    expect(buttons(row((await page(boss, '/admin/users')).html, 'data-username="carol"'))).not.toContain('Unlock');
    expect(own).not.toContain(`/users/${bossId}/disable`);
    expect(own).not.toContain(`data-api="DELETE /tenants/${seed.acme.id}/users/${bossId}"`);
  });

  it('opens a user’s edit form with ?edit=, filled with their name, e-mail, mobile and role; none for a user of another tenant', async () => {
    const { html: list } = await page(boss, '/admin/users');
    expect(row(list, 'data-username="alice"')).toContain(`href="/admin/users?tenant=${seed.acme.id}&amp;edit=${seed.alice.id}#edit"`);
    expect(list).not.toContain('id="edit"');

    const { status, html } = await page(boss, `/admin/users?tenant=${seed.acme.id}&edit=${seed.alice.id}`);
    expect(status).toBe(200);
    expect(html).toContain(`data-api="PATCH /tenants/${seed.acme.id}/users/${seed.alice.id}"`);
    expect(html).toMatch(/<input id="e-name" name="name" value="Alice Liddell"/);
    expect(html).toMatch(/<input id="e-email" name="email" type="text" inputmode="email" value="alice@acme.test"/);
    expect(html).toMatch(/<input id="e-mobile" name="mobile" type="tel" value="\+86 138 0000 0000"/);
    expect(html).toMatch(/<select id="e-role" name="role"><option value="user" selected>/);

    // Bob is of globex: not found, whichever tenant the page is asked to show.
    expect((await page(boss, `/admin/users?tenant=${seed.acme.id}&edit=${seed.bob.id}`)).status).toBe(404);
    expect((await page(boss, `/admin/users?tenant=${seed.globex.id}&edit=${seed.bob.id}`)).status).toBe(404);
    expect((await page(platform, `/admin/users?tenant=${seed.globex.id}&edit=${seed.bob.id}`)).status).toBe(200);
  });

  it('offers no role on the signed-in admin’s own edit form (the API refuses a demotion of oneself)', async () => {
    const { html } = await page(boss, `/admin/users?tenant=${seed.acme.id}&edit=${bossId}`);
    expect(html).toContain(`data-api="PATCH /tenants/${seed.acme.id}/users/${bossId}"`);
    const form = /<form class="admin-form" method="post" data-api="PATCH [\s\S]*?<\/form>/.exec(html)![0];
    expect([...form.matchAll(/<(?:input|select|textarea)[^>]*name="([^"]+)"/g)].map((m) => m[1])).toEqual(['name', 'email', 'mobile']);
    expect(form).toContain('Role: admin');
  });

  it('opens a tenant’s rename form with ?edit=, its name only; 404 for a tenant that does not exist', async () => {
    const { html: list } = await page(platform, '/admin/tenants');
    expect(row(list, 'data-code="globex"')).toContain(`href="/admin/tenants?edit=${seed.globex.id}#edit"`);
    const { status, html } = await page(platform, `/admin/tenants?edit=${seed.globex.id}`);
    expect(status).toBe(200);
    const form = /<form class="admin-form" method="post" data-api="PATCH \/tenants\/([0-9a-f]{32})"[\s\S]*?<\/form>/.exec(html);
    expect(form?.[1]).toBe(seed.globex.id);
    expect([...form![0].matchAll(/<(?:input|select|textarea)[^>]*name="([^"]+)"/g)].map((m) => m[1])).toEqual(['name']);
    expect(form![0]).toMatch(/<input id="e-name" name="name" value="Globex"/);
    expect((await page(platform, `/admin/tenants?edit=${'0'.repeat(32)}`)).status).toBe(404);
  });

  it('offers every setting of the edit form when registering an app (logo, refresh, PKCE, token lifetimes), with the defaults of the API', async () => {
    const { html } = await page(platform, '/admin/apps');
    const form = /<form class="admin-form" method="post" data-api="POST \/apps"[\s\S]*?<\/form>/.exec(html)![0];
    expect([...form.matchAll(/<(?:input|select|textarea)[^>]*name="([^"]+)"/g)].map((m) => m[1])).toEqual([
      'name',
      'description',
      'logoUri',
      'redirectUris',
      'initiateLoginUri',
      'postLogoutRedirectUris',
      'backchannelLogoutUri',
      'public',
      'allowRefresh',
      'requirePkce',
      'accessTokenTtl',
      'refreshTokenTtl',
    ]);
    expect(form).toMatch(/name="allowRefresh" data-type="bool" checked/);
    expect(form).toMatch(/name="requirePkce" data-type="bool" checked/);
    expect(form).toMatch(/<input class="narrow-input" id="a-access-ttl" name="accessTokenTtl" type="number" min="60" max="86400" data-type="number">/);
  });

  it('opens an app’s edit form with ?edit=, filled with the app’s settings; 404 for an app that does not exist', async () => {
    const { status, html } = await page(platform, `/admin/apps?edit=${seed.crm.app.clientId}`);
    expect(status).toBe(200);
    expect(html).toContain(`data-api="PATCH /apps/${seed.crm.app.clientId}"`);
    expect(html).toMatch(/<input id="e-name" name="name" value="CRM"/);
    expect(html).toContain('https://crm.test/signed-out</textarea>');
    expect(html).toMatch(/name="allowRefresh" data-type="bool" checked/);
    expect(html).toContain(`data-api="DELETE /apps/${seed.unassigned.app.clientId}"`);
    expect((await page(platform, '/admin/apps')).html).not.toContain('id="e-name"');
    expect((await page(platform, `/admin/apps?edit=${'0'.repeat(32)}`)).status).toBe(404);
  });

  it('names the users an assignment is limited to, and with ?app= offers every user of the tenant, the chosen ones ticked', async () => {
    const { html } = await page(boss, `/admin/assignments?tenant=${seed.acme.id}`);
    expect(row(html, `data-client-id="${seed.carolOnly.app.clientId}"`)).toContain('1 chosen user: <span class="usernames">carol</span>');
    expect(row(html, `data-client-id="${seed.crm.app.clientId}"`)).toContain('<td class="audience">Every user</td>');
    expect(html).not.toContain('id="who"');

    const choosing = (await page(boss, `/admin/assignments?tenant=${seed.acme.id}&app=${seed.carolOnly.app.clientId}`)).html;
    expect(choosing).toContain(`data-api="PUT /tenants/${seed.acme.id}/assignments/${seed.carolOnly.app.clientId}/users"`);
    const boxes = [...choosing.matchAll(/<input type="checkbox" name="userIds" value="([0-9a-f]{32})" data-type="list"( checked)?/g)].map((m) => [m[1], m[2] === ' checked']);
    expect(boxes).toEqual([
      [seed.alice.id, false],
      [bossId, false],
      [seed.carol.id, true],
    ]);
    expect(choosing).toMatch(/value="chosen" data-path-only checked/);
    // An app the tenant is not subscribed to opens no form.
    expect((await page(boss, `/admin/assignments?tenant=${seed.acme.id}&app=${seed.unassigned.app.clientId}`)).html).not.toContain('id="who"');
  });

  it('offers disable or enable for each tenant but the platform’s own', async () => {
    expect(await api(platform, 'PATCH', `/tenants/${seed.globex.id}`, { status: 'disabled' })).toBe(200);
    const { html } = await page(platform, '/admin/tenants');
    expect(buttons(row(html, 'data-code="acme"'))).toEqual(['Disable']);
    expect(row(html, 'data-code="acme"')).toContain('<input type="hidden" name="status" value="disabled">');
    expect(buttons(row(html, 'data-code="globex"'))).toEqual(['Enable']);
    expect(buttons(row(html, 'data-code="platform"'))).toEqual([]);
    expect(await api(platform, 'PATCH', `/tenants/${seed.globex.id}`, { status: 'active' })).toBe(200);
  });

  it('shows the audit trail by name: who (to the platform admin, an admin of the platform with its code; to a tenant’s admin, as a role without address), on whom or which app, and what changed field by field', async () => {
    expect(await api(boss, 'PATCH', `/tenants/${seed.acme.id}/users/${seed.alice.id}`, { name: 'Alice L.' })).toBe(200);
    expect(await api(platform, 'PUT', `/tenants/${seed.acme.id}/assignments/${seed.crm.app.clientId}/users`, { userIds: [seed.alice.id] })).toBe(200);
    const { html } = await page(boss, `/admin/audit?tenant=${seed.acme.id}`);
    const text = html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(text).toContain('admin.user.update boss alice 127.0.0.1 name : Alice Liddell → Alice L.');
    expect(text).toContain('admin.assignment.users a platform administrator CRM userIds : every user → alice');
    expect(text).not.toContain('admin (platform)');
    const platformView = (await page(platform, `/admin/audit?tenant=${seed.acme.id}`)).html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(platformView).toContain('admin.assignment.users admin (platform) CRM 127.0.0.1 userIds : every user → alice');
    expect(text).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC admin\.user\.update/);
    // Neither ids where a name is known, nor JSON.
    expect(text).not.toContain(seed.alice.id);
    expect(text).not.toContain(bossId);
    expect(/<table[\s\S]*<\/table>/.exec(html)![0]).not.toMatch(/\{&quot;|\{"/);
  });

  it('names the workbench and a new tenant in the audit trail’s Target column', async () => {
    // boss signed in at the workbench (its own client) in beforeAll.
    const { html } = await page(boss, `/admin/audit?tenant=${seed.acme.id}`);
    const text = html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(text).toContain('signin.success boss Workbench');
    expect(text).not.toContain('atrium-w');

    const res = await platform.request(`${t.issuer}/admin/api/v1/tenants`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': await csrfOf(platform) },
      body: JSON.stringify({ code: 'soylent', name: 'Soylent Corp' }),
    });
    const { id } = JSON.parse(res.body) as { id: string };
    const created = (await page(platform, `/admin/audit?tenant=${id}`)).html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(created).toContain('admin.tenant.create admin (platform) Soylent Corp (soylent)');
  });

  it('puts only a tenant id from the address into the pages’ links', async () => {
    const { status, html } = await page(platform, `/admin/apps?tenant=${encodeURIComponent(`${seed.acme.id}&edit=x`)}`);
    expect(status).toBe(200);
    // (The language link keeps the address's query, encoded: one parameter, refused as a tenant id.)
    expect(html).not.toContain('edit=x');
  });

  it('renders every admin page as HTML, not XHTML (no checked="checked" />), its forms posted should a script not run', async () => {
    let checked = 0;
    for (const path of ['/admin/tenants', '/admin/apps', `/admin/apps?edit=${seed.crm.app.clientId}`, `/admin/assignments?tenant=${seed.acme.id}&app=${seed.carolOnly.app.clientId}`, `/admin/users?tenant=${seed.acme.id}&edit=${seed.alice.id}`, `/admin/sessions?tenant=${seed.acme.id}`, `/admin/audit?tenant=${seed.acme.id}`]) {
      const { status, html } = await page(platform, path);
      expect(status).toBe(200);
      expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
      expect(html).not.toMatch(/\b(checked|selected|required|hidden|disabled)="\1"|\/>/);
      // A form sent before admin.js took it over (or without it) is never a GET: a password typed
      // in it must not land in a URL, a log or the browser's history.
      const apiForms = html.match(/<form\b[^>]* data-api[^>]*>/g) ?? [];
      for (const form of apiForms) expect(form, path).toMatch(/^<form [^>]*method="post"/);
      checked += apiForms.length;
    }
    expect(checked).toBeGreaterThan(15);
  });

  it('lists the users with their e-mail, and offers the mobile when creating one', async () => {
    const { html } = await page(boss, '/admin/users');
    expect(html).toMatch(/<th>Name<\/th><th>E-mail<\/th><th>Role<\/th>/);
    expect(row(html, 'data-username="alice"')).toContain('<td class="wrap">alice@acme.test</td>');
    const form = /<form class="admin-form" method="post" data-api="POST [\s\S]*?<\/form>/.exec(html)![0];
    expect([...form.matchAll(/<(?:input|select|textarea)[^>]*name="([^"]+)"/g)].map((m) => m[1])).toEqual(['username', 'name', 'email', 'mobile', 'password', 'role']);
    expect(form).toMatch(/<input id="u-email" name="email" type="text"/);
  });

  it('shows a tenant admin their tenant by name instead of a picker of one', async () => {
    const { html } = await page(boss, '/admin/users');
    expect(html).not.toContain('<select id="tenant"');
    expect(html).toContain('Tenant: <strong>Acme Corp (acme)</strong>');
    expect((await page(platform, `/admin/users?tenant=${seed.acme.id}`)).html).toContain('<select id="tenant"');
  });

  it('shows the admin pages in Simplified Chinese to a browser that asks for it (Accept-Language zh-CN), the script’s words too', async () => {
    const zh = async (browser: Browser, path: string) => (await browser.request(`${t.issuer}${path}`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9' } })).body;
    const users = await zh(boss, '/admin/users');
    expect(users).toContain('<html lang="zh-CN">');
    expect(users).toContain('<h1>用户</h1>');
    expect(users).toContain('<h2>新建用户</h2>');
    expect(buttons(row(users, 'data-username="alice"'))).toEqual(['停用', '结束会话', '删除', '设置密码']);
    expect(buttons(users)).toContain('创建用户');
    expect(users).toMatch(/<th>用户名<\/th><th>名称<\/th><th>电子邮箱<\/th><th>角色<\/th><th>状态<\/th><th>操作<\/th>/);
    expect(users).toContain('data-confirm="删除 alice？此操作无法撤销。"');
    expect(users).toContain('data-done="已导入 {rows} 行：新建 {created} 个用户，更新 {updated} 个。"');
    expect(users).toContain('无法连接服务器，未做任何更改，请重试。');
    expect(users).not.toMatch(/>(New user|Create user|Username|Actions|Delete)</);

    const headings: Record<string, string> = { tenants: '租户', apps: '应用', assignments: '应用分配', users: '用户', sessions: '会话', audit: '审计日志（最近 24 小时）' };
    for (const [section, heading] of Object.entries(headings)) {
      const html = await zh(platform, `/admin/${section}?tenant=${seed.acme.id}`);
      expect(html).toContain(`<h1>${heading}</h1>`);
      expect(html).toContain('<title>管理 · ');
    }
    expect(await zh(platform, '/admin/apps')).toContain('>注册应用</button>');
    // English stays the default.
    expect((await page(boss, '/admin/users')).html).toContain('<h2>New user</h2>');
  });
});

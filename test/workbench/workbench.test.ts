/** The workbench over HTTP, on both drivers: listing, launch, isolation, sign-out, languages. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, submitForm } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

describe.each(DRIVERS)('the workbench on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    await t.atrium.directory.apps.create({ name: 'Nobody’s', redirectUris: ['https://nobody.test/cb'] });
    const { app } = await t.atrium.directory.apps.create({
      name: 'Wiki',
      description: 'Team knowledge',
      redirectUris: ['https://wiki.test/cb'],
      initiateLoginUri: 'https://wiki.test/start?from=atrium',
    });
    await t.atrium.directory.assignments.assign({ tenantId: seed.acme.id, clientId: app.clientId });
  });
  afterAll(() => t.close());

  /** Signs in from the workbench itself and returns the browser, back on `/`. */
  async function signedIn(login = aliceLogin, entry = '/'): Promise<{ browser: Browser; page: Awaited<ReturnType<Browser['get']>> }> {
    const browser = new Browser(t.issuer);
    const loginPage = await browser.follow(`${t.issuer}${entry}`);
    expect(loginPage.url).toContain('/interaction/');
    const posted = await submitForm(browser, loginPage, login);
    const page = await browser.follow(posted.location!);
    return { browser, page };
  }

  const tileNames = (html: string): string[] => [...html.matchAll(/class="tile-name">([^<]+)</g)].map((m) => m[1]!.replace(/&rsquo;|&#39;/g, '’'));

  it('sends a visitor to the login page, then back to the workbench', async () => {
    const { page } = await signedIn();
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${t.issuer}/`);
    expect(page.body).toContain('Alice Liddell');
    expect(page.body).toContain('Acme Corp');
    expect(page.body).toMatch(/<form class="signout" method="post" action="\/signout">/);
    expect(page.headers.get('cache-control')).toContain('no-store');
  });

  it('refuses to launch a public app that has no initiate_login_uri, explaining why', async () => {
    const { browser } = await signedIn();
    const page = await browser.get(`${t.issuer}/launch/${seed.spa.app.clientId}`);
    expect(page.status).toBe(409);
    expect(page.body).toContain('cannot be opened from the workbench');
  });

  it('lists exactly the apps the user may see: assigned, for them, expired ones marked', async () => {
    const { page } = await signedIn();
    expect(tileNames(page.body).sort()).toEqual(['CRM', 'Expired', 'Legacy CRM', 'SPA', 'Wiki']);
    expect(page.body).toContain('Expired on Jan 1, 2020');
    // The expired app has no launch link; the others do.
    expect(page.body).not.toContain(`href="/launch/${seed.expired.app.clientId}"`);
    expect(page.body).toContain(`href="/launch/${seed.crm.app.clientId}"`);
  });

  it('shows the app limited to carol to carol only', async () => {
    const { page } = await signedIn({ tenant: 'acme', username: 'carol', password: PASSWORD });
    expect(tileNames(page.body)).toContain('Carol only');
  });

  it('never shows nor launches another tenant’s apps', async () => {
    const { browser, page } = await signedIn();
    expect(tileNames(page.body)).not.toContain('Globex app');
    expect(page.body).not.toContain(seed.globexApp.app.clientId);
    const launch = await browser.get(`${t.issuer}/launch/${seed.globexApp.app.clientId}`);
    expect(launch.status).toBe(404);
    expect(launch.location).toBeUndefined();
    const unassigned = await browser.get(`${t.issuer}/launch/${seed.unassigned.app.clientId}`);
    expect(unassigned.status).toBe(404);

    const bob = await signedIn({ tenant: 'globex', username: 'bob', password: PASSWORD });
    expect(tileNames(bob.page.body)).toEqual(['Globex app']);
    expect((await bob.browser.get(`${t.issuer}/launch/${seed.crm.app.clientId}`)).status).toBe(404);
  });

  it('filters tiles with ?q= without JavaScript', async () => {
    const { browser } = await signedIn();
    const page = await browser.get(`${t.issuer}/?q=knowledge`);
    expect(tileNames(page.body)).toEqual(['Wiki']);
    const none = await browser.get(`${t.issuer}/?q=zzz`);
    expect(tileNames(none.body)).toEqual([]);
    expect(none.body).toContain('No app matches “zzz”.');
  });

  it('launches a confidential app by sending the code and tenant to its first callback', async () => {
    const { browser } = await signedIn();
    const launch = await browser.get(`${t.issuer}/launch/${seed.crm.app.clientId}`);
    expect(launch.status).toBe(303);
    const callback = new URL((await browser.follow(launch.location!)).location!);
    expect(callback.origin + callback.pathname).toBe('https://crm.test/callback');
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('tenant')).toBe(seed.acme.id);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);

    // The code is bound to that client and callback like any other.
    const basic = Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64');
    const token = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: 'https://crm.test/callback' }),
    });
    expect(token.status).toBe(200);
    const { id_token } = (await token.json()) as { id_token: string };
    const claims = JSON.parse(Buffer.from(id_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.tenant_id).toBe(seed.acme.id);
    // It sent no nonce (it did not start this request), and gets none: OIDC libraries refuse one.
    expect(claims.nonce).toBeUndefined();
  });

  it('launches an app with initiate_login_uri there, with iss, login_hint and target_link_uri', async () => {
    const { browser, page } = await signedIn();
    const wiki = /href="\/launch\/([0-9a-f]{32})"[^>]*>(?:(?!<\/a>).)*Wiki/s.exec(page.body)![1]!;
    const launch = await browser.get(`${t.issuer}/launch/${wiki}`);
    const target = new URL(launch.location!);
    expect(target.origin + target.pathname).toBe('https://wiki.test/start');
    expect(target.searchParams.get('from')).toBe('atrium');
    expect(target.searchParams.get('iss')).toBe(t.issuer);
    expect(target.searchParams.get('login_hint')).toBe('alice@acme');
    expect(target.searchParams.get('target_link_uri')).toBe('https://wiki.test/');
  });

  it('refuses to launch an expired subscription', async () => {
    const { browser } = await signedIn();
    const launch = await browser.get(`${t.issuer}/launch/${seed.expired.app.clientId}`);
    expect(launch.status).toBe(403);
    expect(launch.location).toBeUndefined();
    expect(launch.body).toContain('expired on Jan 1, 2020');
  });

  it('asks for confirmation when another site requests a launch', async () => {
    const { browser } = await signedIn();
    const attempts: Record<string, string>[] = [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { referer: 'https://evil.test/page' }];
    for (const headers of attempts) {
      const page = await browser.request(`${t.issuer}/launch/${seed.crm.app.clientId}`, { headers });
      expect(page.status).toBe(200);
      expect(page.location).toBeUndefined();
      expect(page.body).toContain('Open CRM?');
      expect(page.body).toContain(`href="/launch/${seed.crm.app.clientId}"`);
    }
    const own = await browser.request(`${t.issuer}/launch/${seed.crm.app.clientId}`, { headers: { 'sec-fetch-site': 'same-origin' } });
    expect(own.status).toBe(303);
  });

  it('asks for confirmation after the sign-in when another site sent a browser that was not signed in', async () => {
    const browser = new Browser(t.issuer);
    const start = await browser.request(`${t.issuer}/launch/${seed.crm.app.clientId}`, { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(start.status).toBe(303);
    // Every step from here on is same-site, as a browser sends it.
    const loginPage = await browser.follow(start.location!);
    expect(loginPage.url).toContain('/interaction/');
    const landed = await browser.follow((await submitForm(browser, loginPage, aliceLogin)).location!);
    expect([landed.status, new URL(landed.url).pathname + new URL(landed.url).search]).toEqual([200, `/launch/${seed.crm.app.clientId}?confirm=1`]);
    expect(landed.body).toContain('Open CRM?');
    expect(landed.body).toContain(`href="/launch/${seed.crm.app.clientId}"`);
    // From the workbench itself, a launch does not ask.
    expect((await browser.request(`${t.issuer}/launch/${seed.crm.app.clientId}`, { headers: { 'sec-fetch-site': 'same-origin' } })).status).toBe(303);
  });

  it('never links to another site from a page, whatever its path', async () => {
    for (const path of ['//evil.example/login', '/%2F%2Fevil.example/x', '/\\evil.example/x']) {
      const page = await new Browser(t.issuer).request(`${t.issuer}${path}`, { headers: { accept: 'text/html' } });
      expect(page.status, path).toBe(404);
      const links = [...page.body.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
      expect(links.length).toBeGreaterThan(0);
      for (const link of links) expect(link, path).not.toMatch(/^(\/[/\\]|[a-z][a-z0-9+.-]*:)/i);
      expect(links.filter((link) => link.includes('lang=')).length, path).toBeGreaterThan(0);
    }
  });

  it('puts recently launched apps first and records an audit event per launch', async () => {
    const { browser, page: before } = await signedIn();
    const wiki = /href="\/launch\/([0-9a-f]{32})"[^>]*>(?:(?!<\/a>).)*Wiki/s.exec(before.body)![1]!;
    expect((await browser.get(`${t.issuer}/launch/${wiki}`)).status).toBe(303);
    const page = await browser.get(`${t.issuer}/`);
    expect(tileNames(page.body)[0]).toBe('Wiki');
    expect(tileNames(page.body).at(-1)).toBe('Expired');
    expect(page.body).toContain('Recently used');
    const events = await t.atrium.directory.audit.ofDay(seed.acme.id, new Date().toISOString().slice(0, 10));
    expect(events.some((e) => e.type === 'app.launch' && e.clientId === wiki && e.userId === seed.alice.id)).toBe(true);
  });

  it('launches after signing in when a visitor follows a launch link', async () => {
    const browser = new Browser(t.issuer);
    const login = await browser.follow(`${t.issuer}/launch/${seed.crm.app.clientId}`);
    const posted = await submitForm(browser, login, aliceLogin);
    const end = await browser.follow(posted.location!);
    expect(new URL(end.location!).searchParams.get('tenant')).toBe(seed.acme.id);
  });

  it('signs out with the CSRF-protected button, and the session is gone', async () => {
    const { browser, page } = await signedIn();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const forged = await browser.post(`${t.issuer}/signout`, { csrf: 'x'.repeat(43) });
    expect(forged.status).toBe(403);
    expect((await browser.post(`${t.issuer}/signout`, { csrf: `é${'x'.repeat(42)}` })).status).toBe(403);
    expect((await browser.get(`${t.issuer}/`)).status).toBe(200);

    const out = await browser.post(`${t.issuer}/signout`, { csrf });
    expect(out.status).toBe(200);
    expect(out.body).toContain('You have signed out of Atrium.');
    const after = await browser.get(`${t.issuer}/`);
    expect(after.status).toBe(303);
    expect(after.location).toContain('/auth?');
    expect((await browser.get(`${t.issuer}/signout`)).status).toBe(405);
  });

  it('pre-selects the tenant from /t/{code}', async () => {
    const browser = new Browser(t.issuer);
    const login = await browser.follow(`${t.issuer}/t/globex`);
    expect(login.body).toMatch(/name="tenant" value="globex"/);
  });

  it('speaks Chinese when the browser prefers it, and remembers a switch', async () => {
    const browser = new Browser(t.issuer);
    const zh = await browser.request(`${t.issuer}/`, { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' } });
    const auth = await browser.request(zh.location!, { headers: { 'accept-language': 'zh-CN' } });
    const login = await browser.request(auth.location!, { headers: { 'accept-language': 'zh-CN,zh;q=0.9' } });
    expect(login.body).toContain('<html lang="zh-CN">');
    expect(login.body).toContain('登录');
    const english = await browser.get(`${login.url}?lang=en`);
    expect(english.body).toContain('<html lang="en">');
    expect(browser.cookie('atrium_lang')).toBe('en');
    const remembered = await browser.request(login.url, { headers: { 'accept-language': 'zh-CN' } });
    expect(remembered.body).toContain('Sign in');
  });

  it('answers a workbench callback that carries an error with a page, not a loop', async () => {
    const page = await new Browser(t.issuer).get(`${t.issuer}/workbench/callback?error=access_denied`);
    expect(page.status).toBe(400);
    expect(page.body).toContain('Sign-in was cancelled.');
  });

  it('never sends the browser off-site after signing in', async () => {
    const state = Buffer.from(JSON.stringify({ r: '//evil.test/x' })).toString('base64url');
    const page = await new Browser(t.issuer).get(`${t.issuer}/workbench/callback?code=x&state=${state}`);
    expect(page.location).toBe(`${t.issuer}/`);
  });
});

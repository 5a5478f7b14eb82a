/**
 * Adversarial: oversized and malformed bodies on every POST route, CSRF from another origin on every
 * form, clickjacking and other headers on every page, CORS, and HTTPS behind a trusted proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type IncomingHttpHeaders } from 'node:http';
import * as oidc from 'openid-client';
import { authorize, Browser, hiddenFields, submitForm } from '../helpers/browser.js';
import { aliceLogin, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';

const NO_STACK = /node_modules|\n\s+at |TypeError|ReferenceError/;
const PKCE = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

/** A GET with headers fetch would not send (Host), over a plain socket. */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, setHost: !('host' in headers) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('an https issuer behind a proxy that says nothing', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startAtrium('sqlite', (c) => {
      c.issuer = 'https://sso.acme.test';
      c.trustProxyHops = 0;
    });
  });
  afterAll(() => t.close());

  it('publishes https endpoints and sends Secure cookies and HSTS, without X-Forwarded-Proto', async () => {
    const { port } = new URL(t.issuer);
    const discovery = JSON.parse((await rawGet(Number(port), '/.well-known/openid-configuration', {})).body) as Record<string, string>;
    expect([discovery.issuer, discovery.token_endpoint, discovery.end_session_endpoint]).toEqual(['https://sso.acme.test', 'https://sso.acme.test/token', 'https://sso.acme.test/session/end']);
    const auth = await rawGet(Number(port), `/auth?${new URLSearchParams({ client_id: 'atrium-workbench', response_type: 'code', scope: 'openid', redirect_uri: 'https://sso.acme.test/workbench/callback', ...PKCE })}`, {});
    expect(auth.status).toBe(302);
    expect(auth.headers.location).toMatch(/^\/interaction\//);
    expect(auth.headers['strict-transport-security']).toContain('max-age=');
    const cookies = auth.headers['set-cookie'] ?? [];
    expect(cookies.length).toBeGreaterThan(0);
    expect(cookies.every((c) => c.toLowerCase().includes('; secure'))).toBe(true);
  });

  it('names the session and CSRF cookies __Host-: only this host sets them, Secure, for every path', async () => {
    await seedDirectory(t.atrium.directory);
    const local = (url: string) => url.replace('https://sso.acme.test', t.issuer);
    const browser = new Browser(t.issuer);
    const setCookies: string[] = [];
    const walk = async (url: string) => {
      let page = await browser.get(local(url));
      setCookies.push(...page.headers.getSetCookie());
      while (page.location && new URL(local(page.location)).origin === t.issuer) {
        page = await browser.get(local(page.location));
        setCookies.push(...page.headers.getSetCookie());
      }
      return page;
    };
    const login = await walk(`${t.issuer}/`);
    expect(login.url).toContain('/interaction/');
    const posted = await submitForm(browser, login, aliceLogin);
    expect(posted.status).toBe(303);
    const workbench = await walk(posted.location!);
    expect(workbench.status).toBe(200);
    expect(workbench.body).toContain('CRM');
    for (const name of ['__Host-session', '__Host-atrium_csrf']) {
      const line = setCookies.find((c) => c.startsWith(`${name}=`));
      expect(line?.toLowerCase(), name).toMatch(/; path=\/(;|$)/);
      expect(line?.toLowerCase(), name).toContain('; secure');
      expect(line?.toLowerCase(), name).not.toContain('domain=');
    }
    expect(setCookies.some((c) => /^(_session|atrium_csrf)=/.test(c))).toBe(false);
    expect(setCookies.some((c) => c.startsWith('_interaction='))).toBe(true);
  });
});

describe('HTTP-level attacks', () => {
  let t: TestServer;
  let seed: Seed;
  let crm: oidc.Configuration;

  beforeAll(async () => {
    t = await startAtrium('sqlite', (c) => {
      c.trustProxyHops = 1;
    });
    seed = await seedDirectory(t.atrium.directory);
    crm = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t.close());

  const authUrl = (extra: Record<string, string> = {}) =>
    oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 's', ...PKCE, ...extra }).href;

  /** A browser that is signed in, with a login interaction path for the POST routes. */
  async function signedInBrowser(): Promise<{ browser: Browser; loginPath: string }> {
    const browser = new Browser(t.issuer);
    const login = await browser.follow(authUrl({ prompt: 'login' }));
    const loginPath = new URL(login.url).pathname + '/login';
    await authorize(browser, authUrl(), aliceLogin);
    return { browser, loginPath };
  }

  const POST_ROUTES = ['/token', '/token/introspection', '/token/revocation', '/me', '/session/end/confirm', '/api/v1/oauth2/token', '/signout', '/interaction/x/login'];

  describe('bodies on every POST route', () => {
    it.each(POST_ROUTES)('refuses an oversized body at %s with a 4xx, no stack trace', async (path) => {
      const res = await fetch(`${t.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `a=${'x'.repeat(100_000)}` });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await res.text()).not.toMatch(NO_STACK);
    });

    it.each(POST_ROUTES)('refuses a malformed body at %s with a 4xx, no stack trace', async (path) => {
      for (const [type, body] of [
        ['application/json', '{"unterminated": '],
        ['application/x-www-form-urlencoded; charset=bogus', 'a=b'],
        ['text/xml', '<a/>'],
      ]) {
        const res = await fetch(`${t.issuer}${path}`, { method: 'POST', headers: { 'content-type': type! }, body });
        expect(res.status, `${type} at ${path}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${type} at ${path}`).toBeLessThan(500);
        expect(await res.text()).not.toMatch(NO_STACK);
      }
    });
  });

  describe('CSRF on every form', () => {
    it('refuses the login form posted without its token, or with a forged one', async () => {
      const browser = new Browser(t.issuer);
      const login = await browser.follow(authUrl());
      const action = new URL(login.url).pathname + '/login';
      expect((await browser.post(`${t.issuer}${action}`, aliceLogin)).status).toBe(403);
      expect((await browser.post(`${t.issuer}${action}`, { ...aliceLogin, csrf: 'A'.repeat(43) })).status).toBe(403);
      expect((await submitForm(browser, login, aliceLogin)).status).toBe(303);
    });

    it('refuses a token as long as the real one but not of its alphabet (more bytes than characters), and keeps serving', async () => {
      const browser = new Browser(t.issuer);
      const login = await browser.follow(authUrl());
      const action = new URL(login.url).pathname + '/login';
      const wide = `é${'a'.repeat(42)}`;
      expect((await browser.post(`${t.issuer}${action}`, { ...aliceLogin, csrf: wide })).status).toBe(403);
      // An interaction that does not exist fails its check too: both refusals are answered.
      const unknown = await browser.post(`${t.issuer}/interaction/unknown/login`, { ...aliceLogin, csrf: wide });
      expect(unknown.status).toBeGreaterThanOrEqual(400);
      expect(unknown.status).toBeLessThan(500);
      expect(unknown.body).not.toMatch(NO_STACK);
      expect((await submitForm(browser, login, aliceLogin)).status).toBe(303);
    });

    it('refuses the sign-out form from another origin', async () => {
      const { browser } = await signedInBrowser();
      // Another origin's page cannot read the token; it posts without one.
      const forged = await browser.request(`${t.issuer}/signout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.test' },
        body: 'everywhere=yes',
      });
      expect(forged.status).toBe(403);
      expect((await browser.get(`${t.issuer}/`)).status).toBe(200);
    });

    it('refuses the RP-initiated logout confirmation without its xsrf value', async () => {
      const { browser } = await signedInBrowser();
      const confirm = await browser.follow(`${t.issuer}/session/end`);
      expect(hiddenFields(confirm.body).xsrf).toBeTruthy();
      const forged = await browser.post(`${t.issuer}/session/end/confirm`, { logout: 'yes', xsrf: 'forged' });
      expect(forged.status).toBe(400);
      expect((await browser.get(`${t.issuer}/`)).status).toBe(200);
    });

    it('does not send the session cookie with cross-site POSTs (SameSite=Lax)', async () => {
      const browser = new Browser(t.issuer);
      const login = await browser.follow(authUrl());
      const answer = await submitForm(browser, login, aliceLogin);
      expect(answer.status).toBe(303);
      const cookies = (await browser.follow(answer.location!)).headers.getSetCookie();
      const all = [...answer.headers.getSetCookie(), ...cookies].filter((c) => /^(_session|_interaction|atrium_csrf)=/.test(c));
      expect(all.length).toBeGreaterThan(0);
      for (const cookie of all) {
        expect(cookie.toLowerCase()).toContain('httponly');
        expect(cookie.toLowerCase()).toMatch(/samesite=(lax|strict)/);
      }
    });

    it('sends the CSRF cookie on navigations from other sites, so a browser arriving from an app keeps its token', async () => {
      const browser = new Browser(t.issuer);
      const first = await browser.follow(authUrl());
      const cookie = first.headers.getSetCookie().find((c) => c.startsWith('atrium_csrf='));
      // Lax: sent on the top-level navigation from an app's site (Strict would not be, and the
      // login page would then replace it).
      expect(cookie?.toLowerCase()).toContain('samesite=lax');
      const token = browser.cookie('atrium_csrf');
      const second = await browser.follow(authUrl());
      expect(second.headers.getSetCookie().some((c) => c.startsWith('atrium_csrf='))).toBe(false);
      expect(browser.cookie('atrium_csrf')).toBe(token);
      expect(second.body).toContain(`value="${token}"`);
      expect((await submitForm(browser, second, aliceLogin)).status).toBe(303);
    });
  });

  describe('headers on every page', () => {
    it('forbids framing, sniffing and referrers, and sets a CSP with a nonce', async () => {
      const { browser } = await signedInBrowser();
      const pages = [
        await browser.get(`${t.issuer}/`),
        await new Browser(t.issuer).follow(authUrl()),
        await browser.get(`${t.issuer}/nowhere`),
        await browser.follow(`${t.issuer}/session/end`),
        await browser.request(`${t.issuer}/launch/${seed.crm.app.clientId}`, { headers: { 'sec-fetch-site': 'cross-site' } }),
      ];
      for (const page of pages) {
        const csp = page.headers.get('content-security-policy') ?? '';
        expect(page.headers.get('x-frame-options'), page.url).toBe('DENY');
        expect(page.headers.get('x-content-type-options')).toBe('nosniff');
        expect(page.headers.get('referrer-policy')).toBe('no-referrer');
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).toContain("object-src 'none'");
        expect(csp).toContain("base-uri 'none'");
        expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+'/);
      }
      // A fresh 16-byte nonce per answer, never one seen before.
      const nonces = pages.map((page) => /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy')!)![1]!);
      expect(new Set(nonces).size).toBe(pages.length);
      expect(nonces.every((n) => Buffer.from(n, 'base64').length === 16)).toBe(true);
      const workbench = pages[0]!;
      const nonce = nonces[0];
      expect(workbench.body).toContain(`nonce="${nonce}"`);
      expect(workbench.headers.get('cache-control')).toContain('no-store');
    });

    it('allows nothing at all on the provider’s JSON endpoints, which never answer with a page', async () => {
      const browser = new Browser(t.issuer);
      const answers = [await browser.get(`${t.issuer}/.well-known/openid-configuration`), await browser.get(`${t.issuer}/jwks`), await browser.get(`${t.issuer}/me`)];
      for (const answer of answers) {
        expect(answer.headers.get('content-security-policy'), answer.url).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
        expect(answer.headers.get('x-frame-options')).toBe('DENY');
        expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
        expect(answer.headers.get('referrer-policy')).toBe('no-referrer');
      }
    });

    it('takes its scheme from the issuer, never from X-Forwarded-Proto (an https issuer: see above)', async () => {
      for (const proto of [undefined, 'https', 'javascript']) {
        const answer = await fetch(authUrl(), { headers: proto ? { 'x-forwarded-proto': proto } : {}, redirect: 'manual' });
        expect(answer.headers.get('strict-transport-security'), proto).toBeNull();
        expect(answer.headers.getSetCookie().some((c) => c.toLowerCase().includes('secure')), proto).toBe(false);
        const discovery = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`, { headers: proto ? { 'x-forwarded-proto': proto } : {} })).json()) as Record<string, string>;
        expect(discovery.token_endpoint, proto).toBe(`${t.issuer}/token`);
      }
    });

    it('answers at the issuer’s address whatever Host or X-Forwarded-Host say, malformed ones too', async () => {
      const { port } = new URL(t.issuer);
      const variants: Record<string, string>[] = [{ host: 'evil.example' }, { host: 'a b' }, { host: '[' }, { host: 'x:99999' }, { host: '%zz' }, { 'x-forwarded-host': 'evil.example' }, { 'x-forwarded-host': 'a b' }];
      for (const headers of variants) {
        const res = await rawGet(Number(port), '/.well-known/openid-configuration', headers);
        expect(res.status, JSON.stringify(headers)).toBe(200);
        const discovery = JSON.parse(res.body) as Record<string, string>;
        expect([discovery.issuer, discovery.token_endpoint, discovery.authorization_endpoint]).toEqual([t.issuer, `${t.issuer}/token`, `${t.issuer}/auth`]);
        const logout = await rawGet(Number(port), '/session/end', { ...headers, accept: 'text/html' });
        expect(logout.status, JSON.stringify(headers)).toBe(200);
        expect(logout.body).toContain(`action="${t.issuer}/session/end/confirm"`);
      }
      // A request line in absolute form names a host too.
      const absolute = await rawGet(Number(port), 'http://evil.example/.well-known/openid-configuration', {});
      expect(absolute.status).toBe(200);
      expect((JSON.parse(absolute.body) as Record<string, string>).token_endpoint).toBe(`${t.issuer}/token`);
      for (const target of ['http://a%b/.well-known/openid-configuration', 'foo:bar']) {
        const odd = await rawGet(Number(port), target, { accept: 'application/json' });
        expect(odd.status, target).toBeGreaterThanOrEqual(400);
        expect(odd.status, target).toBeLessThan(500);
      }
    });

    it('answers every redirect after a credential POST with 303', async () => {
      const browser = new Browser(t.issuer);
      const login = await browser.follow(authUrl());
      const answer = await submitForm(browser, login, aliceLogin);
      expect(answer.status).toBe(303);
    });
  });

  describe('CORS', () => {
    it('allows the token and userinfo endpoints only from the app’s registered origins', async () => {
      const allowed = await fetch(`${t.issuer}/token`, { method: 'OPTIONS', headers: { origin: 'https://crm.test', 'access-control-request-method': 'POST' } });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://crm.test');
      const basic = `Basic ${Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64')}`;
      const evil = await fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: { origin: 'https://evil.test', authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&refresh_token=x',
      });
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('sends no CORS headers from the authorization endpoint or pages', async () => {
      for (const url of [authUrl(), `${t.issuer}/`, `${t.issuer}/interaction/x`]) {
        const res = await fetch(url, { headers: { origin: 'https://crm.test' }, redirect: 'manual' });
        expect(res.headers.get('access-control-allow-origin'), url).toBeNull();
      }
    });
  });

  it('renews the session id at sign-in (no session fixation)', async () => {
    const browser = new Browser(t.issuer);
    browser.setCookie('_session', 'attacker-chosen-session-id');
    await authorize(browser, authUrl(), aliceLogin);
    expect(browser.cookie('_session')).toBeTruthy();
    expect(browser.cookie('_session')).not.toBe('attacker-chosen-session-id');
  });
});

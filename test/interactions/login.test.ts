/** The sign-in page: pre-filling, one generic error, disabled accounts, body limits. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { authorize, Browser, inputValue, submitForm } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';
import { oidcKeys } from '../../src/oidc/adapter.js';

describe.each(DRIVERS)('the sign-in page on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let crm: oidc.Configuration;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    crm = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t.close());

  // Any valid challenge: these tests stop at the callback and never redeem the code.
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  const authUrl = (extra: Record<string, string> = {}) =>
    oidc.buildAuthorizationUrl(crm, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...extra }).href;

  it('shows a labelled form with tenant, username and password, and never caches it', async () => {
    const page = await new Browser(t.issuer).follow(authUrl());
    expect(page.status).toBe(200);
    for (const name of ['tenant', 'username', 'password']) {
      expect(page.body).toContain(`<label for="${name}">`);
      expect(page.body).toContain(`name="${name}"`);
    }
    expect(page.body).toContain('CRM');
    expect(page.headers.get('cache-control')).toContain('no-store');
  });

  it('pre-fills tenant and username from login_hint=user@code', async () => {
    const page = await new Browser(t.issuer).follow(authUrl({ login_hint: 'alice@acme' }));
    expect(inputValue(page.body, 'tenant')).toBe('acme');
    expect(inputValue(page.body, 'username')).toBe('alice');
  });

  it('pre-fills the tenant last used in this browser', async () => {
    const browser = new Browser(t.issuer);
    await authorize(browser, authUrl(), aliceLogin);
    expect(browser.cookie('atrium_tenant')).toBe('acme');
    const again = await browser.follow(authUrl({ prompt: 'login' }));
    expect(inputValue(again.body, 'tenant')).toBe('acme');
  });

  it('answers every failure with one generic message and no hint of the cause', async () => {
    const attempts = [
      { tenant: 'acme', username: 'alice', password: 'not the password' },
      { tenant: 'acme', username: 'nobody', password: PASSWORD },
      { tenant: 'nowhere', username: 'alice', password: PASSWORD },
      { tenant: 'globex', username: 'alice', password: PASSWORD },
    ];
    const bodies: string[] = [];
    for (const credentials of attempts) {
      const browser = new Browser(t.issuer);
      const login = await browser.follow(authUrl());
      const answer = await submitForm(browser, login, credentials);
      expect(answer.status).toBe(401);
      expect(answer.location).toBeUndefined();
      bodies.push(answer.body.replace(/\/interaction\/[^/"]+/g, '/interaction/UID').replace(/value="[^"]*"/g, 'value=""'));
    }
    expect(bodies[0]).toContain('The organisation, username or password is not correct.');
    expect(new Set(bodies).size).toBe(1);
  });

  it('signs in a disabled user never, and stops the tokens of a user once disabled', async () => {
    const user = await t.atrium.directory.users.create(seed.acme.id, { username: 'dave', password: PASSWORD });
    const browser = new Browser(t.issuer);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(crm, {
      redirect_uri: 'https://crm.test/callback',
      scope: 'openid',
      state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = (await authorize(browser, url.href, { tenant: 'acme', username: 'dave', password: PASSWORD })).location!;
    const tokens = await oidc.authorizationCodeGrant(crm, new URL(callback), { pkceCodeVerifier: verifier, expectedState: 's' });

    await t.atrium.directory.users.update(user.id, { status: 'disabled' });
    await expect(oidc.fetchUserInfo(crm, tokens.access_token, user.id)).rejects.toBeDefined();
    await expect(oidc.refreshTokenGrant(crm, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const second = new Browser(t.issuer);
    const login = await second.follow(authUrl());
    const answer = await submitForm(second, login, { tenant: 'acme', username: 'dave', password: PASSWORD });
    expect(answer.status).toBe(401);
  });

  it('refuses a login body over 8 KB with 413, before any hashing', async () => {
    const browser = new Browser(t.issuer);
    const login = await browser.follow(authUrl());
    const answer = await submitForm(browser, login, { ...aliceLogin, padding: 'x'.repeat(9000) });
    expect(answer.status).toBe(413);
    expect(answer.body).toContain('Request too large');
    expect(answer.body).not.toMatch(/node_modules|\n\s+at /);
  });

  it('signs a form posted four times at once in once: no post brings back a sign-in that resumed, nor a second code', async () => {
    const browser = new Browser(t.issuer);
    const login = await browser.follow(authUrl());
    const uid = /\/interaction\/([^/?#]+)/.exec(login.url)![1]!;
    const posts = Array.from({ length: 4 }, () => submitForm(browser, login, aliceLogin));
    // As soon as one is signed in, the browser resumes: the sign-in ends, with a code for the app.
    const first = await Promise.any(posts.map(async (post) => ((await post).status === 303 ? post : Promise.reject(new Error('not signed in')))));
    const resumeCookies = ['_interaction_resume', '_interaction_resume.sig'].map((name) => [name, browser.cookie(name)] as const);
    const callback = await browser.get(first.location!);
    expect(new URL(callback.location!).searchParams.get('code')).toBeTruthy();

    const answers = await Promise.all(posts);
    expect(answers.every((answer) => answer.status === 303 || answer.status === 400)).toBe(true);
    expect(await t.atrium.store.get(oidcKeys.record('Interaction', uid))).toBeUndefined();
    // The resume cookie, replayed, gives nothing more.
    const replay = new Browser(t.issuer);
    for (const [name, value] of resumeCookies) if (value) replay.setCookie(name, value, `/auth/${uid}`);
    const replayed = await replay.get(first.location!);
    expect(replayed.location ?? '').not.toContain('code=');
    expect(replayed.status).toBe(400);
  });

  it('explains an expired or foreign sign-in page instead of failing, in the reader’s language, also after the back button', async () => {
    const answer = await new Browser(t.issuer).post(`${t.issuer}/interaction/not-a-real-uid/login`, aliceLogin);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('<h1>This sign-in page has expired</h1>');
    expect(answer.body).toContain('If you are signed in, your apps are on the start page');
    expect(answer.body).not.toMatch(/node_modules|\n\s+at |interaction session/);

    // Signed in, then back to the sign-in page (the browser's back button): the browser, signed in,
    // goes to its workbench; the form sent again, and the page in a browser not signed in, expired.
    const browser = new Browser(t.issuer);
    const login = await browser.follow(authUrl());
    const done = await submitForm(browser, login, aliceLogin);
    await browser.follow(done.location!);
    const back = await browser.get(login.url);
    expect([back.status, back.location]).toEqual([303, `${t.issuer}/`]);
    expect((await browser.follow(back.location!)).body).toContain('Signed in as Alice Liddell');
    for (const again of [await submitForm(browser, login, aliceLogin), await new Browser(t.issuer).get(login.url)]) {
      expect(again.status).toBe(400);
      expect(again.body).toContain('<h1>This sign-in page has expired</h1>');
      expect(again.body).not.toContain('interaction session');
    }
    const chinese = await new Browser(t.issuer).request(login.url, { headers: { 'accept-language': 'zh-CN' } });
    expect(chinese.body).toContain('此登录页面已失效');
    // Signed out, the back button shows the expired page again.
    await browser.post(`${t.issuer}/signout`, { csrf: browser.cookie('atrium_csrf') ?? '' });
    expect((await browser.get(login.url)).status).toBe(400);
  });

  it('lets the user cancel: the app gets access_denied', async () => {
    const browser = new Browser(t.issuer);
    const login = await browser.follow(authUrl());
    const abort = /href="(\/interaction\/[^"]+\/abort)"/.exec(login.body)![1]!;
    const page = await browser.follow(`${t.issuer}${abort}`);
    expect(new URL(page.location!).searchParams.get('error')).toBe('access_denied');
  });

  it('renews the session cookie at sign-in (no session fixation)', async () => {
    const browser = new Browser(t.issuer);
    await authorize(browser, authUrl(), aliceLogin);
    const before = browser.cookie('_session');
    expect(before).toBeTruthy();
    const login = await browser.follow(authUrl({ prompt: 'login' }));
    await browser.follow((await submitForm(browser, login, aliceLogin)).location!);
    expect(browser.cookie('_session')).not.toBe(before);
  });
});

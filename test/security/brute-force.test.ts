/**
 * Adversarial: password guessing, credential stuffing behind forged proxies, user enumeration by
 * content and by timing, and a flood of sign-ins against the argon2 queue.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Browser, submitForm, type Page } from '../helpers/browser.js';
import { aliceLogin, seedDirectory } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import type { Config } from '../../src/config/index.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(adjust: (config: Config) => void = () => undefined) {
  const t = await startAtrium('redis', adjust);
  servers.push(t);
  const seed = await seedDirectory(t.atrium.directory);
  return { t, seed };
}

/** A login page for CRM, ready to take credentials. */
async function loginPage(t: TestServer, clientId: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser(t.issuer);
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: 'https://crm.test/callback',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const page = await browser.follow(`${t.issuer}/auth?${query}`);
  expect(page.url).toContain('/interaction/');
  return { browser, page };
}

const normalise = (html: string): string => html.replace(/\/interaction\/[^/"?]+/g, '/interaction/UID').replace(/value="[^"]*"/g, 'value=""');

describe('brute force and credential stuffing', () => {
  it('locks an account after 100 failures in an hour, whatever X-Forwarded-For claims, with the same answer for the right password', async () => {
    const { t, seed } = await server();
    const { browser, page } = await loginPage(t, seed.crm.app.clientId);
    const wrong = await submitForm(browser, page, { ...aliceLogin, password: 'not the password' });
    for (let i = 1; i < 100; i += 1) {
      const answer = await browser.request(page.url.replace(/\/interaction\/([^/]+)$/, '/interaction/$1/login'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': `203.0.113.${i}` },
        body: new URLSearchParams({ csrf: browser.cookie('atrium_csrf')!, ...aliceLogin, password: `guess ${i}` }).toString(),
      });
      expect(answer.status).toBe(401);
    }
    expect(await t.atrium.directory.throttle.failures('acme', 'alice')).toBe(100);

    const right = await submitForm(browser, page, aliceLogin);
    expect(right.status).toBe(401);
    expect(normalise(right.body)).toBe(normalise(wrong.body));

    // A tenant admin unlocks; the right password works again.
    await t.atrium.directory.throttle.unlock('acme', 'alice');
    const unlocked = await submitForm(browser, page, aliceLogin);
    expect(unlocked.status).toBe(303);
  });

  it('counts failures per client address from the trusted proxy hop only', async () => {
    const { t, seed } = await server((c) => {
      c.trustProxyHops = 1;
      c.throttle.ipFailuresPerHour = 5;
    });
    const attempt = async (forwardedFor: string, credentials: Record<string, string>) => {
      const { browser, page } = await loginPage(t, seed.crm.app.clientId);
      return browser.request(page.url.replace(/\/interaction\/([^/]+)$/, '/interaction/$1/login'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
        body: new URLSearchParams({ csrf: browser.cookie('atrium_csrf')!, ...credentials }).toString(),
      });
    };
    // The attacker forges the left-most entries; the proxy appends the real address last.
    for (let i = 0; i < 5; i += 1) {
      expect((await attempt(`198.51.100.${i}, 192.0.2.10`, { tenant: 'acme', username: `user${i}`, password: 'wrong password' })).status).toBe(401);
    }
    expect((await attempt('198.51.100.99, 192.0.2.10', aliceLogin)).status).toBe(401);
    expect((await attempt('192.0.2.11', aliceLogin)).status).toBe(303);
    expect(await t.atrium.directory.throttle.failures('acme', 'alice')).toBe(0);
  });

  it('refuses the most common breached passwords', async () => {
    const { t, seed } = await server();
    for (const password of ['password1', 'iloveyou', 'qwertyuiop', 'Password123']) {
      await expect(t.atrium.directory.users.create(seed.acme.id, { username: 'weak', password })).rejects.toThrow(/most common breached passwords/);
    }
    await expect(t.atrium.directory.users.create(seed.acme.id, { username: 'strong', password: 'violet lantern orbit 42' })).resolves.toBeDefined();
  });
});

describe('user enumeration', () => {
  it('answers an unknown user and a wrong password alike, in content and in time (medians within 5 ms over 200 tries each)', async () => {
    const { t, seed } = await server((c) => {
      c.throttle = { accountFailuresPerHour: 10_000, ipFailuresPerHour: 10_000 };
    });
    const { browser, page } = await loginPage(t, seed.crm.app.clientId);
    const unknown = { tenant: 'acme', username: 'nobody-here', password: 'some password' };
    const wrong = { tenant: 'acme', username: 'alice', password: 'some password' };
    const bodies = new Set<string>();
    const times: Record<'unknown' | 'wrong', number[]> = { unknown: [], wrong: [] };
    // Warm-up (the dummy hash is computed on first use), then alternate the two kinds.
    await submitForm(browser, page, unknown);
    for (let i = 0; i < 200; i += 1) {
      for (const [kind, credentials] of [['unknown', unknown], ['wrong', wrong]] as const) {
        const started = process.hrtime.bigint();
        const answer = await submitForm(browser, page, credentials);
        times[kind].push(Number(process.hrtime.bigint() - started) / 1e6);
        expect(answer.status).toBe(401);
        bodies.add(normalise(answer.body).replace(/value=""[^>]*name="username"|name="username"[^>]*value=""/g, ''));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const difference = Math.abs(median(times.unknown) - median(times.wrong));
    console.info(`sign-in medians: unknown user ${median(times.unknown).toFixed(2)} ms, wrong password ${median(times.wrong).toFixed(2)} ms`);
    expect(difference).toBeLessThan(5);
    expect(bodies.size).toBe(1);
  }, 120_000);
});

describe('a flood of sign-ins', () => {
  it('queues argon2 work: overflow gets 503 with Retry-After, discovery stays responsive, memory stays bounded', async () => {
    const { t, seed } = await server((c) => {
      c.passwordHashing = { concurrency: 2, maxQueue: 50 };
      c.throttle = { accountFailuresPerHour: 100_000, ipFailuresPerHour: 100_000 };
    });
    const { browser, page } = await loginPage(t, seed.crm.app.clientId);
    const rssBefore = process.memoryUsage().rss;
    let finished = 0;
    const storm = Array.from({ length: 500 }, () =>
      submitForm(browser, page, { tenant: 'acme', username: 'alice', password: 'flood attempt' }).then((answer) => {
        finished += 1;
        return answer;
      }),
    );
    // While the flood is being worked off, other endpoints answer.
    const discovery = await Promise.all(Array.from({ length: 10 }, () => fetch(`${t.issuer}/.well-known/openid-configuration`)));
    const finishedWhenDiscoveryAnswered = finished;
    const answers = await Promise.all(storm);
    const rssGrowth = process.memoryUsage().rss - rssBefore;

    expect(discovery.every((r) => r.status === 200)).toBe(true);
    expect(finishedWhenDiscoveryAnswered).toBeLessThan(500);
    const refused = answers.filter((a) => a.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.headers.get('retry-after') === '2')).toBe(true);
    expect(answers.filter((a) => a.status === 401).length + refused.length).toBe(500);
    expect(answers.some((a) => a.status >= 500 && a.status !== 503)).toBe(false);
    // 2 argon2 hashes of 19 MiB at a time, not 500.
    expect(rssGrowth).toBeLessThan(400 * 1024 * 1024);
  }, 120_000);
});

/**
 * The workbench in a real browser: Debian's Chromium driven by playwright-core, against the demo
 * (`npm run demo`'s Atrium and its two relying parties) on free loopback ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDemo, type Demo } from '../../src/demo/main.js';

const CHROMIUM = { executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] };

describe('the workbench in Chromium', () => {
  let demo: Demo;
  let browser: Browser;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'atrium-e2e-'));
    demo = await startDemo({ dataDir, host: '127.0.0.1', quiet: true });
    browser = await chromium.launch(CHROMIUM);
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function signIn(options: { locale?: string; viewport?: { width: number; height: number } } = {}): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ locale: options.locale ?? 'en-US', viewport: options.viewport ?? { width: 1100, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${demo.urls.atrium}/`);
    await page.getByLabel(options.locale?.startsWith('zh') ? '组织' : 'Organisation').fill('acme');
    await page.getByLabel(options.locale?.startsWith('zh') ? '用户名' : 'Username').fill('alice');
    await page.getByLabel(options.locale?.startsWith('zh') ? '密码' : 'Password').fill(demo.credentials.password);
    await page.getByRole('button', { name: options.locale?.startsWith('zh') ? '登录' : 'Sign in' }).click();
    await page.waitForURL(`${demo.urls.atrium}/`);
    return { context, page };
  }

  it('signs in through the real form and lists exactly the active assigned apps', async () => {
    const { context, page } = await signIn();
    await expect.poll(() => page.locator('h1').textContent()).toEqual('Your apps');
    const names = await page.locator('.tile-name').allTextContents();
    expect(names).toEqual(['Acme CRM', 'Team Notes', 'Legacy ERP']);
    expect(await page.locator('a.tile-body').count()).toBe(2);
    await expect.poll(() => page.locator('.tile-body.expired .badge').textContent()).toEqual('Expired on Jan 31, 2026');
    await expect.poll(() => page.locator('header').textContent()).toContain('Alice Chen · Acme Corp');
    await context.close();
  });

  it('does not launch an expired subscription', async () => {
    const { context, page } = await signIn();
    await expect.poll(() => page.locator('.tile-body.expired').getAttribute('aria-disabled')).toBe('true');
    const response = await page.goto(`${demo.urls.atrium}/launch/${demo.ids.erp}`);
    expect(response?.status()).toBe(403);
    await expect.poll(() => page.locator('main').textContent()).toContain('expired on Jan 31, 2026');
    await context.close();
  });

  it('launches directly: the app’s callback gets code and tenant, and its tokens carry the same tenant_id', async () => {
    const { context, page } = await signIn();
    const callback = page.waitForRequest((r) => r.url().startsWith(`${demo.urls.crm}/callback`));
    await page.getByRole('link', { name: /Acme CRM/ }).click();
    const url = new URL((await callback).url());
    expect(url.searchParams.get('code')).toBeTruthy();
    expect(url.searchParams.get('tenant')).toBe(demo.ids.tenantId);
    expect(url.searchParams.get('iss')).toBe(demo.urls.atrium);
    await page.waitForURL(`${demo.urls.crm}/`);
    await expect.poll(() => page.locator('#tenant').textContent()).toBe(demo.ids.tenantId);
    await expect.poll(() => page.locator('#tenant-claim').textContent()).toBe(demo.ids.tenantId);
    await expect.poll(() => page.locator('#via').textContent()).toContain('workbench launch');
    expect(JSON.parse((await page.locator('#userinfo').textContent())!)).toMatchObject({ tenant_id: demo.ids.tenantId, preferred_username: 'alice' });

    await page.locator('#refresh').click();
    await page.locator('#refreshed').waitFor();
    await context.close();
  });

  it('launches through initiate_login_uri with iss, then the app’s own request gets a code at once', async () => {
    const { context, page } = await signIn();
    const initiate = page.waitForRequest((r) => r.url().startsWith(`${demo.urls.notes}/login`));
    const callback = page.waitForRequest((r) => r.url().startsWith(`${demo.urls.notes}/callback`));
    await page.getByRole('link', { name: /Team Notes/ }).click();
    const start = new URL((await initiate).url());
    expect(start.searchParams.get('iss')).toBe(demo.urls.atrium);
    expect(start.searchParams.get('login_hint')).toBe('alice@acme');
    expect(start.searchParams.get('target_link_uri')).toBe(`${demo.urls.notes}/`);
    const back = new URL((await callback).url());
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(back.searchParams.get('state')).toBeTruthy();
    await page.waitForURL(`${demo.urls.notes}/`);
    await expect.poll(() => page.locator('#via').textContent()).toContain('initiate_login_uri');
    await expect.poll(() => page.locator('#tenant-claim').textContent()).toBe(demo.ids.tenantId);
    await context.close();
  });

  it('signs out from the workbench: the session ends', async () => {
    const { context, page } = await signIn();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect.poll(() => page.locator('h1').textContent()).toEqual('Signed out');
    await page.goto(`${demo.urls.atrium}/`);
    await page.getByLabel('Password').waitFor();
    expect(page.url()).toContain('/interaction/');
    await context.close();
  });

  it('renders the Chinese pages', async () => {
    const { context, page } = await signIn({ locale: 'zh-CN' });
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await expect.poll(() => page.locator('h1').textContent()).toEqual('我的应用');
    await page.getByRole('button', { name: '退出登录', exact: true }).waitFor();
    await page.getByRole('link', { name: 'English' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toEqual('Your apps');
    await context.close();
  });

  it('filters tiles as you type, from the keyboard', async () => {
    const { context, page } = await signIn();
    await page.keyboard.press('Tab'); // skip link
    await page.locator('#q').focus();
    await page.keyboard.type('notes');
    await expect.poll(() => page.locator('.tile:visible .tile-name').allTextContents()).toEqual(['Team Notes']);
    await page.keyboard.press('Control+A');
    await page.keyboard.type('nothing like it');
    await page.locator('#no-match').waitFor();
    await context.close();
  });

  it('fits a phone screen and loads nothing from other sites', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
    const page = await context.newPage();
    const origins = new Set<string>();
    page.on('request', (r) => origins.add(new URL(r.url()).origin));
    await page.goto(`${demo.urls.atrium}/`);
    await page.getByLabel('Organisation').fill('acme');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(demo.credentials.password);
    await page.getByLabel('Password').press('Enter');
    await page.waitForURL(`${demo.urls.atrium}/`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    expect([...origins]).toEqual([demo.urls.atrium]);
    await context.close();
  });
});

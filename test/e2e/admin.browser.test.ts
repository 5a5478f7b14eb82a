/**
 * The admin pages in Chromium: the platform admin registers an app (its secret shown once),
 * assigns it, creates a user who then sees it on the workbench; a secret rotation keeps the old
 * secret working during the grace period and refuses it after. Each action of the pages, clicked
 * through, with its effect checked in the store or by signing in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import type { Tenant } from '../../src/directory/tenants.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';

const CHROMIUM = { executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] };
const ADMIN_PASSWORD = 'platform admin password 1';

describe('the admin pages in Chromium', () => {
  let t: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    t = await startAtrium('sqlite');
    await ensurePlatformAdmin(t.atrium.directory, ADMIN_PASSWORD);
    await t.atrium.directory.tenants.create({ code: 'acme', name: 'Acme Corp' });
    browser = await chromium.launch(CHROMIUM);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const signIn = async (page: Page, tenant: string, username: string, password: string) => {
    await page.getByLabel('Organisation').fill(tenant);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  /** A new tenant admin of acme, signed in in a browser context of their own, on the users page. */
  const acmeAdminPage = async (username: string) => {
    const acme = (await t.atrium.directory.tenants.byCode('acme'))!;
    await t.atrium.directory.users.create(acme.id, { username, password: 'tenant admin passphrase', role: 'admin' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.issuer}/admin`);
    await signIn(page, 'acme', username, 'tenant admin passphrase');
    await page.waitForURL(/\/admin\/users/);
    return { acme, context, page };
  };

  /** The platform admin, signed in in a browser context of their own, on the tenants page. */
  const platformPage = async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.issuer}/admin`);
    await signIn(page, 'platform', 'admin', ADMIN_PASSWORD);
    await page.waitForURL(`${t.issuer}/admin/tenants`);
    return { context, page };
  };

  /**
   * Signs in at the workbench in a new browser context: whether that worked (the workbench, not the
   * sign-in page with its error), and the page, still signed in when it did.
   */
  const tryWorkbench = async (tenant: string, username: string, password: string) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.issuer}/`);
    await signIn(page, tenant, username, password);
    await Promise.race([page.waitForURL(`${t.issuer}/`), page.locator('p.alert').waitFor()]);
    return { signedIn: page.url() === `${t.issuer}/`, context, page };
  };
  const canSignIn = async (tenant: string, username: string, password: string): Promise<boolean> => {
    const { signedIn, context } = await tryWorkbench(tenant, username, password);
    await context.close();
    return signedIn;
  };

  /** Whether a page once signed in still is: reloading the workbench does not send it to sign in. */
  const stillSignedIn = async (page: Page): Promise<boolean> => {
    await page.goto(`${t.issuer}/`);
    return page.url() === `${t.issuer}/`;
  };

  const tileNames = async (tenant: string, username: string, password: string): Promise<string[]> => {
    const { signedIn, context, page } = await tryWorkbench(tenant, username, password);
    expect(signedIn).toBe(true);
    const names = await page.locator('.tile-name').allTextContents();
    await context.close();
    return names;
  };

  /** Submits a form and waits for the page the admin script reloads. */
  const submitAndReload = async (page: Page, click: () => Promise<void>) => {
    await Promise.all([page.waitForEvent('load'), click()]);
  };

  /** The platform admin on the apps page: its registration form. */
  const appRegistration = async () => {
    const { context, page } = await platformPage();
    await page.getByRole('link', { name: 'Apps' }).click();
    return { context, page, form: page.locator('form[data-api="POST /apps"]') };
  };
  /** Fills the name and the redirect URI of the registration form. */
  const fillApp = async (form: Locator, name: string, redirectUri: string) => {
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Redirect URIs (one per line; the first is the launch callback)').fill(redirectUri);
  };

  /** Clicks through to a confirm, declines it, and gives its question. */
  const declinedConfirm = async (page: Page, click: () => Promise<void>): Promise<string> => {
    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.dismiss();
    });
    await click();
    return asked;
  };

  /**
   * Disable (its confirm accepted) on a user's or tenant's row, then Enable: `status` reads what the
   * store says, `signedIn` is a browser of a user it concerns, signed out by the disabling, and
   * `login` a user it concerns, who cannot sign in while disabled and can again after; `whileDisabled`
   * checks the page then.
   */
  const disableThenEnable = async (
    page: Page,
    row: Locator,
    status: () => Promise<string | undefined>,
    signedIn: { page: Page; context: BrowserContext },
    login: [string, string, string],
    whileDisabled: () => Promise<void> = async () => undefined,
  ) => {
    page.once('dialog', (dialog) => void dialog.accept());
    await submitAndReload(page, () => row.getByRole('button', { name: 'Disable' }).click());
    expect(await status()).toBe('disabled');
    await whileDisabled();
    expect(await stillSignedIn(signedIn.page)).toBe(false);
    await signedIn.context.close();
    expect(await canSignIn(...login)).toBe(false);

    await submitAndReload(page, () => row.getByRole('button', { name: 'Enable' }).click());
    expect(await status()).toBe('active');
    expect(await canSignIn(...login)).toBe(true);
  };

  const introspect = async (clientId: string, secret: string) =>
    (await fetch(`${t.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=unknown',
    })).status;

  it('registers an app, assigns it, creates a user, and the user sees the app; rotation honours the grace period', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.issuer}/admin`);
    await signIn(page, 'platform', 'admin', ADMIN_PASSWORD);
    await page.waitForURL(`${t.issuer}/admin/tenants`);
    await expect.poll(() => page.locator('td', { hasText: 'acme' }).count()).toBeGreaterThan(0);

    // Register an app: the secret is shown once, in a dialog.
    await page.getByRole('link', { name: 'Apps' }).click();
    expect(await page.locator('td.empty').allTextContents()).toEqual(['No apps are registered yet.']);
    await page.getByLabel('Name', { exact: true }).fill('Expenses');
    await page.getByLabel('Redirect URIs (one per line; the first is the launch callback)').fill('https://expenses.test/callback');
    await page.getByRole('button', { name: 'Register app' }).click();
    await page.locator('#secret-dialog[open]').waitFor();
    const secret = (await page.locator('#secret-value').textContent())!;
    const clientId = /Client id: ([0-9a-f]{32})/.exec((await page.locator('#secret-extra').textContent())!)![1]!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await submitAndReload(page, () => page.getByRole('button', { name: 'I have copied it' }).click());
    expect(await page.content()).not.toContain(secret);
    expect(await page.locator('td.empty').count()).toBe(0);

    // Assign it to acme.
    await page.getByRole('link', { name: 'Assignments' }).click();
    expect(await page.locator('td.empty').allTextContents()).toEqual(['No apps are assigned yet.']);
    await page.getByLabel('App', { exact: true }).selectOption(clientId);
    await submitAndReload(page, () => page.getByRole('button', { name: 'Assign' }).click());
    await expect.poll(() => page.locator('td code', { hasText: clientId }).count()).toBe(1);

    // Create a user in acme.
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.locator('#u-username').fill('quinn');
    await page.getByLabel('Name', { exact: true }).fill('Quinn');
    await page.getByLabel('Initial password').fill('a brand new passphrase');
    await submitAndReload(page, () => page.getByRole('button', { name: 'Create user' }).click());
    await expect.poll(() => page.locator('td', { hasText: /^quinn$/ }).count()).toBe(1);

    // The user sees the app on the workbench.
    const userContext = await browser.newContext();
    const userPage = await userContext.newPage();
    await userPage.goto(`${t.issuer}/`);
    await signIn(userPage, 'acme', 'quinn', 'a brand new passphrase');
    await userPage.waitForURL(`${t.issuer}/`);
    await expect.poll(() => userPage.locator('.tile-name').allTextContents()).toEqual(['Expenses']);
    await userContext.close();

    // Rotate with a 2-second grace period: the old secret works, then it does not.
    expect(await introspect(clientId, secret)).toBe(200);
    await page.getByRole('link', { name: 'Apps' }).click();
    await page.getByLabel('Grace period (seconds)').fill('2');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.locator('#secret-dialog[open]').waitFor();
    const fresh = (await page.locator('#secret-value').textContent())!;
    expect(fresh).not.toBe(secret);
    expect(await introspect(clientId, secret)).toBe(200);
    expect(await introspect(clientId, fresh)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2200));
    expect(await introspect(clientId, secret)).toBe(401);
    expect(await introspect(clientId, fresh)).toBe(200);
    await context.close();
  });

  it('shows a tenant admin only their own tenant, and refuses ordinary users', async () => {
    const { context, page } = await acmeAdminPage('tara');
    expect(await page.locator('.admin-nav a').allTextContents()).toEqual(['Assignments', 'Users', 'Sessions', 'Audit']);
    expect(await page.locator('#tenant-name').textContent()).toBe('Tenant: Acme Corp (acme)');
    await page.goto(`${t.issuer}/admin/users?q=nobody-by-this-name`);
    expect(await page.locator('td.empty').allTextContents()).toEqual(['No user matches the search.']);
    const platformOnly = await page.goto(`${t.issuer}/admin/apps`);
    expect(platformOnly?.status()).toBe(403);
    // From the workbench to the admin pages, and signed out from there.
    await page.goto(`${t.issuer}/`);
    await Promise.all([page.waitForURL(/\/admin\/users/), page.getByRole('link', { name: 'Administration' }).click()]);
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Sign out', exact: true }).click()]);
    await page.goto(`${t.issuer}/admin/users`);
    expect(page.url()).toMatch(/\/interaction\//);
    await context.close();

    // An ordinary user's workbench has no way there.
    const acme = (await t.atrium.directory.tenants.byCode('acme'))!;
    await t.atrium.directory.users.create(acme.id, { username: 'olly', password: 'an ordinary passphrase' });
    const userContext = await browser.newContext();
    const userPage = await userContext.newPage();
    await userPage.goto(`${t.issuer}/`);
    await signIn(userPage, 'acme', 'olly', 'an ordinary passphrase');
    await userPage.waitForURL(`${t.issuer}/`);
    expect(await userPage.getByRole('link', { name: 'Administration' }).count()).toBe(0);
    await userContext.close();
  });

  it('keeps every tenant in the picker (more than a page of them), and the chosen one, when a platform admin searches or pages a tenant’s users', async () => {
    const acme = (await t.atrium.directory.tenants.byCode('acme'))!;
    await t.atrium.directory.users.create(acme.id, { username: 'zelda', password: 'a passphrase for zelda', name: 'Zelda' });
    for (let i = (await t.atrium.directory.tenants.list()).length; i <= 55; i += 1) await t.atrium.directory.tenants.create({ code: `many-${i}`, name: `Many ${i}` });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.issuer}/admin`);
    await signIn(page, 'platform', 'admin', ADMIN_PASSWORD);
    await page.waitForURL(`${t.issuer}/admin/tenants`);
    // The page's own list parameters are for its list of users, not for the tenants it picks from.
    await page.goto(`${t.issuer}/admin/users?q=zelda&limit=1`);
    const everyTenant = (await t.atrium.directory.tenants.list()).map((tenant) => `${tenant.name} (${tenant.code})`);
    expect(await page.locator('#tenant option').allTextContents()).toEqual(everyTenant);
    expect(await page.locator('#tenant').inputValue()).toBe(acme.id);
    expect(await page.locator('td', { hasText: /^zelda$/ }).count()).toBe(1);

    // A page at a time: the next page has the next user, the tenant stays chosen, and the way back is there.
    const usernames = (await t.atrium.directory.users.list(acme.id)).map((u) => u.username).sort();
    await page.goto(`${t.issuer}/admin/users?tenant=${acme.id}&limit=1`);
    expect(await page.locator('.admin-table tbody td:first-child').allTextContents()).toEqual([usernames[0]]);
    expect(await page.locator('.pager a').allTextContents()).toEqual(['Next page']);
    await page.getByRole('link', { name: 'Next page' }).click();
    expect(await page.locator('.admin-table tbody td:first-child').allTextContents()).toEqual([usernames[1]]);
    expect(await page.locator('#tenant').inputValue()).toBe(acme.id);
    await page.getByRole('link', { name: 'First page' }).click();
    expect(await page.locator('.admin-table tbody td:first-child').allTextContents()).toEqual([usernames[0]]);
    await context.close();
  });

  it('sends an import file as it is, so that one not in UTF-8 is refused rather than imported mangled', async () => {
    const { acme, context, page } = await acmeAdminPage('uma');
    await page.locator('#u-file').setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from('username,password,name\njose,contraseña segura,José García\n', 'latin1') });
    await page.getByRole('button', { name: 'Import' }).click();
    await expect.poll(() => page.locator('#admin-error').textContent()).toContain('line 2: not UTF-8');
    expect(await t.atrium.directory.users.byUsername(acme.id, 'jose')).toBeUndefined();
    await context.close();
  });
  describe('the users page', () => {
    it('resets a password to exactly what the admin typed, shows the API’s refusal of a weak one, and offers no disable or delete of the admin’s own account', async () => {
      const { acme, context, page } = await acmeAdminPage('vera');
      await t.atrium.directory.users.create(acme.id, { username: 'ursula', password: 'ursula first passphrase' });
      await page.reload();
      const own = page.locator('tr[data-username="vera"]');
      expect(await own.locator('.badge').textContent()).toBe('you');
      expect(await own.locator('button').allTextContents()).toEqual(['End sessions', 'Set password']);
      const row = page.locator('tr[data-username="ursula"]');
      expect(await row.locator('button').allTextContents()).toEqual(['Disable', 'End sessions', 'Delete', 'Set password']);

      // A password from the breached list: the API's answer, in the page; nothing changed.
      await row.getByText('Reset password').click();
      await row.getByLabel('New password for ursula').fill('password123');
      await row.getByRole('button', { name: 'Set password' }).click();
      await expect.poll(() => page.locator('#admin-error').textContent()).toMatch(/^password: is one of the most common breached passwords/);
      expect(await page.locator('#admin-error').isVisible()).toBe(true);
      expect(await canSignIn('acme', 'ursula', 'ursula first passphrase')).toBe(true);

      // Spaces at the ends are part of the password typed.
      await row.getByLabel('New password for ursula').fill('  ursula second passphrase ');
      await submitAndReload(page, () => row.getByRole('button', { name: 'Set password' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('The password of ursula is set.');
      expect(await canSignIn('acme', 'ursula', 'ursula first passphrase')).toBe(false);
      expect(await canSignIn('acme', 'ursula', 'ursula second passphrase')).toBe(false);
      expect(await canSignIn('acme', 'ursula', '  ursula second passphrase ')).toBe(true);
      await context.close();
    });

    it('unlocks a locked account, ends a user’s sessions, and disables (after a confirm) and enables a user', async () => {
      const { acme, context, page } = await acmeAdminPage('wanda');
      const victor = await t.atrium.directory.users.create(acme.id, { username: 'victor', password: 'victor own passphrase' });
      await page.reload();
      const row = page.locator('tr[data-username="victor"]');

      // Locked by failed attempts: refused even with the right password, until unlocked.
      expect(await row.getByRole('button', { name: 'Unlock' }).count()).toBe(0);
      for (let i = 0; i < 200 && !(await t.atrium.directory.throttle.attempt('acme', 'victor', undefined)).locked; i += 1);
      expect(await canSignIn('acme', 'victor', 'victor own passphrase')).toBe(false);
      await page.reload();
      expect(await row.locator('.badge.warn').textContent()).toBe('locked');
      await submitAndReload(page, () => row.getByRole('button', { name: 'Unlock' }).click());
      expect(await row.getByRole('button', { name: 'Unlock' }).count()).toBe(0);
      expect(await t.atrium.directory.throttle.failures('acme', 'victor')).toBe(0);
      const signedIn = await tryWorkbench('acme', 'victor', 'victor own passphrase');
      expect(signedIn.signedIn).toBe(true);

      // End sessions (after a confirm): his browser is signed out.
      page.once('dialog', (dialog) => void dialog.accept());
      await submitAndReload(page, () => row.getByRole('button', { name: 'End sessions' }).click());
      expect(await stillSignedIn(signedIn.page)).toBe(false);
      await signedIn.context.close();

      // Disable asks first; declined, nothing happens.
      const again = await tryWorkbench('acme', 'victor', 'victor own passphrase');
      page.once('dialog', (dialog) => void dialog.dismiss());
      await row.getByRole('button', { name: 'Disable' }).click();
      const victorStatus = async () => (await t.atrium.directory.users.byId(victor.id))?.status;
      expect(await victorStatus()).toBe('active');
      await disableThenEnable(page, row, victorStatus, again, ['acme', 'victor', 'victor own passphrase'], async () => {
        expect(await row.locator('td').nth(4).textContent()).toBe('disabled');
      });
      expect(await row.locator('td').nth(4).textContent()).toBe('active');
      await context.close();
    });

    it('deletes a user only after a confirm', async () => {
      const { acme, context, page } = await acmeAdminPage('xena');
      await t.atrium.directory.users.create(acme.id, { username: 'walter', password: 'walter own passphrase' });
      await page.reload();
      const row = page.locator('tr[data-username="walter"]');
      expect(await declinedConfirm(page, () => row.getByRole('button', { name: 'Delete' }).click())).toBe('Delete walter? This cannot be undone.');
      expect(await t.atrium.directory.users.byUsername(acme.id, 'walter')).toBeDefined();
      page.once('dialog', (dialog) => void dialog.accept());
      await submitAndReload(page, () => row.getByRole('button', { name: 'Delete' }).click());
      expect(await t.atrium.directory.users.byUsername(acme.id, 'walter')).toBeUndefined();
      expect(await page.locator('tr[data-username="walter"]').count()).toBe(0);
      expect(await canSignIn('acme', 'walter', 'walter own passphrase')).toBe(false);
      await context.close();
    });

    it('edits a user’s name, e-mail, mobile and role, and shows the API’s refusal of a bad e-mail with nothing changed', async () => {
      const { acme, context, page } = await acmeAdminPage('nadia');
      const ivan = await t.atrium.directory.users.create(acme.id, { username: 'ivan', password: 'ivan own passphrase', name: 'Ivan', email: 'ivan@acme.test', mobile: '+86 139 0000 0000' });
      await page.reload();
      const row = page.locator('tr[data-username="ivan"]');
      await row.getByRole('link', { name: 'Edit' }).click();
      expect(await page.locator('#edit').textContent()).toBe('Edit ivan');
      expect(await page.locator('#e-email').inputValue()).toBe('ivan@acme.test');

      // An address the API does not take: its 400, naming the field, in the page; nothing changed.
      await page.locator('#e-name').fill('Ivan Petrov');
      await page.locator('#e-email').fill('ivan@intranet');
      await page.getByRole('button', { name: 'Save changes' }).click();
      const refusal = await page.evaluate(async (path) => {
        const csrf = document.querySelector<HTMLFormElement>('form[data-send-empty]')!.dataset.csrf!;
        const res = await fetch(path, { method: 'PATCH', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ email: 'ivan@intranet' }) });
        return { status: res.status, ...((await res.json()) as { error_description: string }) };
      }, `/admin/api/v1/tenants/${acme.id}/users/${ivan.id}`);
      expect(refusal.status).toBe(400);
      expect(refusal.error_description).toMatch(/^email: /);
      await expect.poll(() => page.locator('#admin-error').textContent()).toBe(refusal.error_description);
      expect(await page.locator('#admin-error').isVisible()).toBe(true);
      const unchanged = (await t.atrium.directory.users.byId(ivan.id))!;
      expect({ name: unchanged.name, email: unchanged.email }).toEqual({ name: 'Ivan', email: 'ivan@acme.test' });

      // A new name, e-mail and role, and the mobile cleared.
      await page.locator('#e-email').fill('ivan.petrov@acme.test');
      await page.locator('#e-mobile').fill('');
      await page.locator('form', { has: page.locator('#e-name') }).getByLabel('Role', { exact: true }).selectOption('admin');
      await Promise.all([page.waitForURL(`${t.issuer}/admin/users?tenant=${acme.id}`), page.getByRole('button', { name: 'Save changes' }).click()]);
      const edited = (await t.atrium.directory.users.byId(ivan.id))!;
      expect({ name: edited.name, email: edited.email, mobile: edited.mobile, role: edited.role }).toEqual({ name: 'Ivan Petrov', email: 'ivan.petrov@acme.test', mobile: '', role: 'admin' });
      expect(await page.locator('#admin-notice').textContent()).toBe('The changes to ivan are saved.');
      expect((await row.locator('td').allTextContents()).slice(1, 4)).toEqual(['Ivan Petrov', 'ivan.petrov@acme.test', 'admin']);
      expect(await page.locator('#edit').count()).toBe(0);

      // Ivan signs in under his new name, now with the way to the admin pages.
      const ivans = await tryWorkbench('acme', 'ivan', 'ivan own passphrase');
      expect(ivans.signedIn).toBe(true);
      expect(await ivans.page.locator('.who').textContent()).toContain('Ivan Petrov');
      expect(await ivans.page.getByRole('link', { name: 'Administration' }).count()).toBe(1);
      await ivans.context.close();
      await context.close();
    });

    it('offers the signed-in admin no role to demote themselves with, saves their own name, and opens no user of another tenant', async () => {
      const { acme, context, page } = await acmeAdminPage('olga');
      const olga = (await t.atrium.directory.users.byUsername(acme.id, 'olga'))!;
      await page.locator('tr[data-username="olga"]').getByRole('link', { name: 'Edit' }).click();
      const form = page.locator('form', { has: page.locator('#e-name') });
      expect(await form.getByLabel('Role', { exact: true }).count()).toBe(0);
      expect(await form.locator('select').count()).toBe(0);
      expect(await form.getByText('Role: admin').count()).toBe(1);
      await page.locator('#e-name').fill('Olga Admin');
      await Promise.all([page.waitForURL(`${t.issuer}/admin/users?tenant=${acme.id}`), page.getByRole('button', { name: 'Save changes' }).click()]);
      const saved = (await t.atrium.directory.users.byId(olga.id))!;
      expect({ name: saved.name, role: saved.role }).toEqual({ name: 'Olga Admin', role: 'admin' });

      // A user of another tenant: not found, whichever tenant the address names.
      const other = await t.atrium.directory.tenants.create({ code: 'umbrella', name: 'Umbrella' });
      const stranger = await t.atrium.directory.users.create(other.id, { username: 'albert', password: 'albert own passphrase' });
      expect((await page.goto(`${t.issuer}/admin/users?tenant=${acme.id}&edit=${stranger.id}`))?.status()).toBe(404);
      expect((await page.goto(`${t.issuer}/admin/users?tenant=${other.id}&edit=${stranger.id}`))?.status()).toBe(404);
      await context.close();
    });
  });

  it('lets a tenant admin choose which users see an assigned app, and open it to every user again', async () => {
    const { acme, context, page } = await acmeAdminPage('yusuf');
    const { app } = await t.atrium.directory.apps.create({ name: 'Payroll', redirectUris: ['https://payroll.test/cb'] });
    await t.atrium.directory.assignments.assign({ tenantId: acme.id, clientId: app.clientId });
    const wendy = await t.atrium.directory.users.create(acme.id, { username: 'wendy', password: 'wendy own passphrase' });
    await t.atrium.directory.users.create(acme.id, { username: 'xavier', password: 'xavier own passphrase' });
    await page.goto(`${t.issuer}/admin/assignments?tenant=${acme.id}`);
    const row = page.locator(`tr[data-client-id="${app.clientId}"]`);
    expect(await row.locator('td.audience').textContent()).toBe('Every user');
    await row.getByRole('link', { name: 'Choose users' }).click();
    expect(await page.locator('#who').textContent()).toBe('Who sees Payroll');

    // Only chosen users, but none ticked: refused in the page (an empty list would open it to everyone).
    await page.getByLabel('Only the users ticked below').check();
    await page.getByRole('button', { name: 'Save' }).click();
    expect(await page.locator('#admin-error').textContent()).toBe('Tick at least one user, or choose “Every user of the tenant”.');
    expect((await t.atrium.directory.assignments.get(acme.id, app.clientId))?.userIds).toBeUndefined();

    // Ticking a user chooses users.
    await page.getByLabel('Every user of the tenant').check();
    await page.getByRole('checkbox', { name: 'wendy' }).check();
    expect(await page.getByLabel('Only the users ticked below').isChecked()).toBe(true);
    await submitAndReload(page, () => page.getByRole('button', { name: 'Save' }).click());
    expect((await t.atrium.directory.assignments.get(acme.id, app.clientId))?.userIds).toEqual([wendy.id]);
    expect(await page.locator('#admin-notice').textContent()).toBe('Saved who sees Payroll.');
    expect(await row.locator('td.audience').textContent()).toBe('1 chosen user: wendy');
    expect(await page.getByRole('checkbox', { name: 'wendy' }).isChecked()).toBe(true);
    expect(await tileNames('acme', 'wendy', 'wendy own passphrase')).toContain('Payroll');
    expect(await tileNames('acme', 'xavier', 'xavier own passphrase')).not.toContain('Payroll');

    // Every user again.
    await page.getByLabel('Every user of the tenant').check();
    await submitAndReload(page, () => page.getByRole('button', { name: 'Save' }).click());
    expect((await t.atrium.directory.assignments.get(acme.id, app.clientId))?.userIds).toBeUndefined();
    expect(await row.locator('td.audience').textContent()).toBe('Every user');
    expect(await tileNames('acme', 'xavier', 'xavier own passphrase')).toContain('Payroll');
    await context.close();
  });

  it('edits an app, showing the API’s refusal of a bad redirect URI, and deletes an app after a confirm', async () => {
    const acme = (await t.atrium.directory.tenants.byCode('acme'))!;
    const { app } = await t.atrium.directory.apps.create({ name: 'Ledger', redirectUris: ['https://ledger.test/cb'], initiateLoginUri: 'https://ledger.test/login' });
    await t.atrium.directory.assignments.assign({ tenantId: acme.id, clientId: app.clientId });
    const { context, page } = await platformPage();
    await page.goto(`${t.issuer}/admin/apps`);
    const row = page.locator(`tr[data-client-id="${app.clientId}"]`);
    await row.getByRole('link', { name: 'Edit' }).click();
    expect(await page.locator('#edit').textContent()).toBe('Edit Ledger');
    expect(await page.locator('#e-initiate').inputValue()).toBe('https://ledger.test/login');

    await page.locator('#e-redirect').fill('http://ledger.test/cb');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.locator('#admin-error').textContent()).toBe('redirectUris.0: must use https (http only for localhost, 127.0.0.1 or [::1])');
    expect((await t.atrium.directory.apps.byId(app.clientId))?.redirectUris).toEqual(['https://ledger.test/cb']);

    // A new name and callbacks, and the initiate-login URI cleared.
    await page.locator('#e-name').fill('Ledger Pro');
    await page.locator('#e-redirect').fill('https://ledger.test/cb\nhttps://ledger.test/cb2');
    await page.locator('#e-initiate').fill('');
    await Promise.all([page.waitForURL(`${t.issuer}/admin/apps`), page.getByRole('button', { name: 'Save changes' }).click()]);
    const edited = (await t.atrium.directory.apps.byId(app.clientId))!;
    expect({ name: edited.name, redirectUris: edited.redirectUris, initiateLoginUri: edited.initiateLoginUri }).toEqual({
      name: 'Ledger Pro',
      redirectUris: ['https://ledger.test/cb', 'https://ledger.test/cb2'],
      initiateLoginUri: '',
    });
    expect(await page.locator('#admin-notice').textContent()).toBe('The app’s changes are saved.');
    expect(await row.locator('td').first().textContent()).toBe('Ledger Pro');

    page.once('dialog', (dialog) => void dialog.dismiss());
    await row.getByRole('button', { name: 'Delete' }).click();
    expect(await t.atrium.directory.apps.byId(app.clientId)).toBeDefined();
    page.once('dialog', (dialog) => void dialog.accept());
    await submitAndReload(page, () => row.getByRole('button', { name: 'Delete' }).click());
    expect(await t.atrium.directory.apps.byId(app.clientId)).toBeUndefined();
    expect(await t.atrium.directory.assignments.get(acme.id, app.clientId)).toBeUndefined();
    expect(await row.count()).toBe(0);
    await context.close();
  });

  it('disables a tenant after a confirm, ending its users’ sessions, and enables it; the platform’s own tenant cannot be disabled', async () => {
    const initech: Tenant = await t.atrium.directory.tenants.create({ code: 'initech', name: 'Initech' });
    await t.atrium.directory.users.create(initech.id, { username: 'peter', password: 'peter own passphrase' });
    const peter = await tryWorkbench('initech', 'peter', 'peter own passphrase');
    expect(peter.signedIn).toBe(true);
    const { context, page } = await platformPage();
    expect(await page.locator('tr[data-code="platform"]').getByRole('button').count()).toBe(0);
    const row = page.locator('tr[data-code="initech"]');

    page.once('dialog', (dialog) => void dialog.dismiss());
    await row.getByRole('button', { name: 'Disable' }).click();
    const initechStatus = async () => (await t.atrium.directory.tenants.byId(initech.id))?.status;
    expect(await initechStatus()).toBe('active');
    await disableThenEnable(page, row, initechStatus, peter, ['initech', 'peter', 'peter own passphrase']);
    await context.close();
  });

  it('renames a tenant, its code unchanged, and its users see the new name; a blank name is refused by the API', async () => {
    const hooli = await t.atrium.directory.tenants.create({ code: 'hooli', name: 'Hooli' });
    await t.atrium.directory.users.create(hooli.id, { username: 'gavin', password: 'gavin own passphrase' });
    const { context, page } = await platformPage();
    const row = page.locator('tr[data-code="hooli"]');
    await row.getByRole('link', { name: 'Rename' }).click();
    expect(await page.locator('#edit').textContent()).toBe('Rename Hooli');
    const form = page.locator('form', { has: page.locator('#e-name') });
    expect(await form.locator('input, select, textarea').count()).toBe(1);

    await page.locator('#e-name').fill('   ');
    await page.getByRole('button', { name: 'Save name' }).click();
    await expect.poll(() => page.locator('#admin-error').textContent()).toMatch(/^name: /);
    expect((await t.atrium.directory.tenants.byId(hooli.id))?.name).toBe('Hooli');

    await page.locator('#e-name').fill('Hooli XYZ');
    await Promise.all([page.waitForURL(`${t.issuer}/admin/tenants`), page.getByRole('button', { name: 'Save name' }).click()]);
    const renamed = (await t.atrium.directory.tenants.byId(hooli.id))!;
    expect({ code: renamed.code, name: renamed.name }).toEqual({ code: 'hooli', name: 'Hooli XYZ' });
    expect(await page.locator('#admin-notice').textContent()).toBe('hooli is renamed.');
    expect(await row.locator('td').nth(1).textContent()).toBe('Hooli XYZ');
    const gavin = await tryWorkbench('hooli', 'gavin', 'gavin own passphrase');
    expect(gavin.signedIn).toBe(true);
    expect(await gavin.page.locator('.who').textContent()).toContain('Hooli XYZ');
    await gavin.context.close();
    await context.close();
  });

  it('registers an app with the settings of the edit form: a logo, no refresh tokens, no PKCE, its own lifetimes', async () => {
    const { context, page, form } = await appRegistration();
    await fillApp(form, 'Timesheets', 'https://timesheets.test/cb');
    await form.getByLabel('Logo URI (optional)').fill('https://timesheets.test/logo.png');
    await form.getByLabel('Issue refresh tokens').uncheck();
    await form.getByLabel('Require PKCE').uncheck();
    await form.getByLabel('Access token lifetime in seconds').fill('600');
    await form.getByLabel('Refresh token lifetime in seconds').fill('86400');
    await form.getByRole('button', { name: 'Register app' }).click();
    await page.locator('#secret-dialog[open]').waitFor();
    const clientId = /Client id: ([0-9a-f]{32})/.exec((await page.locator('#secret-extra').textContent())!)![1]!;
    await submitAndReload(page, () => page.getByRole('button', { name: 'I have copied it' }).click());
    const app = (await t.atrium.directory.apps.byId(clientId))!;
    expect({ name: app.name, logoUri: app.logoUri, allowRefresh: app.allowRefresh, requirePkce: app.requirePkce, accessTokenTtl: app.accessTokenTtl, refreshTokenTtl: app.refreshTokenTtl }).toEqual({
      name: 'Timesheets',
      logoUri: 'https://timesheets.test/logo.png',
      allowRefresh: false,
      requirePkce: false,
      accessTokenTtl: 600,
      refreshTokenTtl: 86400,
    });
    // The edit form shows what was registered.
    await page.locator(`tr[data-client-id="${clientId}"]`).getByRole('link', { name: 'Edit' }).click();
    expect(await page.locator('#e-access-ttl').inputValue()).toBe('600');
    expect(await page.locator('form', { has: page.locator('#e-name') }).getByLabel('Issue refresh tokens').isChecked()).toBe(false);
    await context.close();
  });

  it('shows the audit trail readably: the time, who by username, the target, and what changed, with no JSON and no password', async () => {
    const { context, page } = await acmeAdminPage('zora');
    await page.locator('#u-username').fill('abel');
    await page.getByLabel('Initial password').fill('abel own passphrase');
    await submitAndReload(page, () => page.getByRole('button', { name: 'Create user' }).click());
    const row = page.locator('tr[data-username="abel"]');
    page.once('dialog', (dialog) => void dialog.accept());
    await submitAndReload(page, () => row.getByRole('button', { name: 'Disable' }).click());
    await row.getByText('Reset password').click();
    await row.getByLabel('New password for abel').fill('abel new passphrase 42');
    await submitAndReload(page, () => row.getByRole('button', { name: 'Set password' }).click());

    await page.getByRole('link', { name: 'Audit' }).click();
    const cells = async (type: string) => {
      const event = page.locator('tr', { has: page.locator('code.event-type', { hasText: new RegExp(`^${type.replace(/\./g, '\\.')}$`) }) }).filter({ hasText: 'abel' });
      expect(await event.count()).toBe(1);
      return (await event.locator('td').allInnerTexts()).map((text) => text.trim());
    };
    const [time, type, by, target, from, changes] = await cells('admin.user.disable');
    expect(time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect({ type, by, target, from, changes }).toEqual({ type: 'admin.user.disable', by: 'zora', target: 'abel', from: '127.0.0.1', changes: 'status: active → disabled\nsessionsEnded: 0' });
    expect((await cells('admin.user.reset_password')).slice(1)).toEqual(['admin.user.reset_password', 'zora', 'abel', '127.0.0.1', '']);
    const created = (await cells('admin.user.create'))[5]!;
    expect(created).toContain('username: abel');
    const content = await page.content();
    expect(content).not.toContain('abel new passphrase 42');
    expect(content).not.toContain('abel own passphrase');
    expect(await page.locator('.audit-table').innerHTML()).not.toMatch(/\{&quot;|\{"/);
    await context.close();
  });

  describe('what a new administrator ran into', () => {
    it('registers one app on a double-click of Register app, and keeps the button disabled while the request runs', async () => {
      const { context, page, form } = await appRegistration();
      await fillApp(form, 'Double Click', 'https://double.test/cb');
      await form.getByRole('button', { name: 'Register app' }).dblclick();
      await page.locator('#secret-dialog[open]').waitFor();
      expect(await form.getByRole('button', { name: 'Register app' }).isDisabled()).toBe(true);
      await submitAndReload(page, () => page.getByRole('button', { name: 'I have copied it' }).click());
      expect((await t.atrium.directory.apps.list()).filter((a) => a.name === 'Double Click')).toHaveLength(1);
      expect(await page.locator('#admin-notice').textContent()).toBe('Double Click is registered.');

      // A refused request makes the button usable again.
      await fillApp(form, 'Bad Callback', 'http://bad.test/cb');
      await form.getByRole('button', { name: 'Register app' }).click();
      await expect.poll(() => page.locator('#admin-error').textContent()).toMatch(/^redirectUris\.0: /);
      expect(await form.getByRole('button', { name: 'Register app' }).isEnabled()).toBe(true);

      // An answer that is not the API's (a proxy's page, with 200) is said to have failed, not done.
      await page.route('**/admin/api/v1/apps', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<html><body>Proxy page</body></html>' }));
      await fillApp(form, 'Not Really', 'https://not-really.test/cb');
      await form.getByRole('button', { name: 'Register app' }).click();
      await expect.poll(() => page.locator('#admin-error').textContent()).toBe('Request failed (200)');
      expect(await page.locator('#secret-dialog[open]').count()).toBe(0);
      await context.close();
    });

    it('rotates a secret only after a confirm naming the grace period, and shows the API’s refusal of a second rotation during it', async () => {
      const { app } = await t.atrium.directory.apps.create({ name: 'Rotator', redirectUris: ['https://rotator.test/cb'] });
      const hashOf = async () => JSON.stringify(await t.atrium.directory.apps.byId(app.clientId));
      const before = await hashOf();
      const { context, page } = await platformPage();
      await page.goto(`${t.issuer}/admin/apps`);
      const row = page.locator(`tr[data-client-id="${app.clientId}"]`);
      expect(await row.getByLabel('Grace period (seconds)').isVisible()).toBe(true);
      await row.getByLabel('Grace period (seconds)').fill('3600');
      expect(await declinedConfirm(page, () => row.getByRole('button', { name: 'Rotate secret' }).click())).toBe('Rotate the secret of Rotator? The new secret is shown once; the old one stays valid for the grace period (3600 seconds; 0 ends it at once).');
      expect(await hashOf()).toBe(before);
      expect(await page.locator('#secret-dialog[open]').count()).toBe(0);

      page.once('dialog', (dialog) => void dialog.accept());
      await row.getByRole('button', { name: 'Rotate secret' }).click();
      await page.locator('#secret-dialog[open]').waitFor();
      await submitAndReload(page, () => page.getByRole('button', { name: 'I have copied it' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('Rotator has a new secret.');
      const rotated = await hashOf();
      expect(rotated).not.toBe(before);

      // A second rotation during the grace period: the API's 409, as it says it; nothing changed.
      page.once('dialog', (dialog) => void dialog.accept());
      await row.getByRole('button', { name: 'Rotate secret' }).click();
      await expect.poll(() => page.locator('#admin-error').isVisible()).toBe(true);
      const refusal = await page.evaluate(async (path) => {
        const csrf = document.querySelector<HTMLFormElement>('form.rotate')!.dataset.csrf!;
        const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ graceSeconds: 60 }) });
        return { status: res.status, ...((await res.json()) as { error_description: string }) };
      }, `/admin/api/v1/apps/${app.clientId}/rotate-secret`);
      expect(refusal.status).toBe(409);
      expect(await page.locator('#admin-error').textContent()).toBe(refusal.error_description);
      expect(await hashOf()).toBe(rotated);
      expect(await row.getByRole('button', { name: 'Rotate secret' }).isEnabled()).toBe(true);

      // The old secret's grace period ended early (it leaked): after a confirm, the current one stays.
      const until = (await t.atrium.directory.apps.byId(app.clientId))!.previousSecretExpiresAt!;
      expect(await row.textContent()).toContain(`The old secret works until ${until.slice(0, 16).replace('T', ' ')}`);
      expect(await declinedConfirm(page, () => row.getByRole('button', { name: 'End old secret' }).click())).toBe(
        'End the old secret of Rotator now? Whatever still uses it is refused from now on; the current secret stays.',
      );
      expect((await t.atrium.directory.apps.byId(app.clientId))!.previousSecretHash).toBeDefined();
      page.once('dialog', (dialog) => void dialog.accept());
      await submitAndReload(page, () => row.getByRole('button', { name: 'End old secret' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('The old secret of Rotator no longer works.');
      const ended = (await t.atrium.directory.apps.byId(app.clientId))!;
      expect([ended.previousSecretHash, ended.secretHash]).toEqual([undefined, JSON.parse(rotated).secretHash]);
      expect(await row.getByRole('button', { name: 'End old secret' }).count()).toBe(0);
      await context.close();
    });

    it('ends a user’s sessions only after a confirm', async () => {
      const { acme, context, page } = await acmeAdminPage('yara');
      await t.atrium.directory.users.create(acme.id, { username: 'zeke', password: 'zeke own passphrase' });
      const zeke = await tryWorkbench('acme', 'zeke', 'zeke own passphrase');
      await page.reload();
      const row = page.locator('tr[data-username="zeke"]');
      expect(await declinedConfirm(page, () => row.getByRole('button', { name: 'End sessions' }).click())).toBe('End every session of zeke? They are signed out of Atrium and of the apps they signed into.');
      expect(await stillSignedIn(zeke.page)).toBe(true);
      page.once('dialog', (dialog) => void dialog.accept());
      await submitAndReload(page, () => row.getByRole('button', { name: 'End sessions' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('zeke\'s sessions are ended.');
      expect(await stillSignedIn(zeke.page)).toBe(false);
      await zeke.context.close();
      await context.close();
    });

    it('says what was done after creating a tenant, assigning an app, creating a user (with a mobile) and importing users', async () => {
      const { context, page } = await platformPage();
      await page.locator('#t-code').fill('wonka');
      await page.locator('#t-name').fill('Wonka Industries');
      await submitAndReload(page, () => page.getByRole('button', { name: 'Create tenant' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('Wonka Industries (wonka) is created.');
      const wonka = (await t.atrium.directory.tenants.byCode('wonka'))!;

      const { app } = await t.atrium.directory.apps.create({ name: 'Chocolate', redirectUris: ['https://chocolate.test/cb'] });
      await page.goto(`${t.issuer}/admin/assignments?tenant=${wonka.id}`);
      await page.getByLabel('App', { exact: true }).selectOption(app.clientId);
      await submitAndReload(page, () => page.getByRole('button', { name: 'Assign' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('Chocolate is assigned.');

      await page.goto(`${t.issuer}/admin/users?tenant=${wonka.id}`);
      expect(await page.locator('#u-email').getAttribute('type')).toBe('text');
      await page.locator('#u-username').fill('charlie');
      await page.locator('#u-email').fill('charlie@wonka');
      await page.getByLabel('Mobile (optional)').fill('+44 20 7946 0000');
      await page.getByLabel('Initial password').fill('a golden ticket passphrase');
      await page.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => page.locator('#admin-error').textContent()).toMatch(/^email: /);
      expect(await t.atrium.directory.users.byUsername(wonka.id, 'charlie')).toBeUndefined();
      await page.locator('#u-email').fill('charlie@wonka.test');
      await submitAndReload(page, () => page.getByRole('button', { name: 'Create user' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('charlie is created.');
      const charlie = (await t.atrium.directory.users.byUsername(wonka.id, 'charlie'))!;
      expect({ email: charlie.email, mobile: charlie.mobile }).toEqual({ email: 'charlie@wonka.test', mobile: '+44 20 7946 0000' });
      expect(await page.locator('tr[data-username="charlie"] td').nth(2).textContent()).toBe('charlie@wonka.test');

      await page.locator('#u-file').setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from('username,password,name\ncharlie,a golden ticket passphrase,Charlie Bucket\naugustus,augustus own passphrase,Augustus\nveruca,veruca own passphrase,Veruca\n') });
      await submitAndReload(page, () => page.getByRole('button', { name: 'Import' }).click());
      expect(await page.locator('#admin-notice').textContent()).toBe('Imported 3 rows: 2 users created, 1 updated.');
      await context.close();
    });

    it('wraps a very long redirect URI in the apps table, every row’s actions on screen', async () => {
      const long = `https://long.test/cb?${'x'.repeat(2000)}`;
      await t.atrium.directory.apps.create({ name: 'Long Callback', redirectUris: [long] });
      const { context, page } = await platformPage();
      await page.goto(`${t.issuer}/admin/apps`);
      const width = page.viewportSize()!.width;
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      expect(await page.locator('.admin-table').evaluate((table) => table.getBoundingClientRect().width)).toBeLessThan(width);
      for (const edit of await page.locator('.admin-table').getByRole('link', { name: 'Edit' }).all()) {
        const box = (await edit.boundingBox())!;
        expect(box.x + box.width).toBeLessThanOrEqual(width);
      }
      await context.close();
    });

    it('fits the tenant picker on a phone, and shows a tenant admin their tenant’s name instead of a picker', async () => {
      const { context, page } = await platformPage();
      await page.setViewportSize({ width: 390, height: 800 });
      await page.goto(`${t.issuer}/admin/users`);
      const show = (await page.getByRole('button', { name: 'Show' }).boundingBox())!;
      expect(show.x + show.width).toBeLessThanOrEqual(390);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await context.close();

      const tenantAdmin = await acmeAdminPage('abby');
      expect(await tenantAdmin.page.locator('#tenant').count()).toBe(0);
      expect(await tenantAdmin.page.locator('#tenant-name').textContent()).toBe('Tenant: Acme Corp (acme)');
      await tenantAdmin.context.close();
    });

    it('lists sessions newest first, with their times in UTC and the apps they signed into by name', async () => {
      const { acme, context, page } = await acmeAdminPage('bella');
      await t.atrium.directory.users.create(acme.id, { username: 'cody', password: 'cody own passphrase' });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const cody = await tryWorkbench('acme', 'cody', 'cody own passphrase');
      await page.goto(`${t.issuer}/admin/sessions`);
      const rows = page.locator('.admin-table tbody tr');
      const users = await rows.locator('td:first-child').allTextContents();
      expect(users.indexOf('cody')).toBeLessThan(users.indexOf('bella'));
      const codyRow = (await page.locator('tr[data-username="cody"] td').allTextContents()).map((text) => text.trim());
      expect(codyRow[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
      expect(codyRow[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
      expect(codyRow[3]).toBe('Workbench');
      await cody.context.close();
      await context.close();
    });
  });

  it('speaks Simplified Chinese to a browser that asks for it: the page, its confirms and what admin.js says', async () => {
    const acme = (await t.atrium.directory.tenants.byCode('acme'))!;
    await t.atrium.directory.users.create(acme.id, { username: 'lihua', password: 'tenant admin passphrase', role: 'admin' });
    await t.atrium.directory.users.create(acme.id, { username: 'wangwei', password: 'wangwei own passphrase' });
    const context = await browser.newContext({ locale: 'zh-CN', extraHTTPHeaders: { 'accept-language': 'zh-CN' } });
    const page = await context.newPage();
    await page.goto(`${t.issuer}/admin`);
    await page.locator('input[name=tenant]').fill('acme');
    await page.locator('input[name=username]').fill('lihua');
    await page.locator('input[name=password]').fill('tenant admin passphrase');
    await Promise.all([page.waitForURL(/\/admin\/users/), page.locator('button[type=submit]').first().click()]);
    expect(await page.locator('h1').textContent()).toBe('用户');
    expect(await declinedConfirm(page, () => page.locator('tr[data-username="wangwei"]').getByRole('button', { name: '删除' }).click())).toBe('删除 wangwei？此操作无法撤销。');
    await page.locator('#u-file').setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from('username,password\nzhangsan,zhangsan own passphrase\n') });
    await submitAndReload(page, () => page.getByRole('button', { name: '导入' }).click());
    expect(await page.locator('#admin-notice').textContent()).toBe('已导入 1 行：新建 1 个用户，更新 0 个。');
    await context.close();
  });
});

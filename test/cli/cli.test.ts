/** The `atrium` command line, in-process on both drivers, plus the real executable's exit codes. */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.js';
import { createDirectory } from '../../src/directory/index.js';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { operatorMessage, UnavailableError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { freePort } from '../helpers/redis-servers.js';
import { DRIVERS, testStoreConfig } from '../helpers/stores.js';
import type { StoreConfig } from '../../src/config/index.js';

const envFor = (config: StoreConfig): Record<string, string> =>
  config.driver === 'redis' ? { ATRIUM_REDIS_URL: config.url, ATRIUM_REDIS_PREFIX: config.keyPrefix } : { ATRIUM_DATA_DIR: config.dataDir };

describe.each(DRIVERS)('atrium CLI on the %s store', (driver) => {
  const { config, cleanup } = testStoreConfig(driver);
  const env = envFor(config);
  let store: Store;
  beforeAll(async () => {
    store = await createStore(config);
  });
  afterAll(async () => {
    await store.close();
    await cleanup();
  });

  async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(args, env, { stdin: async () => stdin, out: (l) => (out += `${l}\n`), err: (l) => (err += `${l}\n`) });
    return { code, out, err };
  }
  const json = async (args: string[], stdin = '') => {
    const result = await cli([...args, '--json'], stdin);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.out) as Record<string, unknown>;
  };

  it('creates a tenant, a user, an app and an assignment', async () => {
    const tenant = await json(['tenant', 'create', '--code', 'acme', '--name', 'Acme Corp']);
    expect(tenant).toEqual({ id: expect.stringMatching(/^[0-9a-f]{32}$/), code: 'acme', name: 'Acme Corp' });

    const user = await json(['user', 'create', '--tenant', 'acme', '--username', 'alice', '--password-stdin', '--name', 'Alice', '--email', 'alice@acme.test', '--role', 'admin'], 'a good long password\n');
    expect(user).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{32}$/), username: 'alice', role: 'admin', tenant_id: tenant.id });
    const directory = createDirectory(store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
    // The trailing newline of standard input is not part of the password.
    expect((await directory.authenticate({ tenant: 'acme', username: 'alice', password: 'a good long password' })).ok).toBe(true);

    const app = await json(['app', 'create', '--name', 'CRM', '--redirect-uri', 'https://crm.test/cb', '--redirect-uri', 'https://crm.test/cb2', '--post-logout-redirect-uri', 'https://crm.test/bye', '--initiate-login-uri', 'https://crm.test/login']);
    expect(app.client_id).toMatch(/^[0-9a-f]{32}$/);
    expect(app.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await directory.apps.byId(app.client_id as string);
    expect(stored?.redirectUris).toEqual(['https://crm.test/cb', 'https://crm.test/cb2']);
    expect(JSON.stringify(stored)).not.toContain(app.client_secret as string);

    const shortLived = await json(['app', 'create', '--name', 'Legacy', '--redirect-uri', 'https://legacy.test/cb', '--access-token-ttl', '600', '--refresh-token-ttl', '86400']);
    expect(await directory.apps.byId(shortLived.client_id as string)).toMatchObject({ accessTokenTtl: 600, refreshTokenTtl: 86400 });

    const pub = await json(['app', 'create', '--name', 'SPA', '--redirect-uri', 'http://localhost:5173/cb', '--public']);
    expect(pub.client_secret).toBeUndefined();

    const assignment = await json(['app', 'assign', '--app', app.client_id as string, '--tenant', 'acme', '--user', 'alice', '--expires-at', '2031-01-01T00:00:00Z']);
    expect(assignment).toMatchObject({ app: app.client_id, tenant: 'acme', all_users: false, users: ['alice'], expires_at: '2031-01-01T00:00:00.000Z' });
    expect(await directory.assignments.decide({ id: user.id as string, tenantId: tenant.id as string }, app.client_id as string)).toBe('granted');
    // Renewed without --user: the users chosen so far stay; --all-users opens it to every user.
    expect(await json(['app', 'assign', '--app', app.client_id as string, '--tenant', 'acme', '--expires-at', '2032-01-01T00:00:00Z'])).toMatchObject({ all_users: false, users: ['alice'], expires_at: '2032-01-01T00:00:00.000Z' });
    expect(await json(['app', 'assign', '--app', app.client_id as string, '--tenant', 'acme', '--all-users'])).toMatchObject({ all_users: true, users: [], expires_at: null });
    // An end already past would cut the tenant off at once: refused, and nothing changes.
    const past = await cli(['app', 'assign', '--app', app.client_id as string, '--tenant', 'acme', '--expires-at', '2020-01-01T00:00:00Z']);
    expect([past.code, past.err.trim()]).toEqual([2, 'atrium app assign: expiresAt: must be in the future (to end a subscription now, unassign the app)']);
    expect(await directory.assignments.decide({ id: user.id as string, tenantId: tenant.id as string }, app.client_id as string)).toBe('granted');
  });

  it('disables a user and unlocks an account', async () => {
    const disabled = await json(['user', 'disable', '--tenant', 'acme', '--username', 'alice']);
    expect(disabled).toMatchObject({ username: 'alice', status: 'disabled', sessions_ended: 0 });
    const directory = createDirectory(store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
    expect((await directory.authenticate({ tenant: 'acme', username: 'alice', password: 'a good long password' })).ok).toBe(false);
    expect(await cli(['user', 'reset-password', '--tenant', 'acme', '--username', 'alice', '--password-stdin'], 'short\n')).toMatchObject({ code: 2, err: expect.stringMatching(/^atrium user reset-password: password: /) });

    const limited = createDirectory(store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 }, throttle: { accountFailuresPerHour: 1, ipFailuresPerHour: 100 } });
    await limited.authenticate({ tenant: 'acme', username: 'alice', password: 'wrong password' });
    expect(await limited.throttle.failures('acme', 'alice')).toBe(1);
    expect(await json(['user', 'unlock', '--tenant', 'acme', '--username', 'ALICE'])).toMatchObject({ username: 'alice', unlocked: true });
    expect(await limited.throttle.failures('acme', 'alice')).toBe(0);

    // Enabled again, with a new password (as for a platform admin who lost theirs).
    expect(await json(['user', 'enable', '--tenant', 'acme', '--username', 'alice'])).toMatchObject({ username: 'alice', status: 'active' });
    expect(await json(['user', 'reset-password', '--tenant', 'acme', '--username', 'alice', '--password-stdin'], 'a brand new passphrase\n')).toEqual({ tenant: 'acme', username: 'alice', reset: true });
    expect((await directory.authenticate({ tenant: 'acme', username: 'alice', password: 'a brand new passphrase' })).ok).toBe(true);
    expect((await directory.authenticate({ tenant: 'acme', username: 'alice', password: 'a good long password' })).ok).toBe(false);
    expect(await cli(['user', 'reset-password', '--tenant', 'acme', '--username', 'alice', '--password-stdin'], 'short\n')).toMatchObject({ code: 2, err: expect.stringMatching(/^atrium user reset-password: password: /) });
  });

  it('imports users from a CSV file with progress, and reports bad rows by line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atrium-import-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'users.csv');
    writeFileSync(file, 'username,password,name\nivy,a fine passphrase,Ivy\njack,another passphrase,Jack\n');
    const progress: number[] = [];
    let out = '';
    const code = await runCli(['user', 'import', '--tenant', 'acme', file, '--json'], env, { stdin: async () => '', out: (l) => (out += l), err: () => undefined, progress: (done) => progress.push(done) });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ tenant: 'acme', rows: 2 });
    expect(progress).toEqual([1, 2]);
    writeFileSync(file, 'username,password\nok,a fine passphrase\nbad!,x\n');
    const bad = await cli(['user', 'import', '--tenant', 'acme', file]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/1 invalid row\(s\), nothing imported: line 3: username: /);
    expect((await cli(['user', 'import', '--tenant', 'acme', join(dir, 'missing.csv')])).err).toMatch(/cannot read/);
    // Saved as Latin-1: refused, not imported with a mangled name and password.
    writeFileSync(file, Buffer.from('username,password,name\njose,contraseña segura,José García\n', 'latin1'));
    const latin1 = await cli(['user', 'import', '--tenant', 'acme', file]);
    expect(latin1).toMatchObject({ code: 2, err: expect.stringMatching(/line 2: not UTF-8/) });
    const directory = createDirectory(store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
    expect(await directory.users.byUsername((await directory.tenants.require('acme')).id, 'jose')).toBeUndefined();
  });

  it('records every change it made in the audit trail, as the system user who ran it, without secrets', async () => {
    const directory = createDirectory(store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
    const today = new Date().toISOString().slice(0, 10);
    const by = `cli:${userInfo().username}`;
    const acme = await directory.tenants.require('acme');
    const events = await directory.audit.ofDay(acme.id, today);
    for (const type of ['admin.tenant.create', 'admin.user.create', 'admin.assignment.put', 'admin.user.disable', 'admin.user.unlock', 'admin.user.enable', 'admin.user.reset_password', 'admin.user.import']) {
      const event = events.find((e) => e.type === type);
      expect(event?.detail?.by, type).toBe(by);
    }
    expect(JSON.stringify(events)).not.toMatch(/a good long password|a fine passphrase|argon2|secretHash/);
    // Apps belong to no tenant: their changes go to the platform's trail.
    await ensurePlatformAdmin(directory, 'the platform admin password');
    const app = await json(['app', 'create', '--name', 'Audited', '--redirect-uri', 'https://audited.test/cb']);
    const platform = await directory.tenants.require('platform');
    const created = (await directory.audit.ofDay(platform.id, today)).find((e) => e.type === 'admin.app.create' && e.clientId === app.client_id);
    expect(created?.detail?.by).toBe(by);
    expect(JSON.stringify(created)).not.toContain(app.client_secret as string);
    const rotated = await json(['keys', 'rotate', '--activate-in', '0']);
    const rotation = (await directory.audit.ofDay(platform.id, today)).find((e) => e.type === 'admin.keys.rotate');
    expect([rotation?.detail?.by, JSON.parse(String(rotation?.detail?.after)).published]).toEqual([by, rotated.published]);
  });

  it('rotates signing keys: published at once, signing after the activation delay or --activate-in, the old ones verifying for a session and more', async () => {
    // On a store with no keys yet (before the first start), a rotation signs at once: nothing else can.
    await store.del('oidc-keys:signing');
    const none = await json(['keys', 'rotate']);
    expect(Math.abs(Date.parse(none.signs_from as string) - Date.now())).toBeLessThan(5_000);
    const before = Date.now();
    const first = await json(['keys', 'rotate']);
    expect(first.published).toHaveLength(2);
    // The default delay (config/default.json): every running server re-reads the keys before then.
    expect(Date.parse(first.signs_from as string) - before).toBeGreaterThanOrEqual(120_000);
    expect(Date.parse(first.signs_from as string) - Date.now()).toBeLessThanOrEqual(120_000);
    const second = await json(['keys', 'rotate', '--activate-in', '0']);
    expect(second.published).toHaveLength(2);
    expect(second.published).not.toEqual(first.published);
    const signsFrom = Date.parse(second.signs_from as string);
    expect(Math.abs(signsFrom - Date.now())).toBeLessThan(5_000);
    // The first rotation's keys verify until every ID token and sign-out hint they could have
    // signed is out of use: the 12 h session, two reload periods and 5 min after the activation.
    const retiring = second.retiring as { kid: string; retire_at: string }[];
    const firstKeys = retiring.filter((k) => (first.published as string[]).includes(k.kid));
    expect(firstKeys).toHaveLength(2);
    for (const k of firstKeys) expect(Math.abs(Date.parse(k.retire_at) - signsFrom - (43_200 + 60 + 300) * 1000)).toBeLessThan(5_000);
    expect((await cli(['keys', 'rotate', '--activate-in', 'soon'])).err).toMatch(/--activate-in must be a number of seconds/);
    // Which key does what now: the newest signs, the pending one of the first rotation and the
    // keys before it only verify (until their retirement).
    const listed = (await json(['keys', 'list'])).keys as { kid: string; alg: string; state: string; signs_from: string; retire_at: string | null }[];
    const stateOf = (kid: string) => listed.find((k) => k.kid === kid)?.state;
    expect((second.published as string[]).map(stateOf)).toEqual(['signing', 'signing']);
    expect((first.published as string[]).map(stateOf)).toEqual(['pending', 'pending']);
    expect(listed.filter((k) => k.state === 'signing').map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(listed.filter((k) => k.state !== 'signing').every((k) => k.retire_at !== null)).toBe(true);
    // Between 0 and two reload periods and 10 s, a server could sign before another publishes.
    const early = await cli(['keys', 'rotate', '--activate-in', '30']);
    expect(early.code).toBe(2);
    expect(early.err).toMatch(/--activate-in must be 0 \(at once: a single server\) or at least 70 s/);
  });

  it('prints one command’s usage with --help, and one line for an unknown command', async () => {
    const help = await cli(['app', 'assign', '--help']);
    expect(help.code).toBe(0);
    expect(help.err.trim().split('\n')).toEqual([
      'usage: atrium <command> [options] [--json]',
      '  app assign --app CLIENT_ID --tenant CODE [--user USERNAME…|--all-users] [--expires-at ISO-8601]',
      '                                                  (without --user/--all-users, the users chosen so far stay)',
    ]);
    const unknown = await cli(['tenant', 'list']);
    expect([unknown.code, unknown.err]).toEqual([2, 'atrium: unknown command "tenant list" (atrium --help lists the commands)\n']);
  });

  it('prints readable lines without --json', async () => {
    const result = await cli(['tenant', 'create', '--code', 'plain', '--name', 'Plain']);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^id: [0-9a-f]{32}\ncode: plain\nname: Plain\n$/);
  });

  it.each([
    [['tenant', 'create', '--code', 'x y', '--name', 'N'], /code: /],
    [['tenant', 'create', '--name', 'N'], /missing --code/],
    [['tenant', 'create', '--code', 'acme', '--name', 'Again'], /taken/],
    [['tenant', 'create', '--code', 'ok', '--name', 'N', '--bogus'], /Unknown option '--bogus'/],
    [['app', 'assign', '--app', '0'.repeat(32), '--tenant', 'acme', '--user', 'alice', '--all-users'], /--all-users and --user exclude each other/],
    [['user', 'reset-password', '--tenant', 'acme', '--username', 'alice'], /--password-stdin/],
    [['user', 'enable', '--tenant', 'acme', '--username', 'nobody'], /user nobody not found in tenant acme/],
    [['tenant', 'disable', '--code', 'nowhere'], /tenant nowhere not found/],
    [['tenant', 'enable'], /missing --code/],
    [['tenant', 'disable', '--code', 'platform'], /status: the platform's own tenant cannot be disabled/],
    [['user', 'create', '--tenant', 'acme', '--username', 'bob'], /--password-stdin/],
    [['user', 'create', '--tenant', 'nowhere', '--username', 'bob', '--password-stdin'], /tenant nowhere not found/],
    [['app', 'create', '--name', 'Evil', '--redirect-uri', 'http://evil.test/cb'], /must use https/],
    [['app', 'create', '--name', 'None'], /at least one redirect URI/],
    [['app', 'assign', '--app', '0'.repeat(32), '--tenant', 'acme'], /not found/],
    [['user', 'unlock', '--tenant', 'acme', '--username', 'nobody'], /user nobody not found in tenant acme/],
    [['frobnicate'], /unknown command/],
    [['app', 'create', '--name', 'T', '--redirect-uri', 'https://t.test/cb', '--access-token-ttl', 'soon'], /--access-token-ttl must be a number of seconds/],
    [['app', 'create', '--name', 'T', '--redirect-uri', 'https://t.test/cb', '--access-token-ttl', '5'], /accessTokenTtl: /],
  ])('refuses %j with one line and exit code 2', async (args, message) => {
    const result = await cli(args, 'a good long password');
    expect(result.code).toBe(2);
    expect(result.out).toBe('');
    expect(result.err).toMatch(message);
    expect(result.err.trim().split('\n')[0]).toMatch(message);
  });
});

describe('the atrium executable', () => {
  it('says why the store is unreachable, without the password of its URL, and exits 1', async () => {
    const port = await freePort();
    let err = '';
    const code = await runCli(['tenant', 'create', '--code', 'x', '--name', 'X'], { ATRIUM_REDIS_URL: `redis://:s3cret-word@127.0.0.1:${port}` }, { stdin: async () => '', out: () => undefined, err: (l) => (err += `${l}\n`) });
    expect(code).toBe(1);
    expect(err).toBe(`atrium tenant create: store unavailable: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    // Should a cause ever quote a URL, its credentials are left out.
    expect(operatorMessage(new UnavailableError(new Error('cannot reach rediss://user:s3cret@redis.test:6380')))).toBe('store unavailable: cannot reach rediss://redis.test:6380');
  });

  it('exits 2 with one line on bad arguments, 0 on success', () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const bin = fileURLToPath(new URL('../../bin/atrium.js', import.meta.url));
    const env = { ...process.env, ...envFor(config) };
    const bad = spawnSync(process.execPath, [bin, 'tenant', 'create', '--code', '!', '--name', 'N'], { env, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const good = spawnSync(process.execPath, [bin, 'tenant', 'create', '--code', 'bin', '--name', 'Bin', '--json'], { env, encoding: 'utf8' });
    expect(good.status).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ code: 'bin', name: 'Bin' });
    void cleanup();
  });
});

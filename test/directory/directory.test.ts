import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseOptions, verify as argon2Verify } from '@node-rs/argon2';
import { createDirectory, type Directory } from '../../src/directory/index.js';
import { createAuthentication } from '../../src/directory/authentication.js';
import { createPasswordHasher, type PasswordHasher } from '../../src/directory/passwords.js';
import { createTenants } from '../../src/directory/tenants.js';
import { createThrottle, throttleAddress } from '../../src/directory/throttle.js';
import { createUsers } from '../../src/directory/users.js';
import { secretMatches, sha256Hex } from '../../src/directory/ids.js';
import { decideAccess } from '../../src/directory/assignments.js';
import { ensurePlatformAdmin } from '../../src/directory/bootstrap.js';
import { AtriumError, storeUnavailable } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';
import { DRIVERS, openTestStore, type TestStore } from '../helpers/stores.js';

const COST = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const PASSWORD = 'a long enough password';

describe.each(DRIVERS)('directory on the %s store', (driver) => {
  let t: TestStore;
  let directory: Directory;
  beforeAll(async () => {
    t = await openTestStore(driver);
    directory = createDirectory(t.store, { password: COST });
  });
  afterAll(() => t.dispose());

  describe('tenants', () => {
    it('creates a tenant with a 32-hex id and finds it by code, case-insensitively', async () => {
      const tenant = await directory.tenants.create({ code: 'Initech', name: 'Initech' });
      expect(tenant.id).toMatch(/^[0-9a-f]{32}$/);
      expect(tenant.code).toBe('initech');
      expect(tenant.status).toBe('active');
      expect((await directory.tenants.byCode('INITECH'))?.id).toBe(tenant.id);
    });

    it('refuses a taken code, also under concurrency', async () => {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => directory.tenants.create({ code: 'race', name: 'Race' })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused.every((r) => r.reason instanceof AtriumError && r.reason.status === 409)).toBe(true);
    });

    it.each([['a'], ['has space'], ['-lead'], ['x'.repeat(33)]])('refuses the code %j, naming the field', async (code) => {
      await expect(directory.tenants.create({ code, name: 'N' })).rejects.toThrow(/^code: /);
    });
  });

  describe('users', () => {
    it('keeps usernames unique within a tenant, compared case-insensitively', async () => {
      const tenant = await directory.tenants.create({ code: 'users-a', name: 'A' });
      const other = await directory.tenants.create({ code: 'users-b', name: 'B' });
      const user = await directory.users.create(tenant.id, { username: 'Alice', password: PASSWORD });
      expect(user.id).toMatch(/^[0-9a-f]{32}$/);
      expect((await directory.users.byUsername(tenant.id, 'aLiCe'))?.id).toBe(user.id);
      await expect(directory.users.create(tenant.id, { username: 'ALICE', password: PASSWORD })).rejects.toMatchObject({ status: 409 });
      // Another tenant may have its own alice.
      await expect(directory.users.create(other.id, { username: 'alice', password: PASSWORD })).resolves.toMatchObject({ username: 'alice' });
    });

    it('voids what was issued up to two seconds past a disabling, and enables again only once they are over', async () => {
      const tenant = await directory.tenants.create({ code: 'users-void', name: 'Void' });
      const user = await directory.users.create(tenant.id, { username: 'vera', password: PASSWORD });
      for (const [update, id] of [
        [(status: 'active' | 'disabled') => directory.users.update(user.id, { status }), user.id],
        [(status: 'active' | 'disabled') => directory.tenants.setStatus(tenant.id, status), tenant.id],
      ] as const) {
        const disabled = await update('disabled');
        expect(disabled.tokensRevokedAt, id).toBe(Math.floor(Date.parse(disabled.updatedAt) / 1000) + 2);
        // Disabling again changes nothing; enabling waits for that moment.
        expect((await update('disabled')).tokensRevokedAt).toBe(disabled.tokensRevokedAt);
        const enabled = await update('active');
        expect(Date.parse(enabled.updatedAt)).toBeGreaterThanOrEqual(disabled.tokensRevokedAt! * 1000);
        expect(enabled.tokensRevokedAt).toBe(disabled.tokensRevokedAt);
      }
    });

    it('hashes passwords with argon2id at no less than m=19456 KiB, t=2, p=1', async () => {
      const tenant = await directory.tenants.create({ code: 'hashes', name: 'H' });
      const user = await directory.users.create(tenant.id, { username: 'h', password: PASSWORD });
      expect(user.passwordHash).toMatch(/^\$argon2id\$v=19\$/);
      expect(parseOptions(user.passwordHash)).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
      expect(user.passwordHash).not.toContain(PASSWORD);
    });

    it('signs in with a hash that the argon2 package made (its PHC string lists p before t)', async () => {
      const tenant = await directory.tenants.create({ code: 'older', name: 'O' });
      const user = await directory.users.create(tenant.id, { username: 'old', password: PASSWORD });
      // Made by the `argon2` package (0.45) at m=19456, t=2, p=1 for 'x very long password 123'.
      const older = '$argon2id$v=19$m=19456,p=1,t=2$ZMWGgNX7fdvldW1aCoPcsw$W7Rky22a306tpwGbP9HM9mW4TfYDQ4/+I9yske5tRXE';
      await t.store.set(`user:${user.id}`, JSON.stringify({ ...user, passwordHash: older }));
      expect((await directory.authenticate({ tenant: 'older', username: 'old', password: 'x very long password 123' })).ok).toBe(true);
      expect((await directory.authenticate({ tenant: 'older', username: 'old', password: PASSWORD })).ok).toBe(false);
      expect((await directory.users.byId(user.id))?.passwordHash).toBe(older); // same cost: not re-hashed
    });

    it.each([
      ['too short', 'short'],
      ['too long', 'x'.repeat(257)],
    ])('refuses a password that is %s', async (_why, password) => {
      const tenant = await directory.tenants.create({ code: `pw-${password.length}`, name: 'P' });
      await expect(directory.users.create(tenant.id, { username: 'u', password })).rejects.toThrow(/^password: /);
    });

    it('refuses an invalid e-mail address, naming the field', async () => {
      const tenant = await directory.tenants.create({ code: 'mails', name: 'M' });
      await expect(directory.users.create(tenant.id, { username: 'u', password: PASSWORD, email: 'nope' })).rejects.toThrow(/^email: /);
    });
  });

  describe('changes made at once', () => {
    it('keeps a disabling and a rename made at once, and never brings back a user deleted meanwhile', async () => {
      const tenant = await directory.tenants.create({ code: 'atonce', name: 'At once' });
      for (let round = 0; round < 10; round += 1) {
        const user = await directory.users.create(tenant.id, { username: `u${round}`, password: PASSWORD });
        await Promise.all([directory.users.update(user.id, { status: 'disabled' }), directory.users.update(user.id, { name: `Renamed ${round}` })]);
        const stored = (await directory.users.byId(user.id))!;
        expect([stored.status, stored.name, typeof stored.tokensRevokedAt]).toEqual(['disabled', `Renamed ${round}`, 'number']);

        const [renamed] = await Promise.allSettled([directory.users.update(user.id, { name: 'Ghost' }), directory.users.remove(user.id)]);
        if (renamed.status === 'rejected') expect(renamed.reason).toMatchObject({ status: 404 });
        expect(await directory.users.byId(user.id)).toBeUndefined();
      }
      await Promise.all([directory.tenants.update(tenant.id, { status: 'disabled' }), directory.tenants.update(tenant.id, { name: 'Renamed' })]);
      expect(await directory.tenants.byId(tenant.id)).toMatchObject({ status: 'disabled', name: 'Renamed' });
    });

    it('tells a change the version it replaced, not the one its caller read before', async () => {
      const tenant = await directory.tenants.create({ code: 'replaced', name: 'Replaced' });
      await directory.tenants.update(tenant.id, { status: 'disabled' });
      const read = (await directory.tenants.byId(tenant.id))!;
      await directory.tenants.update(tenant.id, { status: 'active' }); // another admin, meanwhile
      const { before, after } = await directory.tenants.change(tenant.id, { status: 'disabled' });
      expect([read.status, before.status, after.status]).toEqual(['disabled', 'active', 'disabled']);
      expect(after.tokensRevokedAt).toBeGreaterThan(before.tokensRevokedAt!);
      const user = await directory.users.create(tenant.id, { username: 'replaced', password: PASSWORD });
      await directory.users.update(user.id, { role: 'admin' });
      expect((await directory.users.change(user.id, { role: 'user' })).before.role).toBe('admin');
    });
  });

  describe('a creation that fails halfway', () => {
    /** The store, failing once the write of a key that `fails` picks, after (`landed`) or instead of it. */
    function failingOnce(fails: (key: string) => boolean, landed = false): Store {
      let failed = false;
      return new Proxy(t.store, {
        get(target, property, receiver) {
          if (property !== 'set') return Reflect.get(target, property, receiver) as unknown;
          return async (...args: Parameters<Store['set']>) => {
            if (failed || !fails(args[0])) return target.set(...args);
            failed = true;
            if (landed) await target.set(...args); // its answer is lost
            throw storeUnavailable(new Error('connection lost'));
          };
        },
      });
    }
    const hasher = createPasswordHasher(COST);

    it.each([
      ['the record write fails', (key: string) => key.startsWith('user:'), false, 'half-record'],
      ['the name claim lands but its answer is lost', (key: string) => key.startsWith('username:'), true, 'half-lost'],
    ])('leaves a username free to retry when %s', async (_when, fails, landed, code) => {
      const tenant = await directory.tenants.create({ code, name: 'Half' });
      const users = createUsers(failingOnce(fails, landed), hasher);
      await expect(users.create(tenant.id, { username: 'nora', password: PASSWORD })).rejects.toMatchObject({ status: 503 });
      const user = await users.create(tenant.id, { username: 'nora', password: PASSWORD });
      expect((await directory.users.byUsername(tenant.id, 'nora'))?.id).toBe(user.id);
      expect(await directory.users.ids(tenant.id)).toEqual([user.id]);
      await directory.users.remove(user.id);
      expect(await directory.users.byUsername(tenant.id, 'nora')).toBeUndefined();
    });

    it.each([
      ['the record write fails', (key: string) => key.startsWith('tenant:'), false, 'half-tenant-record'],
      ['the code claim lands but its answer is lost', (key: string) => key.startsWith('tenant-code:'), true, 'half-tenant-lost'],
    ])('leaves a tenant code free to retry when %s', async (_when, fails, landed, code) => {
      const tenants = createTenants(failingOnce(fails, landed));
      await expect(tenants.create({ code, name: 'Half' })).rejects.toMatchObject({ status: 503 });
      const tenant = await tenants.create({ code, name: 'Half' });
      expect((await directory.tenants.byCode(code))?.id).toBe(tenant.id);
    });

    it('lists a user or tenant whose creation failed after its record and name were written', async () => {
      // The last write of a creation (the directory version, which tells other processes) fails:
      // what was written must show in the listings, where an admin can see it and change or delete it.
      const lastWriteFails = failingOnce((key) => key === 'directory:version', true);
      const tenants = createTenants(lastWriteFails);
      await expect(tenants.create({ code: 'half-listed', name: 'Half listed' })).rejects.toMatchObject({ status: 503 });
      const tenant = (await directory.tenants.byCode('half-listed'))!;
      expect((await directory.tenants.list()).map((t) => t.id)).toContain(tenant.id);

      const users = createUsers(failingOnce((key) => key === 'directory:version', true), hasher);
      await expect(users.create(tenant.id, { username: 'nina', password: PASSWORD })).rejects.toMatchObject({ status: 503 });
      const nina = (await directory.users.byUsername(tenant.id, 'nina'))!;
      expect((await directory.users.list(tenant.id)).map((u) => u.id)).toEqual([nina.id]);
      // A creation refused for a taken name leaves nothing listed.
      await expect(directory.users.create(tenant.id, { username: 'NINA', password: PASSWORD })).rejects.toMatchObject({ status: 409 });
      expect(await directory.users.ids(tenant.id)).toEqual([nina.id]);
    });

    it('lists no user or tenant left behind by a creation that failed with the store gone from its name claim on', async () => {
      // Every store call fails from the name's claim on (the claim, the clean-up, the check of what
      // was made) until the store is back: the record stays, listed, without its name.
      let down = false;
      const outage = new Proxy(t.store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (property === 'set' && String(args[0]).match(/^(username|tenant-code):/)) down = true;
            if (down) return Promise.reject(storeUnavailable(new Error('connection lost')));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      await expect(createTenants(outage).create({ code: 'outage', name: 'Outage' })).rejects.toMatchObject({ status: 503 });
      down = false;
      const tenant = await directory.tenants.create({ code: 'outage', name: 'Outage' });
      expect((await directory.tenants.list()).filter((listed) => listed.code === 'outage').map((listed) => listed.id)).toEqual([tenant.id]);

      await expect(createUsers(outage, hasher).create(tenant.id, { username: 'olaf', password: PASSWORD })).rejects.toMatchObject({ status: 503 });
      down = false;
      const olaf = await directory.users.create(tenant.id, { username: 'Olaf', password: PASSWORD });
      expect(await directory.users.ids(tenant.id)).toHaveLength(2); // the one left behind is still listed…
      expect((await directory.users.list(tenant.id)).map((listed) => listed.id)).toEqual([olaf.id]); // …but not shown
    });

    it('takes over a name whose index points at a record that does not exist, and no other', async () => {
      const tenant = await directory.tenants.create({ code: 'dangling', name: 'Dangling' });
      await t.store.set(`username:${tenant.id}:olga`, 'f'.repeat(32));
      const user = await directory.users.create(tenant.id, { username: 'Olga', password: PASSWORD });
      expect((await directory.users.byUsername(tenant.id, 'olga'))?.id).toBe(user.id);
      await expect(directory.users.create(tenant.id, { username: 'olga', password: PASSWORD })).rejects.toMatchObject({ status: 409 });
      expect(await directory.users.ids(tenant.id)).toEqual([user.id]);

      await t.store.set('tenant-code:left-behind', 'e'.repeat(32));
      const taken = await directory.tenants.create({ code: 'left-behind', name: 'Left behind' });
      expect((await directory.tenants.byCode('left-behind'))?.id).toBe(taken.id);
    });
  });

  describe('sign-in', () => {
    let tenantCode: string;
    beforeAll(async () => {
      const tenant = await directory.tenants.create({ code: 'signin', name: 'Sign-in' });
      tenantCode = tenant.code;
      await directory.users.create(tenant.id, { username: 'dora', password: PASSWORD });
      const disabled = await directory.users.create(tenant.id, { username: 'dis', password: PASSWORD });
      await directory.users.update(disabled.id, { status: 'disabled' });
    });

    it('signs in with the right password, whatever the case of the username', async () => {
      const result = await directory.authenticate({ tenant: 'SIGNIN', username: 'DORA', password: PASSWORD });
      expect(result.ok).toBe(true);
    });

    it.each([
      ['an unknown tenant', { tenant: 'nowhere', username: 'dora', password: PASSWORD }],
      ['an unknown user', { tenant: 'signin', username: 'nobody', password: PASSWORD }],
      ['a wrong password', { tenant: 'signin', username: 'dora', password: 'wrong password!' }],
      ['a disabled user', { tenant: 'signin', username: 'dis', password: PASSWORD }],
      ['empty fields', { tenant: '', username: '', password: '' }],
    ])('fails for %s', async (_why, credentials) => {
      expect((await directory.authenticate(credentials)).ok).toBe(false);
    });

    it('refuses every user of a disabled tenant', async () => {
      const tenant = await directory.tenants.create({ code: 'closed', name: 'Closed' });
      await directory.users.create(tenant.id, { username: 'eve', password: PASSWORD });
      await directory.tenants.setStatus(tenant.id, 'disabled');
      expect((await directory.authenticate({ tenant: 'closed', username: 'eve', password: PASSWORD })).ok).toBe(false);
      expect(tenantCode).toBe('signin');
    });

    it('verifies a hash for unknown users and tenants too, so failures cost the same', async () => {
      const real = createPasswordHasher(COST);
      const verified: (string | undefined)[] = [];
      const counting: PasswordHasher = {
        hash: real.hash,
        depth: real.depth,
        background: real.background,
        verify: (hash, password) => {
          verified.push(hash);
          return real.verify(hash, password);
        },
      };
      const tenants = createTenants(t.store);
      const authenticate = createAuthentication(tenants, createUsers(t.store, counting), counting);
      await authenticate({ tenant: 'nowhere', username: 'x', password: 'whatever pw' });
      await authenticate({ tenant: 'signin', username: 'nobody', password: 'whatever pw' });
      await authenticate({ tenant: 'signin', username: 'dora', password: 'whatever pw' });
      expect(verified).toHaveLength(3);
      expect(verified.slice(0, 2)).toEqual([undefined, undefined]); // the dummy hash of the same cost
    });

    it('counts an IPv6 client by its /64 and an IPv4 one (also IPv4-mapped) whole', async () => {
      expect(throttleAddress('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
      expect(throttleAddress('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
      expect(throttleAddress('2001:db8::5')).toBe('2001:db8:0:0::/64');
      expect(throttleAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
      expect(throttleAddress('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
      expect(throttleAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
      expect(throttleAddress('192.0.2.7')).toBe('192.0.2.7');
      // Guesses from addresses of one /64 lock it together.
      const throttle = createThrottle(t.store, { accountFailuresPerHour: 1000, ipFailuresPerHour: 2 });
      for (const ip of ['2001:db8:7:7::1', '2001:db8:7:7::2']) expect((await throttle.attempt('v6', `user-${ip}`, ip)).locked).toBe(false);
      expect((await throttle.attempt('v6', 'another', '2001:db8:7:7:ffff::9')).locked).toBe(true);
      expect((await throttle.attempt('v6', 'another', '2001:db8:7:8::1')).locked).toBe(false);
    });

    it('lets no more attempts than the limit check a password, however many come at once', async () => {
      const tenant = await directory.tenants.create({ code: 'burst', name: 'Burst' });
      await directory.users.create(tenant.id, { username: 'bo', password: PASSWORD });
      const real = createPasswordHasher(COST);
      let checked = 0;
      const counting: PasswordHasher = { ...real, verify: (hash, password) => ((checked += hash === undefined ? 0 : 1), real.verify(hash, password)) };
      const throttle = createThrottle(t.store, { accountFailuresPerHour: 3, ipFailuresPerHour: 1000 });
      const authenticate = createAuthentication(createTenants(t.store), createUsers(t.store, counting), counting, throttle);
      // Eleven guesses and the right password, all at once from one form.
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => authenticate({ tenant: 'burst', username: 'bo', password: i === 11 ? PASSWORD : `guess number ${i}`, ip: '192.0.2.9' })),
      );
      expect(checked).toBeLessThanOrEqual(3);
      expect(results.filter((r) => !r.ok && r.reason === 'locked').length).toBeGreaterThanOrEqual(9);
      const failed = results.filter((r) => !r.ok && r.reason === 'invalid').length;
      // Each failure counted once; refused attempts and a success not at all.
      expect(await throttle.failures('burst', 'bo')).toBe(failed);
      await throttle.unlock('burst', 'bo');
      // A success leaves no count behind (none is kept at zero for the hour).
      const alone = await throttle.attempt('burst', 'bo', '192.0.2.99');
      await alone.release();
      expect(await t.store.getMany(['throttle:account:burst:bo', 'throttle:ip:192.0.2.99'])).toEqual([undefined, undefined]);
    });

    it('counts the attempt and reads the account beside a gate, and hashes only once the gate has passed', async () => {
      const real = createPasswordHasher(COST);
      let verifies = 0;
      const counting: PasswordHasher = { ...real, verify: (hash, password) => ((verifies += 1), real.verify(hash, password)) };
      const reads: string[] = [];
      const recording = new Proxy(t.store, {
        get(target, name, receiver) {
          const value: unknown = Reflect.get(target, name, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (String(name).startsWith('get') || name === 'incr') reads.push(String(args[0]));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const throttle = createThrottle(recording, { accountFailuresPerHour: 5, ipFailuresPerHour: 50 });
      const authenticate = createAuthentication(createTenants(recording), createUsers(recording, counting), counting, throttle);
      const credentials = { tenant: 'signin', username: 'dora', password: PASSWORD, ip: '192.0.2.7' };

      let pass!: () => void;
      const signedIn = authenticate(credentials, new Promise<void>((resolve) => (pass = resolve)));
      await vi.waitFor(() => expect(reads.filter((key) => key.startsWith('throttle:'))).toHaveLength(2));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(verifies).toBe(0);
      pass();
      expect((await signedIn).ok).toBe(true);
      expect(verifies).toBe(1);

      // A gate that fails is the sign-in's failure: no hashing, and no failure counted.
      const before = await throttle.failures('signin', 'dora');
      const forged = new AtriumError('forbidden', 'bad CSRF token', 403);
      await expect(authenticate({ ...credentials, password: 'a wrong password' }, Promise.reject(forged))).rejects.toBe(forged);
      expect(verifies).toBe(1);
      expect(await throttle.failures('signin', 'dora')).toBe(before);
    });

    it('re-hashes at sign-in when the configured cost changed', async () => {
      const tenant = await directory.tenants.create({ code: 'rehash', name: 'R' });
      const cheap = createDirectory(t.store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
      const user = await cheap.users.create(tenant.id, { username: 'old', password: PASSWORD });
      const stronger = createDirectory(t.store, { password: { memoryCost: 19456, timeCost: 3, parallelism: 1 } });
      const result = await stronger.authenticate({ tenant: 'rehash', username: 'old', password: PASSWORD });
      expect(result.ok).toBe(true);
      const after = await stronger.users.byId(user.id);
      expect(parseOptions(after!.passwordHash)).toMatchObject({ memoryCost: 19456, timeCost: 3, parallelism: 1 });
      expect(await argon2Verify(after!.passwordHash, PASSWORD)).toBe(true);
    });
  });

  describe('apps', () => {
    it('returns a confidential app’s secret once and keeps only its SHA-256', async () => {
      const { app, clientSecret } = await directory.apps.create({ name: 'CRM', redirectUris: ['https://crm.test/cb'] });
      expect(clientSecret).toBeTruthy();
      expect(app.secretHash).toBe(sha256Hex(clientSecret!));
      const stored = await directory.apps.byId(app.clientId);
      expect(JSON.stringify(stored)).not.toContain(clientSecret);
      expect(secretMatches(clientSecret!, stored!.secretHash)).toBe(true);
      expect(secretMatches(`${clientSecret}x`, stored!.secretHash)).toBe(false);
    });

    it('gives a public app no secret and no refresh tokens', async () => {
      const { app, clientSecret } = await directory.apps.create({ name: 'SPA', type: 'public', redirectUris: ['http://localhost:5173/cb'] });
      expect(clientSecret).toBeUndefined();
      expect(app.secretHash).toBe('');
      expect(app.allowRefresh).toBe(false);
    });

    it.each([
      ['plain http on a public host', 'http://crm.test/cb'],
      ['a fragment', 'https://crm.test/cb#x'],
      ['a wildcard', 'https://*.crm.test/cb'],
      ['javascript:', 'javascript:alert(1)'],
      ['data:', 'data:text/html,hi'],
      ['a relative URL', '/cb'],
      ['user info', 'https://user:pw@crm.test/cb'],
    ])('refuses a redirect URI with %s', async (_why, uri) => {
      await expect(directory.apps.create({ name: 'Bad', redirectUris: [uri] })).rejects.toThrow(/^redirectUris\.0: /);
    });

    it('keeps every change made at once: an update and a rotation, two rotations', async () => {
      for (let round = 0; round < 10; round += 1) {
        const { app } = await directory.apps.create({ name: 'Leaky', redirectUris: ['https://leaky.test/cb', 'https://evil.test/cb'] });
        const [updated, rotated] = await Promise.all([
          directory.apps.update(app.clientId, { redirectUris: ['https://leaky.test/cb'] }),
          directory.apps.rotateSecret(app.clientId, 0),
        ]);
        const stored = (await directory.apps.byId(app.clientId))!;
        expect(stored.redirectUris).toEqual(['https://leaky.test/cb']);
        expect(stored.secretHash).toBe(sha256Hex(rotated.clientSecret));
        expect(updated.after.redirectUris).toEqual(['https://leaky.test/cb']);

        // Two rotations with a grace period at once: one lands, the other, which would end its grace
        // period at once, is refused; the secret before them stays valid.
        const results = await Promise.allSettled([directory.apps.rotateSecret(app.clientId, 3600), directory.apps.rotateSecret(app.clientId, 3600)]);
        const landed = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        expect(landed).toHaveLength(1);
        expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { status: 409 } });
        const latest = (await directory.apps.byId(app.clientId))!;
        expect([latest.secretHash, latest.previousSecretHash]).toEqual([sha256Hex(landed[0]!.clientSecret), sha256Hex(rotated.clientSecret)]);
      }
      await expect(directory.apps.rotateSecret('f'.repeat(32), 0)).rejects.toMatchObject({ status: 404 });
      await expect(directory.apps.update('not an id', { name: 'x' })).rejects.toMatchObject({ status: 404 });
    });

    it('accepts http redirect URIs on loopback hosts', async () => {
      const { app } = await directory.apps.create({ name: 'Local', redirectUris: ['http://127.0.0.1:8080/cb', 'http://localhost/cb', 'http://[::1]:9/cb'] });
      expect(app.redirectUris).toHaveLength(3);
    });
  });

  describe('assignments', () => {
    it('decides access from the assignment, its expiry and its user list', () => {
      const now = new Date('2026-06-01T00:00:00Z');
      const base = { tenantId: 't', clientId: 'c', createdAt: '', updatedAt: '' };
      expect(decideAccess(undefined, 'u', now)).toBe('unassigned');
      expect(decideAccess(base, 'u', now)).toBe('granted');
      expect(decideAccess({ ...base, expiresAt: '2026-05-31T23:59:59Z' }, 'u', now)).toBe('expired');
      expect(decideAccess({ ...base, expiresAt: '2026-06-02T00:00:00Z' }, 'u', now)).toBe('granted');
      expect(decideAccess({ ...base, userIds: ['v'] }, 'u', now)).toBe('not_listed');
      expect(decideAccess({ ...base, userIds: ['u'] }, 'u', now)).toBe('granted');
    });

    it('assigns, re-assigns and lists a tenant’s apps', async () => {
      const tenant = await directory.tenants.create({ code: 'assign', name: 'Assign' });
      const { app } = await directory.apps.create({ name: 'A', redirectUris: ['https://a.test/cb'] });
      await directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId, expiresAt: '2030-01-01T00:00:00+08:00' });
      const { before, after: again } = await directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId });
      expect([before?.expiresAt, again.expiresAt]).toEqual(['2029-12-31T16:00:00.000Z', undefined]);
      expect(again.createdAt).toBe(before?.createdAt);
      expect((await directory.assignments.listForTenant(tenant.id)).map((a) => a.clientId)).toEqual([app.clientId]);
      await expect(directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId, expiresAt: 'tomorrow' })).rejects.toThrow(/^expiresAt: /);
    });

    it('changes only the user list of an assignment that exists, and never brings back one ended meanwhile', async () => {
      const tenant = await directory.tenants.create({ code: 'listed', name: 'Listed' });
      const user = await directory.users.create(tenant.id, { username: 'listed', password: PASSWORD });
      const { app } = await directory.apps.create({ name: 'L', redirectUris: ['https://l.test/cb'] });
      await directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId, expiresAt: '2030-01-01T00:00:00Z' });
      const listed = await directory.assignments.setUsers(tenant.id, app.clientId, [user.id]);
      expect(listed?.before.userIds).toBeUndefined();
      expect(listed?.after).toMatchObject({ userIds: [user.id], expiresAt: '2030-01-01T00:00:00.000Z' });
      expect((await directory.assignments.setUsers(tenant.id, app.clientId, []))?.after.userIds).toBeUndefined();

      // Ended while user lists are being chosen: whichever comes first, it stays ended.
      for (let round = 0; round < 20; round += 1) {
        await directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId });
        const [chosen] = await Promise.allSettled([directory.assignments.setUsers(tenant.id, app.clientId, [user.id]), directory.assignments.unassign(tenant.id, app.clientId)]);
        if (chosen.status === 'rejected') expect(chosen.reason).toMatchObject({ status: 409 });
        expect(await directory.assignments.get(tenant.id, app.clientId)).toBeUndefined();
        expect(await directory.assignments.listForTenant(tenant.id)).toEqual([]);
      }
      expect(await directory.assignments.setUsers(tenant.id, app.clientId, [user.id])).toBeUndefined();
      expect(await directory.assignments.get(tenant.id, app.clientId)).toBeUndefined();
    });
  });

  describe('bootstrap', () => {
    it('creates the platform admin once, with the configured password', async () => {
      const first = await ensurePlatformAdmin(directory, 'the bootstrap password');
      expect(first).toEqual({ created: true });
      expect(await ensurePlatformAdmin(directory, 'another one')).toEqual({ created: false });
      const result = await directory.authenticate({ tenant: 'platform', username: 'admin', password: 'the bootstrap password' });
      expect(result.ok && result.user.role).toBe('admin');
      expect(result.ok && result.tenant.platform).toBe(true);
    });
  });
});

describe('bootstrap after a failed or forestalled first start', () => {
  let t: TestStore;
  let directory: Directory;
  beforeAll(async () => {
    t = await openTestStore('sqlite');
    directory = createDirectory(t.store, { password: COST });
  });
  afterAll(() => t.dispose());

  it('refuses a configured password the policy refuses before writing anything', async () => {
    await expect(ensurePlatformAdmin(directory, 'short')).rejects.toThrow(/^ATRIUM_ADMIN_PASSWORD: must have at least 8 characters/);
    expect(await directory.tenants.byCode('platform')).toBeUndefined();
  });

  it('creates the admin in a platform tenant that has none, with a generated password', async () => {
    // As a first start that stopped between its two writes left it.
    await directory.tenants.create({ code: 'platform', name: 'Atrium platform' }, { platform: true });
    const result = await ensurePlatformAdmin(directory, undefined);
    const generated = result.created ? result.generatedPassword : undefined;
    expect(generated).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const signedIn = await directory.authenticate({ tenant: 'platform', username: 'admin', password: generated! });
    expect(signedIn.ok && signedIn.user.role).toBe('admin');
    expect(await ensurePlatformAdmin(directory, undefined)).toEqual({ created: false });
  });

  it('says so when the platform’s user admin is there but no admin', async () => {
    const platform = (await directory.tenants.byCode('platform'))!;
    const admin = (await directory.users.byUsername(platform.id, 'admin'))!;
    await directory.users.update(admin.id, { role: 'user' });
    expect(await ensurePlatformAdmin(directory, undefined)).toEqual({ created: false, warning: expect.stringMatching(/no platform admin/) });
    await directory.users.update(admin.id, { role: 'admin' });
    expect(await ensurePlatformAdmin(directory, undefined)).toEqual({ created: false });
  });

  it('never disables the platform’s own tenant, which would sign every platform admin out for good', async () => {
    const platform = (await directory.tenants.byCode('platform'))!;
    await expect(directory.tenants.update(platform.id, { status: 'disabled' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/^status: /) });
    expect((await directory.tenants.update(platform.id, { name: 'Our platform' })).status).toBe('active');
  });

  it('reserves the code platform for the platform tenant', async () => {
    await expect(directory.tenants.create({ code: 'Platform', name: 'Look-alike' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/^code: platform is reserved/) });
  });
});

describe('bootstrap without a configured password', () => {
  it('generates one and returns it to be printed once', async () => {
    const t = await openTestStore('sqlite');
    try {
      const directory = createDirectory(t.store, { password: COST });
      const result = await ensurePlatformAdmin(directory, undefined);
      expect(result.created).toBe(true);
      const generated = result.created ? result.generatedPassword : undefined;
      expect(generated).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect((await directory.authenticate({ tenant: 'platform', username: 'admin', password: generated! })).ok).toBe(true);
    } finally {
      await t.dispose();
    }
  });
});

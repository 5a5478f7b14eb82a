import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import Provider from 'oidc-provider';
import { describeSigningKeys, keysInForce, loadSigningKeys, rotateSigningKeys, toProviderJwks, watchSigningKeys, type StoredKey } from '../../src/oidc/keys.js';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, seedDirectory } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { createStore } from '../../src/store/index.js';
import { DRIVERS, openTestStore } from '../helpers/stores.js';

interface Jwks extends JSONWebKeySet {
  keys: (JSONWebKeySet['keys'][number] & { kid: string; alg: string; d?: string })[];
}

describe('signing keys in force', () => {
  const key = (kid: string, times: Partial<Pick<StoredKey, 'activateAt' | 'retireAt'>> = {}): StoredKey => ({
    jwk: { kty: 'EC', kid, alg: 'ES256', use: 'sig' },
    createdAt: '2026-01-01T00:00:00.000Z',
    ...times,
  });
  const now = new Date('2026-06-01T12:00:00.000Z');
  const kids = (keys: StoredKey[]) => keys.map((k) => k.jwk.kid);

  it('puts the active keys first, newest first, then the ones not active yet, and drops the retired', () => {
    const stored = [
      key('pending', { activateAt: '2026-06-01T12:02:00.000Z' }),
      key('current', { activateAt: '2026-06-01T11:00:00.000Z', retireAt: '2026-06-02T12:02:00.000Z' }),
      key('older', { retireAt: '2026-06-01T13:00:00.000Z' }),
      key('retired', { retireAt: '2026-06-01T11:59:59.000Z' }),
    ];
    expect(kids(keysInForce(stored, now))).toEqual(['current', 'older', 'pending']);
    expect(kids(keysInForce(stored, new Date('2026-06-01T12:02:00.000Z')))).toEqual(['pending', 'current', 'older']);
    expect(kids(keysInForce(stored, new Date('2026-06-01T13:00:00.000Z')))).toEqual(['pending', 'current']);
  });

  it('describes what each stored key does: the first active one of each algorithm signs', async () => {
    const t = await openTestStore('sqlite');
    try {
      const rsa = (kid: string, times: Partial<Pick<StoredKey, 'activateAt' | 'retireAt'>> = {}): StoredKey => ({ ...key(kid, times), jwk: { kty: 'RSA', kid, alg: 'RS256', use: 'sig' } });
      const stored = [
        key('es-pending', { activateAt: '2026-06-01T12:02:00.000Z' }),
        rsa('rs-pending', { activateAt: '2026-06-01T12:02:00.000Z' }),
        key('es-current', { retireAt: '2026-06-02T00:00:00.000Z' }),
        rsa('rs-current', { retireAt: '2026-06-02T00:00:00.000Z' }),
        key('es-older', { retireAt: '2026-06-01T13:00:00.000Z' }),
        rsa('rs-retired', { retireAt: '2026-06-01T11:00:00.000Z' }),
      ];
      await t.store.set('oidc-keys:signing', JSON.stringify(stored));
      const states = async (at: Date) => Object.fromEntries((await describeSigningKeys(t.store, at)).map((k) => [k.jwk.kid, k.state]));
      expect(await states(now)).toEqual({
        'es-current': 'signing',
        'rs-current': 'signing',
        'es-older': 'verifying',
        'es-pending': 'pending',
        'rs-pending': 'pending',
        'rs-retired': 'retired',
      });
      expect(await states(new Date('2026-06-01T12:02:00.000Z'))).toMatchObject({ 'es-pending': 'signing', 'rs-pending': 'signing', 'es-current': 'verifying', 'rs-current': 'verifying' });
    } finally {
      await t.dispose();
    }
  });
});

describe.each(DRIVERS)('signing keys on the %s store', (driver) => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const idToken = async (t: TestServer, seed: Awaited<ReturnType<typeof seedDirectory>>) => {
    const config = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = (await authorize(new Browser(t.issuer), url.href, aliceLogin)).location!;
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: 's' });
    return tokens.id_token!;
  };
  const idTokenKid = async (t: TestServer, seed: Awaited<ReturnType<typeof seedDirectory>>, alg?: string) => {
    const header = decodeProtectedHeader(await idToken(t, seed));
    if (alg) expect(header.alg).toBe(alg);
    return header.kid!;
  };

  it('keeps keys in the store: a restart serves the same JWKS, a rotation signs with the new key and still publishes the old one', async () => {
    const first = await startAtrium(driver);
    servers.push(first);
    const seed = await seedDirectory(first.atrium.directory);
    const jwks1 = (await (await fetch(`${first.issuer}/jwks`)).json()) as Jwks;
    const kid1 = await idTokenKid(first, seed, 'RS256');
    expect(jwks1.keys.map((k) => k.kid)).toContain(kid1);

    // The same store again, as after a restart: same keys.
    const again = await startAtrium(driver, (c) => {
      c.store = first.atrium.config.store;
    });
    servers.push(again);
    expect(((await (await fetch(`${again.issuer}/jwks`)).json()) as Jwks).keys.map((k) => k.kid).sort()).toEqual(jwks1.keys.map((k) => k.kid).sort());

    await rotateSigningKeys(first.atrium.store, { retireAfterSeconds: 3600, activateAfterSeconds: 0 });
    const rotated = await startAtrium(driver, (c) => {
      c.store = first.atrium.config.store;
    });
    servers.push(rotated);
    const jwks2 = (await (await fetch(`${rotated.issuer}/jwks`)).json()) as Jwks;
    expect(jwks2.keys).toHaveLength(4);
    expect(jwks2.keys.map((k) => k.kid)).toContain(kid1);
    expect(jwks2.keys.every((k) => k.d === undefined)).toBe(true);
    const kid2 = await idTokenKid(rotated, seed, 'RS256');
    expect(kid2).not.toBe(kid1);
  });

  it('drops a rotated-out key once its retirement time has passed', async () => {
    const t = await openTestStore(driver);
    try {
      const original = await loadSigningKeys(t.store);
      await rotateSigningKeys(t.store, { retireAfterSeconds: 0.001, activateAfterSeconds: 0 });
      await new Promise((r) => setTimeout(r, 20));
      const live = await loadSigningKeys(t.store);
      expect(live).toHaveLength(2);
      expect(live.map((k) => k.jwk.kid)).not.toContain(original[0]!.jwk.kid);
    } finally {
      await t.dispose();
    }
  });

  it('has running servers publish a rotated key at once and sign with it from its activation on, with no restart', async () => {
    const reload = (c: { keys: { reloadSeconds: number } }) => {
      c.keys.reloadSeconds = 0.1;
    };
    const a = await startAtrium(driver, reload);
    servers.push(a);
    const b = await startAtrium(driver, (c) => {
      reload(c);
      c.store = a.atrium.config.store;
    });
    servers.push(b);
    const seed = await seedDirectory(a.atrium.directory);
    const kid0 = await idTokenKid(a, seed, 'RS256');
    expect(await idTokenKid(b, seed, 'RS256')).toBe(kid0);

    const keys = await rotateSigningKeys(a.atrium.store, { retireAfterSeconds: 3600, activateAfterSeconds: 3 });
    const kid1 = keys.find((k) => k.jwk.alg === 'RS256' && !k.retireAt)!.jwk.kid;
    const activateAt = Date.parse(keys[0]!.activateAt!);
    const published = async (t: TestServer) => (await (await fetch(`${t.issuer}/jwks`)).json()) as Jwks;
    await expect.poll(async () => (await Promise.all([a, b].map(published))).map((jwks) => jwks.keys.map((k) => k.kid)), { timeout: 2000, interval: 50 }).toEqual([
      expect.arrayContaining([kid0, kid1]),
      expect.arrayContaining([kid0, kid1]),
    ]);
    // Published everywhere, signing nowhere yet (the 3 s of the activation leave time for both).
    const before = await published(b);
    expect([await idTokenKid(a, seed, 'RS256'), await idTokenKid(b, seed, 'RS256')]).toEqual([kid0, kid0]);
    expect(Date.now()).toBeLessThan(activateAt);

    // From the activation on (each server at its next read), both sign with the new key, and what
    // they sign verifies with the JWKS a client fetched before: no client meets an unknown key.
    await expect.poll(() => idTokenKid(a, seed, 'RS256'), { timeout: activateAt - Date.now() + 2000, interval: 100 }).toBe(kid1);
    await expect.poll(() => idTokenKid(b, seed, 'RS256'), { timeout: 2000, interval: 100 }).toBe(kid1);
    const token = await idToken(a, seed);
    expect(decodeProtectedHeader(token).kid).toBe(kid1);
    expect((await jwtVerify(token, createLocalJWKSet(before), { issuer: a.issuer })).protectedHeader.kid).toBe(kid1);
    const after = await published(b);
    expect(after.keys.map((k) => k.kid)).toContain(kid0);
    expect(after.keys.every((k) => k.d === undefined)).toBe(true);
    // Each server counted two changes (the new key published, then active), and no failure.
    for (const t of [a, b]) {
      const metrics = await (await fetch(`${t.issuer}/metrics`)).text();
      expect(metrics).toMatch(/^atrium_signing_key_reloads_total\{result="changed"\} 2$/m);
      expect(metrics).not.toMatch(/^atrium_signing_key_reloads_total\{result="failed"\}/m);
    }
  });

  /**
   * A bare provider with the store's keys, watched through a store connection of its own (closed to
   * make its reads fail), recording what the watcher reports; all of it ends with the test.
   */
  async function watched(intervalMs: number) {
    const t = await openTestStore(driver);
    const reader = await createStore(t.config);
    onTestFinished(async () => {
      await reader.close().catch(() => undefined);
      await t.dispose();
    });
    const initial = await loadSigningKeys(t.store);
    const provider = new Provider('http://127.0.0.1', { jwks: toProviderJwks(initial) as never, features: { devInteractions: { enabled: false } } });
    const changes: string[][] = [];
    const errors: unknown[] = [];
    const watch = watchSigningKeys(provider, reader, initial, { intervalMs, onChange: (kids) => changes.push(kids), onError: (err) => errors.push(err) });
    onTestFinished(() => watch.stop());
    return { store: t.store, reader, initial, provider, watch, changes, errors };
  }

  it('leaves a running provider its keys when the store has none, or cannot be read', async () => {
    const { store, reader, initial, provider, watch, changes, errors } = await watched(60_000);
    const server = createServer(provider.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const jwks = async () => ((await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`)).json()) as Jwks).keys.map((k) => k.kid);
    const kids = initial.map((k) => k.jwk.kid);
    expect(await jwks()).toEqual(kids);
    await store.del('oidc-keys:signing');
    await watch.refresh();
    expect(await jwks()).toEqual(kids);
    const rotated = await rotateSigningKeys(store, { retireAfterSeconds: 60, activateAfterSeconds: 0 });
    await watch.refresh();
    expect(await jwks()).toEqual(rotated.map((k) => k.jwk.kid));
    expect(changes).toEqual([rotated.map((k) => k.jwk.kid)]);
    expect(errors).toEqual([]);
    await reader.close();
    await rotateSigningKeys(store, { retireAfterSeconds: 60, activateAfterSeconds: 0 });
    await expect(watch.refresh()).rejects.toThrow();
    expect(await jwks()).toEqual(rotated.map((k) => k.jwk.kid));
  });

  it('runs one rotation at a time: of two at once, one adds its generation and the other is refused, losing none', async () => {
    const t = await openTestStore(driver);
    try {
      const original = (await loadSigningKeys(t.store)).map((k) => k.jwk.kid);
      const options = { retireAfterSeconds: 60, activateAfterSeconds: 0 };
      const results = await Promise.allSettled([rotateSigningKeys(t.store, options), rotateSigningKeys(t.store, options)]);
      const done = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r) => r.status === 'rejected');
      expect([done.length, refused.length]).toEqual([1, 1]);
      expect(refused[0]!.reason).toMatchObject({ status: 409, message: expect.stringMatching(/another signing key rotation is under way/) });
      const stored = (await loadSigningKeys(t.store)).map((k) => k.jwk.kid);
      expect(stored).toEqual(done[0]!.value.map((k) => k.jwk.kid));
      expect(stored).toEqual(expect.arrayContaining(original));
      // The lock is gone with the rotation that held it: the next one goes through.
      const next = await rotateSigningKeys(t.store, options);
      expect(next.map((k) => k.jwk.kid)).toEqual(expect.arrayContaining(stored));
      expect(await t.store.get('oidc-keys:rotating')).toBeUndefined();
    } finally {
      await t.dispose();
    }
  });

  it('releases only its own rotation lock: one taken over by another rotation meanwhile stays', async () => {
    const t = await openTestStore(driver);
    try {
      await loadSigningKeys(t.store);
      // The lock expires and another rotation takes it just before this one lets it go.
      const takenOver = new Proxy(t.store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (property !== 'del' && property !== 'deleteIfEquals') return value;
          return async (key: string, ...rest: string[]) => {
            if (key === 'oidc-keys:rotating') await target.set(key, 'another rotation');
            return (value as (...args: string[]) => Promise<unknown>).call(target, key, ...rest);
          };
        },
      });
      await rotateSigningKeys(takenOver, { retireAfterSeconds: 60, activateAfterSeconds: 0 });
      expect(await t.store.get('oidc-keys:rotating')).toBe('another rotation');
    } finally {
      await t.dispose();
    }
  });

  it('refuses to write its keys over keys written meanwhile without the lock, losing none', async () => {
    const t = await openTestStore(driver);
    try {
      const original = (await loadSigningKeys(t.store)).map((k) => k.jwk.kid);
      // Keys written while the rotation generates its own (a rotation that outlived its lock).
      let written: string[] | undefined;
      const raced = new Proxy(t.store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (property !== 'get') return value;
          return async (key: string) => {
            const read = await target.get(key);
            if (key === 'oidc-keys:signing' && !written) {
              await target.del('oidc-keys:rotating'); // this rotation's lock expired
              const other = await rotateSigningKeys(t.store, { retireAfterSeconds: 60, activateAfterSeconds: 0 });
              written = other.map((k) => k.jwk.kid);
            }
            return read;
          };
        },
      });
      await expect(rotateSigningKeys(raced, { retireAfterSeconds: 60, activateAfterSeconds: 0 })).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/signing keys changed/) });
      expect((await loadSigningKeys(t.store)).map((k) => k.jwk.kid)).toEqual(written);
      expect(written).toEqual(expect.arrayContaining(original));
    } finally {
      await t.dispose();
    }
  });

  it('re-reads on its timer, tells read failures to onError, and reads no more once stopped', async () => {
    const { store, reader, watch, changes, errors } = await watched(20);
    const rotated = await rotateSigningKeys(store, { retireAfterSeconds: 60, activateAfterSeconds: 0 });
    await expect.poll(() => changes, { timeout: 2000, interval: 20 }).toEqual([rotated.map((k) => k.jwk.kid)]);
    await reader.close();
    await expect.poll(() => errors.length, { timeout: 2000, interval: 20 }).toBeGreaterThan(0);
    await watch.stop();
    const failures = errors.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toHaveLength(failures);
    expect(changes).toHaveLength(1);
  });

  it('signs with ES256 when configured', async () => {
    const t = await startAtrium(driver, (c) => {
      c.signingAlg = 'ES256';
    });
    servers.push(t);
    const seed = await seedDirectory(t.atrium.directory);
    await idTokenKid(t, seed, 'ES256');
  });
});

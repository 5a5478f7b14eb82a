import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from 'oidc-provider';
import { ACCESS_TOKEN_CAP, GrantRevoked, REFRESH_TOKEN_CAP, StoreAdapter, afterWrites, clientGrantIds, clientGrantKeys, createAdapterFactory, decodeRecord, encodeRecord, oidcKeys, settleWrites } from '../../src/oidc/adapter.js';
import { withRecordCache } from '../../src/directory/records.js';
import { createRefreshSeal } from '../../src/oidc/refresh-seal.js';
import { ALL_TOPOLOGIES, openTestStore, type TestStore } from '../helpers/stores.js';
import type { Store } from '../../src/store/store.js';

const epoch = (): number => Math.floor(Date.now() / 1000);

describe.each(ALL_TOPOLOGIES)('oidc-provider adapter on the %s store', (driver) => {
  let t: TestStore;
  const adapter = (model: string) => new StoreAdapter(t.store, model);
  /** A grant as the provider saves it, with its account and app. */
  const grant = (id: string, ttl: number | 'forever' = 600) =>
    ttl === 'forever'
      ? adapter('Grant').upsert(id, { jti: id, kind: 'Grant', accountId: 'acc', clientId: 'app' }, undefined)
      : adapter('Grant').upsert(id, { jti: id, kind: 'Grant', accountId: 'acc', clientId: 'app', exp: epoch() + ttl }, ttl);
  const UNCONSUMED_RECORD = (expires: number) => `0000000000${String(expires).padStart(10, '0')}{}`;
  const token = (grantId: string, n: string, ttl: number) => ({ jti: `${grantId}.${n}`, grantId, accountId: 'acc', clientId: 'app', exp: epoch() + ttl });
  /** The test store as the adapters see it, noting in `calls` each operation as it is called. */
  const recordingStore = (calls: string[]): Store =>
    new Proxy(t.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(property));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  beforeAll(async () => {
    t = await openTestStore(driver);
  });
  afterAll(() => t.dispose());

  it('stores a code for its TTL, indexed in its grant, and finds it', async () => {
    await grant('g1');
    const codes = adapter('AuthorizationCode');
    await codes.upsert('g1.c1', { jti: 'g1.c1', grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    expect(await codes.find('g1.c1')).toEqual({ jti: 'g1.c1', grantId: 'g1', kind: 'AuthorizationCode' });
    expect(await t.store.ttl(oidcKeys.record('AuthorizationCode', 'g1.c1'))).toBeLessThanOrEqual(60);
    expect(Object.keys((await t.store.hgetall(oidcKeys.grant('g1'))) ?? {}).sort()).toEqual(['AC:g1.c1', 'G']);
    expect(await codes.find('g1.missing')).toBeUndefined();
  });

  it("starts reading the code or refresh token of a token request as it finds the request's client, for the next find only", async () => {
    await grant('gp');
    await adapter('AuthorizationCode').upsert('gp.c1', { jti: 'gp.c1', grantId: 'gp', kind: 'AuthorizationCode' }, 60);
    await adapter('RefreshToken').upsert('gp.r1', { ...token('gp', 'r1', 60), kind: 'RefreshToken' }, 60);
    const calls: string[] = [];
    const store = recordingStore(calls);
    const factory = createAdapterFactory(store, async (id) => {
      calls.push('client');
      return { client_id: id };
    });
    const tokenRequest = (params: Record<string, string>, route = 'token') => ({ oidc: { route, params } });

    await withRecordCache(async () => {
      await factory('Client').find('app');
      // The code, its grant's index entry and the directory version, started before the client's
      // record is looked up: in the same tick, so in one round trip.
      expect(calls).toEqual(['getMany', 'hgetMany', 'client']);
      expect(await factory('AuthorizationCode').find('gp.c1')).toEqual({ jti: 'gp.c1', grantId: 'gp', kind: 'AuthorizationCode' });
      expect(calls).toHaveLength(3); // taken, not read again
      await factory('AuthorizationCode').find('gp.c1');
      expect(calls).toHaveLength(5); // once only: a later find reads again (get, hgetMany)
      await factory('Client').find('app');
      expect(calls).toHaveLength(6); // and the client found again starts no second read
    }, tokenRequest({ grant_type: 'authorization_code', code: 'gp.c1' }));

    calls.length = 0;
    await withRecordCache(async () => {
      await factory('Client').find('app');
      expect(calls).toEqual(['get', 'hgetMany', 'client']);
      expect((await factory('RefreshToken').find('gp.r1'))?.jti).toBe('gp.r1');
      expect(calls).toHaveLength(3);
    }, tokenRequest({ grant_type: 'refresh_token', refresh_token: 'gp.r1' }));

    // Nothing is started elsewhere: other routes, other grant types, no credential or a made-up one.
    for (const request of [
      tokenRequest({ grant_type: 'authorization_code', code: 'gp.c1' }, 'userinfo'),
      tokenRequest({ grant_type: 'client_credentials' }),
      tokenRequest({ grant_type: 'constructor', constructor: 'gp.c1' }),
      tokenRequest({ grant_type: 'refresh_token' }),
      tokenRequest({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(513) }),
    ]) {
      calls.length = 0;
      await withRecordCache(() => factory('Client').find('app'), request);
      expect(calls).toEqual(['client']);
    }
  });

  it('lets a prefetched read that fails go, when no find takes it (the client failed to authenticate)', async () => {
    const unavailable = new Proxy(t.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? () => Promise.reject(new Error('store unavailable')) : value;
      },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const factory = createAdapterFactory(unavailable, async () => undefined);
      const request = { oidc: { route: 'token', params: { grant_type: 'refresh_token', refresh_token: 'gx.r1' } } };
      expect(await withRecordCache(() => factory('Client').find('unknown-app'), request)).toBeUndefined();
      await sleep(20);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('keeps a grant without TTL when expiresIn is undefined', async () => {
    await grant('g-forever', 'forever');
    expect(await t.store.ttl(oidcKeys.grant('g-forever'))).toBe(-1);
    expect((await adapter('Grant').find('g-forever'))?.accountId).toBe('acc');
  });

  it('keeps a token in its grant: account and app come from the grant, not stored twice', async () => {
    await grant('gt');
    const at = adapter('AccessToken');
    // (One payload for both: two calls of token() a second apart would differ in exp.)
    const payload = { ...token('gt', 'a1', 60), scope: 'openid', kind: 'AccessToken' };
    await at.upsert('gt.a1', { ...payload }, 60);
    expect(await at.find('gt.a1')).toEqual(payload);
    const stored = await t.store.hget(oidcKeys.grant('gt'), 'AT:a1');
    expect(stored).toBeDefined();
    expect(stored).not.toContain('acc');
    expect(stored).not.toContain('app');
    expect(await t.store.get(oidcKeys.record('AccessToken', 'gt.a1'))).toBeUndefined();
  });

  it('refuses to write a token or a code into a grant that does not exist (revoked meanwhile)', async () => {
    await expect(adapter('RefreshToken').upsert('gone.r1', token('gone', 'r1', 60), 60)).rejects.toBeInstanceOf(errors.InvalidGrant);
    await expect(adapter('AuthorizationCode').upsert('gone.c1', { jti: 'gone.c1', grantId: 'gone' }, 60)).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await t.store.ttl(oidcKeys.grant('gone'))).toBe(-2);
    expect(await t.store.ttl(oidcKeys.record('AuthorizationCode', 'gone.c1'))).toBe(-2);
  });

  it('forgets an expired token at once, and drops it from its grant at the next write', async () => {
    await grant('gs');
    const at = adapter('AccessToken');
    await at.upsert('gs.short', token('gs', 'short', 1), 1);
    expect(await at.find('gs.short')).toBeDefined();
    await sleep(1100);
    expect(await at.find('gs.short')).toBeUndefined();
    await at.upsert('gs.next', token('gs', 'next', 60), 60);
    expect(Object.keys((await t.store.hgetall(oidcKeys.grant('gs'))) ?? {}).sort()).toEqual(['AT:next', 'G']);
  });

  it('marks a code consumed without deleting it, for exactly one caller, and unindexes it', async () => {
    await grant('g2');
    const codes = adapter('AuthorizationCode');
    await codes.upsert('g2.once', { jti: 'g2.once', grantId: 'g2' }, 60);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('g2.once')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
      expect(r.reason).toBeInstanceOf(errors.InvalidGrant);
    }
    const found = await codes.find('g2.once');
    expect(found?.jti).toBe('g2.once');
    expect(found?.consumed).toBeGreaterThan(Date.now() / 1000 - 5);
    expect(found?.consumed).toBeLessThanOrEqual(Date.now() / 1000);
    expect(found?.grantId).toBe('g2');
    expect(Object.keys((await t.store.hgetall(oidcKeys.grant('g2'))) ?? {})).toEqual(['G']);
  });

  it('marks a refresh token consumed in its grant for exactly one caller', async () => {
    await grant('g3');
    const rt = adapter('RefreshToken');
    const stored = { ...token('g3', 'r', 600), scope: 'openid', sessionUid: 'u' };
    await rt.upsert('g3.r', stored, 600);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => rt.consume('g3.r')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const spent = await rt.find('g3.r');
    expect(spent?.consumed).toBeGreaterThan(Date.now() / 1000 - 5);
    // What a replay needs is kept (grant, account, app, expiry); the rest is dropped.
    expect(spent).toEqual({ kind: 'RefreshToken', ...stored, scope: undefined, sessionUid: undefined, consumed: spent?.consumed });
    expect(spent).not.toHaveProperty('scope');
  });

  it('within a request, consumes a refresh token with the write of the one replacing it, for exactly one of many', async () => {
    await grant('g4');
    const rt = adapter('RefreshToken');
    await rt.upsert('g4.old', token('g4', 'old', 600), 600);
    const attempts = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        withRecordCache(async () => {
          await rt.consume('g4.old'); // deferred: nothing written yet
          await rt.upsert(`g4.new${i}`, token('g4', `new${i}`, 600), 600);
          await settleWrites(true);
        }),
      ),
    );
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    for (const a of attempts.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) expect(a.reason).toBeInstanceOf(errors.InvalidGrant);
    expect((await rt.find('g4.old'))?.consumed).toBeGreaterThan(0);
    const fields = Object.keys((await t.store.hgetall(oidcKeys.grant('g4'))) ?? {}).filter((f) => f.startsWith('RT:new'));
    expect(fields).toHaveLength(1);
  });

  it(`keeps at most ${ACCESS_TOKEN_CAP.max} access tokens per grant: past that, those expiring first are revoked down to ${ACCESS_TOKEN_CAP.trimTo}`, async () => {
    await grant('gcap', 7300);
    const at = adapter('AccessToken');
    const { max, trimTo } = { ...ACCESS_TOKEN_CAP, trimTo: ACCESS_TOKEN_CAP.trimTo! };
    // Names in the opposite order of their expiries: a0 expires last.
    for (let i = 0; i < max; i += 1) await at.upsert(`gcap.a${i}`, token('gcap', `a${i}`, 3600 + max - i), 3600 + max - i);
    await withRecordCache(async () => {
      await at.upsert('gcap.b0', token('gcap', 'b0', 7200), 7200);
      await at.upsert('gcap.b1', token('gcap', 'b1', 7201), 7201);
      await settleWrites(true);
    });
    const kept = Object.keys((await t.store.hgetall(oidcKeys.grant('gcap'))) ?? {}).filter((f) => f.startsWith('AT:'));
    const expected = [...Array.from({ length: trimTo - 2 }, (_, i) => `AT:a${i}`), 'AT:b0', 'AT:b1'];
    expect(kept.sort()).toEqual(expected.sort());
    expect(await at.find(`gcap.a${trimTo - 2}`)).toBeUndefined();
    expect(await at.find(`gcap.a${trimTo - 3}`)).toBeDefined();
  });

  describe('sealed refresh token ids', () => {
    const seal = createRefreshSeal(['a cookie key of at least thirty-two characters']);
    const sealedRt = () => new StoreAdapter(t.store, 'RefreshToken', seal);
    /** A refresh token of `grantId` as grantTokenIds names it: its random part, then its seal. */
    const sealed = (grantId: string, random: string, ttl: number) => {
      const exp = epoch() + ttl;
      const n = `${random}${seal.seal(grantId, random, exp)}`;
      return { id: `${grantId}.${n}`, field: `RT:${n}`, payload: { ...token(grantId, n, ttl), exp } };
    };
    const members = async (grantId: string) => Object.keys((await t.store.hgetall(oidcKeys.grant(grantId))) ?? {}).sort();

    it('within a request, takes a spent one out of its grant with the write of the one replacing it, for exactly one of many', async () => {
      await grant('gs1');
      const rt = sealedRt();
      const old = sealed('gs1', 'old', 600);
      await rt.upsert(old.id, old.payload, 600);
      const attempts = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          withRecordCache(async () => {
            await rt.consume(old.id); // deferred: nothing written yet
            const next = sealed('gs1', `new${i}`, 600);
            await rt.upsert(next.id, next.payload, 600);
            await settleWrites(true);
          }),
        ),
      );
      expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
      for (const a of attempts.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) expect(a.reason).toBeInstanceOf(errors.InvalidGrant);
      // Nothing of the spent one stays: the grant and the one token that replaced it.
      const left = await members('gs1');
      expect(left).toHaveLength(2);
      expect(left[0]).toBe('G');
      expect(left[1]).toMatch(/^RT:new\d/);
    });

    it('finds a spent one as consumed, with what a replay needs from its grant', async () => {
      await adapter('Grant').upsert('gs2', { jti: 'gs2', kind: 'Grant', accountId: 'acc', clientId: 'app', openid: { scope: 'openid email' }, exp: epoch() + 600 }, 600);
      const rt = sealedRt();
      const spent = sealed('gs2', 'spent', 600);
      await rt.upsert(spent.id, { ...spent.payload, scope: 'openid' }, 600);
      await rt.consume(spent.id); // outside a request: at once
      expect(await members('gs2')).toEqual(['G']);
      const found = await rt.find(spent.id);
      expect(found?.consumed).toBeGreaterThan(epoch() - 5);
      expect(found).toEqual({ jti: spent.id, kind: 'RefreshToken', grantId: 'gs2', accountId: 'acc', clientId: 'app', exp: spent.payload.exp, scope: 'openid email', consumed: found?.consumed });
      await expect(rt.consume(spent.id)).rejects.toBeInstanceOf(errors.InvalidGrant);
    });

    it('takes an id it did not seal, or one sealed for another grant, as not found, and a spent one of a revoked grant too', async () => {
      await grant('gs3');
      await grant('gs4');
      const rt = sealedRt();
      const live = sealed('gs3', 'live', 600);
      await rt.upsert(live.id, live.payload, 600);
      const n = live.id.split('.')[1]!;
      const tampered = `gs3.${n.slice(0, -1)}${n.endsWith('A') ? 'B' : 'A'}`;
      expect(await rt.find(tampered)).toBeUndefined();
      expect(await rt.find(`gs4.${n}`)).toBeUndefined(); // the seal names its grant
      expect(await rt.find(`gs3.x${n}`)).toBeUndefined();
      const otherKey = createRefreshSeal(['another cookie key, also thirty-two characters or more']);
      const foreign = `gs3.y${otherKey.seal('gs3', 'y', epoch() + 600)}`;
      expect(await rt.find(foreign)).toBeUndefined();
      // Unsealed ids keep the spent marker of before, which is still recognised.
      await expect(rt.consume(tampered)).rejects.toBeInstanceOf(errors.InvalidGrant);
      await rt.consume(live.id);
      await adapter('Grant').destroy('gs3');
      expect(await rt.find(live.id)).toBeUndefined();
    });

    it('takes a sealed one missing from its grant as spent until 30 s before its expiry, then as expired (another process’s clock may be ahead)', async () => {
      await grant('gs6');
      const rt = sealedRt();
      // Never written here: as if pruned, or spent.
      expect((await rt.find(sealed('gs6', 'far', 600).id))?.consumed).toBeGreaterThan(0);
      expect((await rt.find(sealed('gs6', 'past-margin', 33).id))?.consumed).toBeGreaterThan(0);
      expect(await rt.find(sealed('gs6', 'within-margin', 28).id)).toBeUndefined();
    });

    it(`keeps at most ${REFRESH_TOKEN_CAP.max} per grant: those expiring first go, and are then only not found, not replays`, async () => {
      await grant('gs7', 7200);
      const rt = sealedRt();
      const { max, trimTo } = { ...REFRESH_TOKEN_CAP, trimTo: REFRESH_TOKEN_CAP.trimTo! };
      // Names in the opposite order of their expiries: chain0 expires last of the first ones.
      const chains = Array.from({ length: max }, (_, i) => sealed('gs7', `chain${i}`, 3600 + max - i));
      for (const chain of chains) await rt.upsert(chain.id, chain.payload, 3600);
      // The new one expires first of all: it stays, the others make room.
      const last = sealed('gs7', 'last', 3500);
      await withRecordCache(async () => {
        await rt.upsert(last.id, last.payload, 3500);
        await settleWrites(true);
      });
      expect((await members('gs7')).filter((f) => f.startsWith('RT:')).sort()).toEqual([...chains.slice(0, trimTo - 1), last].map((c) => c.field).sort());
      // A trimmed one is not found (its grant stays); so is a spent one expiring no later.
      expect(await rt.find(chains[trimTo - 1]!.id)).toBeUndefined();
      expect(await rt.find(chains[max - 1]!.id)).toBeUndefined();
      await rt.consume(last.id);
      expect(await rt.find(last.id)).toBeUndefined();
      // One spent expiring after every trimmed one is still a replay.
      await rt.consume(chains[trimTo - 2]!.id);
      expect((await rt.find(chains[trimTo - 2]!.id))?.consumed).toBeGreaterThan(0);
      expect((await rt.find(chains[0]!.id))?.consumed).toBeUndefined();
    });

    it('trims those expiring together (as every token issued after its grant’s first minute does) in the order they were issued, and takes a spent one issued after the last trimmed as a replay', async () => {
      await grant('gs8', 7200);
      const rt = sealedRt();
      const { max, trimTo } = { ...REFRESH_TOKEN_CAP, trimTo: REFRESH_TOKEN_CAP.trimTo! };
      // Names that begin with their issue time, as grantTokenIds makes them; random parts in the opposite order.
      const issued = (i: number) => `${(1_800_000_000_000 + i).toString(36).padStart(9, '0')}${String.fromCharCode(122 - (i % 26))}tail`;
      const chains = Array.from({ length: max + 1 }, (_, i) => sealed('gs8', issued(i), 3600));
      for (const chain of chains) {
        await withRecordCache(async () => {
          await rt.upsert(chain.id, chain.payload, 3600);
          await settleWrites(true);
        });
      }
      const kept = (await members('gs8')).filter((f) => f.startsWith('RT:'));
      // The first issued went; the newest stay.
      expect(kept).toEqual(chains.slice(max + 1 - trimTo).map((c) => c.field));
      expect(await rt.find(chains[0]!.id)).toBeUndefined();
      // A token issued after the last trimmed one, spent (rotated) and then presented again, is a replay.
      const victim = chains[max - 5]!;
      await rt.consume(victim.id);
      expect((await rt.find(victim.id))?.consumed).toBeGreaterThan(0);
    });

    it('opens a seal made with an older cookie key, so that rotating the keys keeps recognising tokens already out', async () => {
      await grant('gs5');
      const before = sealed('gs5', 'before', 600);
      const rotated = new StoreAdapter(t.store, 'RefreshToken', createRefreshSeal(['a new cookie key, also thirty-two characters long', 'a cookie key of at least thirty-two characters']));
      await rotated.upsert(before.id, before.payload, 600);
      await rotated.consume(before.id);
      expect(await members('gs5')).toEqual(['G']);
      expect((await rotated.find(before.id))?.consumed).toBeGreaterThan(0);
    });
  });

  it('settles a deferred consume at the end of a request that succeeded, and drops it when the request failed', async () => {
    await grant('g5');
    const rt = adapter('RefreshToken');
    await rt.upsert('g5.a', token('g5', 'a', 600), 600);
    await rt.upsert('g5.b', token('g5', 'b', 600), 600);
    await withRecordCache(async () => {
      await rt.consume('g5.a');
      expect((await rt.find('g5.a'))?.consumed).toBeUndefined();
      await settleWrites(true);
    });
    expect((await rt.find('g5.a'))?.consumed).toBeGreaterThan(0);
    await withRecordCache(async () => {
      await rt.consume('g5.b');
      await settleWrites(false);
    });
    expect((await rt.find('g5.b'))?.consumed).toBeUndefined();
    // A deferred consume that another consume beat fails the request.
    const lost = withRecordCache(async () => {
      await rt.consume('g5.b');
      await rt.consume('g5.b'); // the second one in a request is done at once
      await settleWrites(true);
    });
    await expect(lost).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('writes at once what a request saves after its writes were settled', async () => {
    await grant('g9');
    const at = adapter('AccessToken');
    const counted: string[] = [];
    await withRecordCache(async () => {
      await settleWrites(true);
      await at.upsert('g9.late', token('g9', 'late', 60), 60);
      expect(await at.find('g9.late')).toMatchObject({ jti: 'g9.late' });
      afterWrites(() => counted.push('late'));
      expect(counted).toEqual(['late']);
      await settleWrites(true); // a second settle has nothing left to do
    });
    expect(await at.find('g9.late')).toMatchObject({ jti: 'g9.late' });
  });

  it('within a request, writes its tokens into their grant together at its end, and only when it succeeded', async () => {
    await grant('g6');
    const at = adapter('AccessToken');
    const rt = adapter('RefreshToken');
    const counted: string[] = [];
    await withRecordCache(async () => {
      await at.upsert('g6.at', token('g6', 'at', 60), 60);
      await rt.upsert('g6.rt', token('g6', 'rt', 600), 600);
      afterWrites(() => counted.push('issued'));
      expect(await at.find('g6.at')).toBeUndefined();
      expect(counted).toEqual([]);
      await settleWrites(true);
    });
    expect(await at.find('g6.at')).toMatchObject({ jti: 'g6.at', grantId: 'g6' });
    expect(await rt.find('g6.rt')).toMatchObject({ jti: 'g6.rt', grantId: 'g6' });
    expect(counted).toEqual(['issued']);
    // The hash lives as long as its longest-lived token.
    expect(await t.store.ttl(oidcKeys.grant('g6'))).toBeGreaterThan(590);

    await withRecordCache(async () => {
      await at.upsert('g6.failed', token('g6', 'failed', 60), 60);
      afterWrites(() => counted.push('failed'));
      await settleWrites(false);
    });
    expect(await at.find('g6.failed')).toBeUndefined();
    expect(counted).toEqual(['issued']);
  });

  it('within a request, redeems a code with the write of the tokens it is exchanged for, and not when the request failed', async () => {
    const codes = adapter('AuthorizationCode');
    const at = adapter('AccessToken');
    for (const succeeded of [true, false]) {
      const g = `g8${succeeded}`;
      await grant(g);
      await codes.upsert(`${g}.code`, { jti: `${g}.code`, grantId: g }, 60);
      await withRecordCache(async () => {
        await codes.consume(`${g}.code`);
        await at.upsert(`${g}.at`, token(g, 'at', 60), 60);
        await settleWrites(succeeded);
      });
      const fields = Object.keys((await t.store.hgetall(oidcKeys.grant(g))) ?? {}).sort();
      expect(fields).toEqual(succeeded ? ['AT:at', 'G'] : [`AC:${g}.code`, 'G']);
      // Redeemed: found as consumed (a replay then revokes the grant). Not redeemed: still usable.
      const found = await codes.find(`${g}.code`);
      if (succeeded) expect(found?.consumed).toBeGreaterThan(0);
      else expect([found?.jti, found?.consumed]).toEqual([`${g}.code`, undefined]);
    }
  });

  it('refuses the tokens of a code exchange when the grant’s tokens and codes were revoked while it ran, and revokes the grant', async () => {
    await grant('g10');
    const codes = adapter('AuthorizationCode');
    const at = adapter('AccessToken');
    await codes.upsert('g10.code', { jti: 'g10.code', grantId: 'g10' }, 60);
    const exchange = withRecordCache(async () => {
      await codes.consume('g10.code');
      await at.upsert('g10.at', token('g10', 'at', 60), 60);
      // The revocation endpoint, revoking another token of this grant: every token and code goes.
      await Promise.all(['AccessToken', 'RefreshToken', 'AuthorizationCode'].map((model) => adapter(model).revokeByGrantId('g10')));
      await settleWrites(true);
    });
    await expect(exchange).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await t.store.ttl(oidcKeys.grant('g10'))).toBe(-2);
  });

  it('gives tokens to one of two redemptions of a code that overlap, and then revokes the grant as for a replay', async () => {
    await grant('g11');
    const codes = adapter('AuthorizationCode');
    const at = adapter('AccessToken');
    await codes.upsert('g11.code', { jti: 'g11.code', grantId: 'g11' }, 60);
    let bothFound!: () => void;
    const found = new Promise<void>((resolve) => (bothFound = resolve));
    let finds = 0;
    const redeem = (n: string) =>
      withRecordCache(async () => {
        expect((await codes.find('g11.code'))?.consumed).toBeUndefined();
        if ((finds += 1) === 2) bothFound();
        await found; // both have found the code unredeemed before either writes
        await codes.consume('g11.code');
        await at.upsert(`g11.${n}`, token('g11', n, 60), 60);
        await settleWrites(true);
      });
    const results = await Promise.allSettled([redeem('a'), redeem('b')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(errors.InvalidGrant);
    // The winner's tokens go with the grant.
    expect(await t.store.ttl(oidcKeys.grant('g11'))).toBe(-2);
    expect(await at.find('g11.a')).toBeUndefined();
    expect(await at.find('g11.b')).toBeUndefined();
  });

  it('keeps a code’s index entry past the code’s expiry, so that a process whose clock is ahead cannot make it look redeemed', async () => {
    await grant('g12');
    const codes = adapter('AuthorizationCode');
    await codes.upsert('g12.code', { jti: 'g12.code', grantId: 'g12' }, 60);
    // Another process writes into the grant, its clock 20 s ahead of the code's expiry.
    await t.store.hsetRecords(oidcKeys.grant('g12'), { 'AT:other': UNCONSUMED_RECORD(epoch() + 3600) }, { ttl: 3600, requires: 'G', now: epoch() + 80 });
    expect((await codes.find('g12.code'))?.consumed).toBeUndefined();
  });

  it('refuses, at the end of a request, the tokens of a grant revoked while it ran', async () => {
    await grant('g7');
    const at = adapter('AccessToken');
    let ran = false;
    const request = withRecordCache(async () => {
      await at.upsert('g7.at', token('g7', 'at', 60), 60);
      afterWrites(() => (ran = true));
      await adapter('Grant').destroy('g7');
      await settleWrites(true);
    });
    await expect(request).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(ran).toBe(false);
    expect(await t.store.ttl(oidcKeys.grant('g7'))).toBe(-2);
  });

  it('does not write a record saved after its expiry (it would never expire), nor bring back one that is gone', async () => {
    const interactions = adapter('Interaction');
    const key = oidcKeys.record('Interaction', 'late');
    await interactions.upsert('late', { jti: 'late', kind: 'Interaction', exp: epoch() + 1 }, 1);
    await t.store.del(key); // expired (or destroyed) meanwhile
    for (const expiresIn of [0, -3]) {
      await interactions.upsert('late', { jti: 'late', kind: 'Interaction', exp: epoch() + expiresIn, result: { login: { accountId: 'a' } } }, expiresIn);
      expect(await t.store.ttl(key)).toBe(-2);
      expect(await interactions.find('late')).toBeUndefined();
    }
  });

  it('does not create a record when consuming a missing one', async () => {
    await expect(adapter('RefreshToken').consume('ghost.r')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await t.store.ttl(oidcKeys.grant('ghost'))).toBe(-2);
    await expect(adapter('AuthorizationCode').consume('ghost.c')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await t.store.ttl(oidcKeys.record('AuthorizationCode', 'ghost.c'))).toBe(-2);
  });

  it('revokes every token of a grant, model by model, and nothing else', async () => {
    await grant('G');
    await grant('H');
    const at = adapter('AccessToken');
    const rt = adapter('RefreshToken');
    const ac = adapter('AuthorizationCode');
    await at.upsert('G.at1', token('G', 'at1', 60), 60);
    await at.upsert('G.at2', token('G', 'at2', 60), 60);
    await rt.upsert('G.rt1', token('G', 'rt1', 600), 600);
    await ac.upsert('G.c', { jti: 'G.c', grantId: 'G' }, 60);
    await at.upsert('H.other', token('H', 'other', 60), 60);

    await at.revokeByGrantId('G');
    expect(await at.find('G.at1')).toBeUndefined();
    expect(await at.find('G.at2')).toBeUndefined();
    expect(await rt.find('G.rt1')).toBeDefined(); // only this model's records
    expect(await ac.find('G.c')).toBeDefined();
    expect(await at.find('H.other')).toBeDefined();

    await rt.revokeByGrantId('G');
    expect(await rt.find('G.rt1')).toBeUndefined();
    await ac.revokeByGrantId('G');
    expect(await ac.find('G.c')).toBeUndefined();
    expect(Object.keys((await t.store.hgetall(oidcKeys.grant('G'))) ?? {})).toEqual(['G']);
  });

  it('deletes a grant with its tokens and codes', async () => {
    await grant('D');
    await adapter('AccessToken').upsert('D.a', token('D', 'a', 60), 60);
    await adapter('RefreshToken').upsert('D.r', token('D', 'r', 600), 600);
    await adapter('AuthorizationCode').upsert('D.c', { jti: 'D.c', grantId: 'D' }, 60);
    await adapter('Grant').destroy('D');
    expect(await adapter('Grant').find('D')).toBeUndefined();
    expect(await adapter('AccessToken').find('D.a')).toBeUndefined();
    expect(await adapter('RefreshToken').find('D.r')).toBeUndefined();
    expect(await adapter('AuthorizationCode').find('D.c')).toBeUndefined();
    expect(await t.store.ttl(oidcKeys.grant('D'))).toBe(-2);
  });

  it('keeps the grant alive as long as its longest-lived member', async () => {
    await grant('L', 100);
    const at = adapter('AccessToken');
    const rt = adapter('RefreshToken');
    await rt.upsert('L.long', token('L', 'long', 3000), 3000);
    await at.upsert('L.shortlived', token('L', 'shortlived', 60), 60);
    expect(await t.store.ttl(oidcKeys.grant('L'))).toBeGreaterThan(2990);
    // A refresh token saved twice is kept once.
    await rt.upsert('L.long', token('L', 'long', 3000), 3000);
    expect(Object.keys((await t.store.hgetall(oidcKeys.grant('L'))) ?? {}).sort()).toEqual(['AT:shortlived', 'G', 'RT:long']);
  });

  it('keeps a token whose id does not name its grant under its own key, indexed in the grant', async () => {
    await grant('P');
    const at = adapter('AccessToken');
    await at.upsert('plain', { jti: 'plain', grantId: 'P' }, 60);
    expect(await at.find('plain')).toEqual({ jti: 'plain', grantId: 'P', kind: 'AccessToken' });
    await at.revokeByGrantId('P');
    expect(await at.find('plain')).toBeUndefined();
  });

  it('saves a grant found in this request back only while it exists: a revocation in between stays', async () => {
    await grant('R');
    const grants = adapter('Grant');
    await withRecordCache(async () => {
      const found = await grants.find('R');
      expect(found?.accountId).toBe('acc');
      await withRecordCache(() => grants.destroy('R')); // another request revokes it
      await expect(grants.upsert('R', found!, 600)).rejects.toBeInstanceOf(GrantRevoked);
    });
    expect(await t.store.ttl(oidcKeys.grant('R'))).toBe(-2);
    // A grant nobody found in this request (a new one) is written as it is.
    await withRecordCache(() => grants.upsert('R2', { jti: 'R2', accountId: 'acc', clientId: 'app' }, 600));
    expect((await grants.find('R2'))?.clientId).toBe('app');
  });

  it('reads the grant of a code along with the code, so redeeming it needs no second read', async () => {
    await grant('GC');
    await adapter('AuthorizationCode').upsert('GC.c', { jti: 'GC.c', grantId: 'GC' }, 60);
    const reads: string[] = [];
    const counted = recordingStore(reads);
    await withRecordCache(async () => {
      expect((await new StoreAdapter(counted, 'AuthorizationCode').find('GC.c'))?.grantId).toBe('GC');
      const before = reads.length;
      expect((await new StoreAdapter(counted, 'Grant').find('GC'))?.accountId).toBe('acc');
      expect(reads.length).toBe(before);
    });
  });

  it('saves an interaction this request found back only while it exists: one ended meanwhile stays gone', async () => {
    const interactions = adapter('Interaction');
    const form = { jti: 'if1', kind: 'Interaction', returnTo: 'https://atrium.test/auth/if1' };
    const result = { login: { accountId: 'acc' } };
    await interactions.upsert('if1', form, 60);
    await withRecordCache(async () => {
      expect(await interactions.find('if1')).toEqual(form);
      await withRecordCache(() => interactions.destroy('if1')); // another request resumes it, and ends it
      await expect(interactions.upsert('if1', { ...form, result }, 50)).rejects.toThrow(errors.SessionNotFound);
    });
    expect(await t.store.get(oidcKeys.record('Interaction', 'if1'))).toBeUndefined();

    // Found and still there: saved, with the lifetime it has left.
    await interactions.upsert('if2', { ...form, jti: 'if2' }, 60);
    await withRecordCache(async () => {
      await interactions.find('if2');
      await interactions.upsert('if2', { ...form, jti: 'if2', result }, 30);
    });
    expect((await interactions.find('if2'))?.result).toEqual(result);
    expect(await t.store.ttl(oidcKeys.record('Interaction', 'if2'))).toBeLessThanOrEqual(30);

    // Not found by this request (a new interaction, or one this request ended and starts again):
    // written as it is.
    await withRecordCache(async () => {
      await interactions.upsert('if3', { ...form, jti: 'if3' }, 60);
      await interactions.find('if2');
      await interactions.destroy('if2');
      await interactions.upsert('if2', { ...form, jti: 'if2' }, 60);
    });
    expect(await interactions.find('if3')).toBeDefined();
    expect(await interactions.find('if2')).toBeDefined();
  });

  it('saves a session this request found back only while it exists: one ended or replaced meanwhile stays gone', async () => {
    const sessions = adapter('Session');
    const session = { jti: 'sf1', kind: 'Session', uid: 'SF', accountId: 'sf-acc', loginTs: epoch() };
    /** Another request signs the account out everywhere (its session, by uid, whatever its id now). */
    const signedOutElsewhere = () => withRecordCache(async () => sessions.destroy(String((await sessions.findByUid('SF'))!.jti)));
    /** The session is gone under `id`, by uid and from its account's index. */
    const expectEnded = async (id: string) => {
      expect(await sessions.find(id)).toBeUndefined();
      expect(await sessions.findByUid('SF')).toBeUndefined();
      expect(await t.store.hgetall(oidcKeys.accountSessions('sf-acc'))).toBeUndefined();
    };
    await sessions.upsert('sf1', session, 600);
    await withRecordCache(async () => {
      expect((await sessions.find('sf1'))?.uid).toBe('SF');
      // Another request signs the account out everywhere meanwhile.
      expect(Object.keys((await t.store.hgetall(oidcKeys.accountSessions('sf-acc'))) ?? {})).toEqual(['SF']);
      await signedOutElsewhere();
      await sessions.upsert('sf1', session, 600); // this request's save, at its end
    });
    await expectEnded('sf1');

    // Replaced by a new id at sign-in meanwhile: the old id does not come back, nor does the uid
    // lead to it.
    await sessions.upsert('sf2', { ...session, jti: 'sf2' }, 600);
    await withRecordCache(async () => {
      await sessions.find('sf2');
      await withRecordCache(async () => {
        await sessions.upsert('sf3', { ...session, jti: 'sf3' }, 600);
        await sessions.destroy('sf2');
      });
      await sessions.upsert('sf2', { ...session, jti: 'sf2' }, 600);
    });
    expect(await sessions.find('sf2')).toBeUndefined();
    expect((await sessions.findByUid('SF'))?.jti).toBe('sf3');

    // Replaced while this request saves it back: a sign-in (oidc-provider's resetIdentifier)
    // destroys the old id and writes the new one right after this request's save of the old id
    // succeeded, before this request writes its uid index. That index stays with the new id, so the
    // live session stays reachable by uid (to end it).
    const rotating: Store = {
      ...t.store,
      async set(key, value, options) {
        const written = await t.store.set(key, value, options);
        if (key === oidcKeys.record('Session', 'sf3') && options?.ifPresent) {
          await withRecordCache(async () => {
            await sessions.destroy('sf3');
            await sessions.upsert('sf4', { ...session, jti: 'sf4' }, 600);
          });
        }
        return written;
      },
    };
    await withRecordCache(async () => {
      const stale = new StoreAdapter(rotating, 'Session');
      await stale.find('sf3');
      await stale.upsert('sf3', { ...session, jti: 'sf3' }, 600);
    });
    expect((await sessions.findByUid('SF'))?.jti).toBe('sf4');
    expect(Object.keys((await t.store.hgetall(oidcKeys.accountSessions('sf-acc'))) ?? {})).toEqual(['SF']);
    await sessions.destroy('sf4');
    await sessions.upsert('sf3', { ...session, jti: 'sf3' }, 600);

    // Ended by another request while this one moves it to a new id (oidc-provider's resetIdentifier
    // at a resume or a one-app logout: destroy the old id, save the new one): the new id does not
    // bring it back.
    await withRecordCache(async () => {
      await sessions.find('sf3');
      await signedOutElsewhere();
      await sessions.destroy('sf3');
      await sessions.upsert('sf5', { ...session, jti: 'sf5' }, 600);
    });
    await expectEnded('sf5');
    // Moved to a new id with nobody ending it: the new id is the session.
    await sessions.upsert('sf3', { ...session, jti: 'sf3' }, 600);
    await withRecordCache(async () => {
      await sessions.find('sf3');
      await sessions.destroy('sf3');
      await sessions.upsert('sf6', { ...session, jti: 'sf6' }, 600);
    });
    expect((await sessions.findByUid('SF'))?.jti).toBe('sf6');
    await sessions.destroy('sf6');
    await sessions.upsert('sf3', { ...session, jti: 'sf3' }, 600);

    // Found and still there: saved, with its new lifetime.
    await withRecordCache(async () => {
      await sessions.find('sf3');
      await sessions.upsert('sf3', { ...session, jti: 'sf3', exp: epoch() + 900 }, 900);
    });
    expect(await t.store.ttl(oidcKeys.record('Session', 'sf3'))).toBeGreaterThan(600);
  });

  it('drops an account’s sessions that ended on their own from its index at its next sign-in, never a live one', async () => {
    const sessions = adapter('Session');
    const index = oidcKeys.accountSessions('pr-acc');
    const uids = async () => Object.keys((await t.store.hgetall(index)) ?? {}).sort();
    const session = (n: number) => ({ jti: `pr${n}`, kind: 'Session', uid: `PR${n}`, accountId: 'pr-acc', loginTs: epoch() });
    for (const n of [1, 2, 3]) await sessions.upsert(`pr${n}`, session(n), 600);
    // Two idle out: their records and uid indexes expire; the account's index still names them.
    for (const n of [1, 2]) await t.store.del(oidcKeys.record('Session', `pr${n}`), oidcKeys.sessionUid(`PR${n}`));
    expect(await uids()).toEqual(['PR1', 'PR2', 'PR3']);
    // Saved again (activity) is no sign-in: nothing pruned.
    await withRecordCache(async () => {
      await sessions.find('pr3');
      await sessions.upsert('pr3', session(3), 600);
    });
    expect(await uids()).toEqual(['PR1', 'PR2', 'PR3']);
    await sessions.upsert('pr4', session(4), 600); // a sign-in
    expect(await uids()).toEqual(['PR3', 'PR4']);
    expect(await t.store.ttl(index)).toBeGreaterThan(590);

    // A session that moves to a new id (a sign-in in its browser) while the index is pruned: the
    // pruner reads the account's index, then the old id is destroyed (with its uid index and entry),
    // then the pruner finds no uid index, then the new id is written (uid index, entry), then the
    // pruner deletes the entry. It comes back.
    let looked = false;
    const racing: Store = {
      ...t.store,
      async hgetall(key) {
        const found = await t.store.hgetall(key);
        if (key === index) await withRecordCache(() => sessions.destroy('pr3'));
        return found;
      },
      async getMany(keys) {
        const found = await t.store.getMany(keys);
        if (!looked && keys.includes(oidcKeys.sessionUid('PR3'))) {
          looked = true;
          await withRecordCache(() => sessions.upsert('pr3b', { ...session(3), jti: 'pr3b' }, 600));
        }
        return found;
      },
    };
    await new StoreAdapter(racing, 'Session').upsert('pr5', session(5), 600);
    expect(looked).toBe(true);
    expect(await uids()).toEqual(['PR3', 'PR4', 'PR5']);
    expect((await sessions.findByUid('PR3'))?.jti).toBe('pr3b');
    for (const id of ['pr3b', 'pr4', 'pr5']) await sessions.destroy(id);
    expect(await t.store.hgetall(index)).toBeUndefined();
  });

  it('indexes an app’s grants by the period they expire in, drops a destroyed one at once, and keeps no period past its grants', async () => {
    const grants = adapter('Grant');
    const soon = { jti: 'cgA', kind: 'Grant', accountId: 'acc', clientId: 'cg-app', exp: epoch() + 3600 };
    const later = { jti: 'cgB', kind: 'Grant', accountId: 'acc', clientId: 'cg-app', exp: epoch() + 200 * 86_400 };
    await grants.upsert('cgA', soon, 3600);
    await grants.upsert('cgB', later, 200 * 86_400);
    await t.store.hset('o:cg:cg-app', { cgOld: '' }); // the layout before periods
    expect((await clientGrantIds(t.store, 'cg-app')).sort()).toEqual(['cgA', 'cgB', 'cgOld']);
    // Each period's index lives until that period ends, when all its grants have expired.
    const periodEnd = (exp: number) => (Math.floor(exp / (30 * 86_400)) + 1) * 30 * 86_400;
    const keyOf = (exp: number) => oidcKeys.clientGrants('cg-app', Math.floor(exp / (30 * 86_400)));
    for (const grant of [soon, later]) {
      const ttl = await t.store.ttl(keyOf(grant.exp));
      expect(ttl).toBeGreaterThanOrEqual(grant.exp - epoch());
      expect(ttl).toBeLessThanOrEqual(periodEnd(grant.exp) - epoch() + 1);
    }
    await grants.destroy('cgA');
    expect((await clientGrantIds(t.store, 'cg-app')).sort()).toEqual(['cgB', 'cgOld']);
    await t.store.del(...clientGrantKeys('cg-app'));
    expect(await clientGrantIds(t.store, 'cg-app')).toEqual([]);
  });

  it('takes a record of the previous layout (10-digit header) as not found', async () => {
    await t.store.set(oidcKeys.record('Session', 'old'), '0000000000{"iat":1795927847,"uid":"u"}', { ttl: 60 });
    expect(await adapter('Session').find('old')).toBeUndefined();
    await t.store.set(oidcKeys.record('AuthorizationCode', 'oldcode'), '0000000000{"exp":1795927847}', { ttl: 60 });
    expect(await adapter('AuthorizationCode').find('oldcode')).toBeUndefined();
  });

  it('finds a session by uid, following its newest id', async () => {
    const sessions = adapter('Session');
    await sessions.upsert('s-old', { jti: 's-old', uid: 'U1', accountId: 'a' }, 600);
    await sessions.upsert('s-new', { jti: 's-new', uid: 'U1', accountId: 'a' }, 600);
    expect((await sessions.findByUid('U1'))?.jti).toBe('s-new');
    // Destroying the old id must not unlink the new one.
    await sessions.destroy('s-old');
    expect((await sessions.findByUid('U1'))?.jti).toBe('s-new');
    await sessions.destroy('s-new');
    expect(await sessions.findByUid('U1')).toBeUndefined();
    expect(await t.store.get(oidcKeys.sessionUid('U1'))).toBeUndefined();
  });
});

describe('the compact record encoding', () => {
  const payload = {
    iat: 1795927847,
    exp: 1798519847,
    accountId: 'acc',
    amr: ['pwd'],
    authTime: 1795927847,
    authorizations: { app: { sid: 's', grantId: 'g' } },
    clientId: 'app',
    codeChallenge: 'cc',
    codeChallengeMethod: 'S256',
    expiresWithSession: false,
    grantId: 'g',
    loginTs: 1,
    redirectUri: 'https://app.test/cb',
    resource: 'https://api.test',
    rotations: 2,
    scope: 'openid',
    sessionUid: 'u',
    extra: { tenant_id: 't', accountId: 'nested names stay' },
    jti: 'id1',
    kind: 'RefreshToken',
  };

  it('gives back exactly what was stored, with jti, kind and exp restored', () => {
    const stored = encodeRecord('RefreshToken', 'id1', payload);
    expect(stored.startsWith('00000000001798519847{')).toBe(true);
    expect(stored).not.toContain('id1');
    expect(stored).not.toContain('"exp"');
    expect(stored).not.toContain('accountId":"acc');
    expect(decodeRecord('RefreshToken', 'id1', stored)).toEqual(payload);
  });

  it('leaves out the fields it is told to, and restores them from elsewhere', () => {
    const stored = encodeRecord('RefreshToken', 'id1', payload, ['grantId', 'accountId', 'clientId']);
    expect(stored).not.toContain('"A"');
    expect(decodeRecord('RefreshToken', 'id1', stored, { grantId: 'g', accountId: 'acc', clientId: 'app' })).toEqual(payload);
  });

  it('keeps jti, kind and an exp that is not an epoch second as they are', () => {
    const odd = { jti: 'other', kind: 'Other', grantId: 'g', exp: 1.5 };
    expect(decodeRecord('AccessToken', 'id2', encodeRecord('AccessToken', 'id2', odd))).toEqual(odd);
  });

  it('refuses a payload field that would read back as another', () => {
    expect(() => encodeRecord('AccessToken', 'x', { jti: 'x', G: 'clash' } as never)).toThrow(/clashes/);
    expect(() => encodeRecord('Session', 'x', { jti: 'x', authorizations: { app: { g: 'clash' } } } as never)).toThrow(/clashes/);
  });

  it('shortens the names inside the authorizations of a session, and reads them back', () => {
    const session = { jti: 's1', kind: 'Session', uid: 'u', authorizations: { app: { sid: 'x', grantId: 'g', persistsLogout: true, other: 1 } } };
    const stored = encodeRecord('Session', 's1', session);
    expect(stored).not.toContain('persistsLogout');
    expect(stored).not.toContain('grantId');
    expect(decodeRecord('Session', 's1', stored)).toEqual(session);
  });

  it('reads the consumed header as the epoch second', () => {
    const stored = encodeRecord('AuthorizationCode', 'c', { jti: 'c', kind: 'AuthorizationCode' });
    expect(decodeRecord('AuthorizationCode', 'c', '1795927847' + stored.slice(10)).consumed).toBe(1795927847);
  });
});

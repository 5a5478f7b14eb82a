import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from 'oidc-provider';
import { StoreAdapter } from '../../src/oidc/adapter.js';
import { ALL_TOPOLOGIES, openTestStore, type TestStore } from '../helpers/stores.js';

describe.each(ALL_TOPOLOGIES)('oidc-provider adapter on the %s store', (driver) => {
  let t: TestStore;
  const adapter = (model: string) => new StoreAdapter(t.store, model);
  beforeAll(async () => {
    t = await openTestStore(driver);
  });
  afterAll(() => t.dispose());

  it('stores a payload for its TTL and finds it', async () => {
    const codes = adapter('AuthorizationCode');
    await codes.upsert('c1', { jti: 'c1', grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    expect(await codes.find('c1')).toEqual({ jti: 'c1', grantId: 'g1', kind: 'AuthorizationCode' });
    expect(await t.store.ttl('oidc:AuthorizationCode:c1')).toBeLessThanOrEqual(60);
    expect(await codes.find('missing')).toBeUndefined();
  });

  it('keeps a record without TTL when expiresIn is undefined', async () => {
    const grants = adapter('Grant');
    await grants.upsert('g-forever', { jti: 'g-forever' }, undefined);
    expect(await t.store.ttl('oidc:Grant:g-forever')).toBe(-1);
  });

  it('forgets an expired record at once', async () => {
    const tokens = adapter('AccessToken');
    await tokens.upsert('short', { jti: 'short', grantId: 'gs' }, 0.2);
    await sleep(300);
    expect(await tokens.find('short')).toBeUndefined();
  });

  it('marks a record consumed without deleting it, for exactly one caller', async () => {
    const codes = adapter('AuthorizationCode');
    await codes.upsert('once', { jti: 'once', grantId: 'g2' }, 60);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('once')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
      expect(r.reason).toBeInstanceOf(errors.InvalidGrant);
    }
    const found = await codes.find('once');
    expect(found?.jti).toBe('once');
    expect(typeof found?.consumed).toBe('number');
  });

  it('does not create a record when consuming a missing one', async () => {
    await expect(adapter('RefreshToken').consume('ghost')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await t.store.ttl('oidc:RefreshToken:ghost')).toBe(-2);
  });

  it('revokes every token of a grant, model by model, and nothing else', async () => {
    const at = adapter('AccessToken');
    const rt = adapter('RefreshToken');
    await at.upsert('at1', { jti: 'at1', grantId: 'G' }, 60);
    await at.upsert('at2', { jti: 'at2', grantId: 'G' }, 60);
    await rt.upsert('rt1', { jti: 'rt1', grantId: 'G' }, 600);
    await at.upsert('other', { jti: 'other', grantId: 'H' }, 60);

    await at.revokeByGrantId('G');
    expect(await at.find('at1')).toBeUndefined();
    expect(await at.find('at2')).toBeUndefined();
    expect(await rt.find('rt1')).toBeDefined(); // only this model's records
    expect(await at.find('other')).toBeDefined();

    await rt.revokeByGrantId('G');
    expect(await rt.find('rt1')).toBeUndefined();
  });

  it('keeps the grant index alive as long as its longest-lived member', async () => {
    const at = adapter('AccessToken');
    const rt = adapter('RefreshToken');
    await rt.upsert('long', { jti: 'long', grantId: 'L' }, 3000);
    await at.upsert('shortlived', { jti: 'shortlived', grantId: 'L' }, 60);
    expect(await t.store.ttl('oidc:grant:L')).toBeGreaterThan(2990);
    // A rotated refresh token added twice is indexed once (the index is a set).
    await rt.upsert('long', { jti: 'long', grantId: 'L' }, 3000);
    expect((await t.store.smembers('oidc:grant:L')).sort()).toEqual(['AccessToken:shortlived', 'RefreshToken:long']);
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
    expect(await t.store.get('oidc:session-uid:U1')).toBeUndefined();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from 'oidc-provider';
import { StoreAdapter, decodeRecord, encodeRecord, oidcKeys } from '../../src/oidc/adapter.js';
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
    expect(await t.store.ttl(oidcKeys.record('AuthorizationCode', 'c1'))).toBeLessThanOrEqual(60);
    expect(await codes.find('missing')).toBeUndefined();
  });

  it('keeps a record without TTL when expiresIn is undefined', async () => {
    const grants = adapter('Grant');
    await grants.upsert('g-forever', { jti: 'g-forever' }, undefined);
    expect(await t.store.ttl(oidcKeys.record('Grant', 'g-forever'))).toBe(-1);
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
    expect(found?.consumed).toBeGreaterThan(Date.now() / 1000 - 5);
    expect(found?.consumed).toBeLessThanOrEqual(Date.now() / 1000);
    expect(found?.grantId).toBe('g2');
  });

  it('does not create a record when consuming a missing one', async () => {
    await expect(adapter('RefreshToken').consume('ghost')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await t.store.ttl(oidcKeys.record('RefreshToken', 'ghost'))).toBe(-2);
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
    expect(await t.store.ttl(oidcKeys.grant('L'))).toBeGreaterThan(2990);
    // A rotated refresh token added twice is indexed once.
    await rt.upsert('long', { jti: 'long', grantId: 'L' }, 3000);
    expect(Object.keys((await t.store.hgetall(oidcKeys.grant('L'))) ?? {}).sort()).toEqual(['AT:shortlived', 'RT:long']);
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

  it('gives back exactly what was stored, with jti and kind restored', () => {
    const stored = encodeRecord('RefreshToken', 'id1', payload);
    expect(stored.startsWith('0000000000{')).toBe(true);
    expect(stored).not.toContain('id1');
    expect(stored).not.toContain('accountId":"acc');
    expect(decodeRecord('RefreshToken', 'id1', stored)).toEqual(payload);
  });

  it('keeps jti and kind that differ from the id and model', () => {
    const odd = { jti: 'other', kind: 'Other', grantId: 'g' };
    expect(decodeRecord('AccessToken', 'id2', encodeRecord('AccessToken', 'id2', odd))).toEqual(odd);
  });

  it('refuses a payload field that would read back as another', () => {
    expect(() => encodeRecord('AccessToken', 'x', { jti: 'x', G: 'clash' } as never)).toThrow(/clashes/);
  });

  it('reads the consumed header as the epoch second', () => {
    const stored = encodeRecord('AuthorizationCode', 'c', { jti: 'c', kind: 'AuthorizationCode' });
    expect(decodeRecord('AuthorizationCode', 'c', '1795927847' + stored.slice(10)).consumed).toBe(1795927847);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAudit } from '../../src/directory/audit.js';
import { DRIVERS, openTestStore, type TestStore } from '../helpers/stores.js';

describe.each(DRIVERS)('the audit trail on the %s store', (driver) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(driver);
  });
  afterAll(() => t.dispose());

  it('gives back each event whole, while storing only what its key and field do not say', async () => {
    const audit = createAudit(t.store, { retentionDays: 1 });
    const event = await audit.record({ type: 'signin.success', tenantId: 'ten1', userId: 'u1', clientId: 'c1', ip: '192.0.2.1' });
    expect(event.id).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{8}$/);
    expect(event.id.startsWith(event.at)).toBe(true);

    const day = event.at.slice(0, 10);
    expect(await audit.ofDay('ten1', day)).toEqual([event]);
    const stored = (await t.store.hgetall(`audit:ten1:${day}`)) ?? {};
    expect(Object.keys(stored)).toEqual([event.id.slice(10)]);
    expect(JSON.parse(Object.values(stored)[0]!)).toEqual(['signin.success', 'u1', 'c1', '192.0.2.1']);
    expect(await t.store.ttl(`audit:ten1:${day}`)).toBeGreaterThan(86_000);
  });

  it('keeps what an event leaves out absent, and its detail whole', async () => {
    const audit = createAudit(t.store, { retentionDays: 1 });
    const change = await audit.record({ type: 'app.update', tenantId: 'ten3', ip: '192.0.2.2', detail: { before: 'a', after: null, n: 2 } });
    const bare = await audit.record({ type: 'logout', tenantId: 'ten3' });
    const events = await audit.ofDay('ten3', change.at.slice(0, 10));
    expect(events).toEqual([change, bare].sort((a, b) => a.id.localeCompare(b.id)));
    expect(events.find((e) => e.id === bare.id)).not.toHaveProperty('userId');
    const stored = (await t.store.hgetall(`audit:ten3:${change.at.slice(0, 10)}`)) ?? {};
    expect(stored[bare.id.slice(10)]).toBe('["logout"]');
  });

  it('still reads events stored whole, under their full id', async () => {
    const audit = createAudit(t.store, { retentionDays: 1 });
    const old = { id: '2026-01-02T03:04:05.678Z-0123abcd', at: '2026-01-02T03:04:05.678Z', type: 'user.create', tenantId: 'ten2', detail: { username: 'bob' } };
    await t.store.hset('audit:ten2:2026-01-02', { [old.id]: JSON.stringify(old) });
    const fresh = { id: '2026-01-02T05:00:00.000Z-ffffffff', at: '2026-01-02T05:00:00.000Z', type: 'user.delete', tenantId: 'ten2' };
    await t.store.hset('audit:ten2:2026-01-02', { 'T05:00:00.000Z-ffffffff': JSON.stringify({ type: 'user.delete' }) });
    expect(await audit.ofDay('ten2', '2026-01-02')).toEqual([old, fresh]);
    const found = await audit.query('ten2', { from: new Date('2026-01-02T04:00:00Z'), to: new Date('2026-01-02T06:00:00Z') });
    expect(found).toEqual([fresh]);
  });

  it('refuses a range longer than 31 days, or one that ends before it starts, instead of leaving out its newest events', async () => {
    const audit = createAudit(t.store, { retentionDays: 1 });
    const event = await audit.record({ type: 'signin.success', tenantId: 'ten5' });
    const now = new Date(Date.parse(event.at) + 1000);
    const days = (n: number) => new Date(now.getTime() - n * 86_400_000);
    await expect(audit.query('ten5', { from: days(90), to: now })).rejects.toMatchObject({ status: 400, message: 'to: at most 31 days after from' });
    await expect(audit.query('ten5', { from: now, to: days(1) })).rejects.toMatchObject({ status: 400, message: 'from: must not be after to' });
    expect(await audit.query('ten5', { from: days(31), to: now })).toEqual([event]);
  });

  it('adds token counts up in memory and writes them in one go, and a process reads its own at once', async () => {
    let increments = 0;
    const counted = new Proxy(t.store, {
      get(target, property, receiver) {
        if (property === 'incr') increments += 1;
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const audit = createAudit(counted, { retentionDays: 1 });
    const today = new Date().toISOString().slice(0, 10);
    for (let i = 0; i < 5; i++) audit.count('ten3', 'token.refresh_token');
    audit.count('ten3', 'token.revoked');
    expect(increments).toBe(0);
    expect(await audit.counts('ten3', today)).toMatchObject({ 'token.refresh_token': 5, 'token.revoked': 1, 'token.authorization_code': 0 });
    expect(increments).toBe(2);

    // Another process's counts add up with these once it has written them.
    const other = createAudit(t.store, { retentionDays: 1 });
    other.count('ten3', 'token.refresh_token');
    await other.flush();
    expect((await audit.counts('ten3', today))['token.refresh_token']).toBe(6);
  });

  it('writes gathered counts within about a second without being asked', async () => {
    const audit = createAudit(t.store, { retentionDays: 1 });
    audit.count('ten4', 'token.client_credentials');
    const key = `audit-count:ten4:${new Date().toISOString().slice(0, 10)}:token.client_credentials`;
    expect(await t.store.get(key)).toBeUndefined();
    await expect.poll(() => t.store.get(key), { timeout: 3000, interval: 100 }).toBe('1');
  });
});

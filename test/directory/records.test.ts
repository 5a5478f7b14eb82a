/**
 * The directory's record cache: within a request, records come from memory while the directory
 * version is unchanged; any write, by any process, is seen by every request that starts after it.
 * The "other process" here is a second store opened on the same data.
 */
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { getWithDirectoryVersion, readIndexEntry, readRecord, readRecordFresh, removeRecord, withRecordCache, writeRecord } from '../../src/directory/records.js';
import { createDirectory } from '../../src/directory/index.js';
import { DRIVERS, openTestStore, type TestStore } from '../helpers/stores.js';

/** The store, counting reads per key. */
function counting(store: Store): { store: Store; reads: (key: string) => number } {
  const counts = new Map<string, number>();
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'get') return Reflect.get(target, property, receiver) as unknown;
      return (key: string) => {
        counts.set(key, (counts.get(key) ?? 0) + 1);
        return target.get(key);
      };
    },
  });
  return { store: wrapped, reads: (key) => counts.get(key) ?? 0 };
}

describe.each(DRIVERS)('directory records on the %s store', (driver) => {
  let t: TestStore;
  let other: Store;
  beforeAll(async () => {
    t = await openTestStore(driver);
    other = await createStore(t.config);
  });
  afterAll(async () => {
    await other.close();
    await t.dispose();
  });

  it('reads a record from memory while the directory version is unchanged', async () => {
    const { store, reads } = counting(t.store);
    await writeRecord(store, 'rec:a', { n: 1 });
    expect(await withRecordCache(() => readRecord(store, 'rec:a'))).toEqual({ n: 1 });
    expect(await withRecordCache(() => readRecord(store, 'rec:a'))).toEqual({ n: 1 });
    expect(await withRecordCache(async () => [await readRecord(store, 'rec:a'), await readRecord(store, 'rec:missing')])).toEqual([{ n: 1 }, undefined]);
    expect(reads('rec:a')).toBe(1);
    // One version read per request, however many records it reads.
    expect(reads('directory:version')).toBe(3);
  });

  it('hands out cached records frozen, so no caller can change what other requests read', async () => {
    await writeRecord(t.store, 'rec:copy', { n: 1, nested: { m: 2 } });
    const first = await withRecordCache(() => readRecord<{ n: number; nested: { m: number } }>(t.store, 'rec:copy'));
    expect(() => {
      first!.n = 99;
    }).toThrow(TypeError);
    expect(() => {
      first!.nested.m = 99;
    }).toThrow(TypeError);
    expect(await withRecordCache(() => readRecord(t.store, 'rec:copy'))).toEqual({ n: 1, nested: { m: 2 } });
    // A record read for an update is the caller's own.
    const fresh = await readRecordFresh<{ n: number }>(t.store, 'rec:copy');
    fresh!.n = 3;
    expect(fresh!.n).toBe(3);
  });

  it('sees a write of another process in the next request', async () => {
    await writeRecord(t.store, 'rec:b', { status: 'active' });
    expect(await withRecordCache(() => readRecord(t.store, 'rec:b'))).toEqual({ status: 'active' });
    await writeRecord(other, 'rec:b', { status: 'disabled' });
    expect(await withRecordCache(() => readRecord(t.store, 'rec:b'))).toEqual({ status: 'disabled' });
    await removeRecord(other, 'rec:b');
    expect(await withRecordCache(() => readRecord(t.store, 'rec:b'))).toBeUndefined();
  });

  it('sees a record another process creates after a request found none', async () => {
    expect(await withRecordCache(() => readRecord(t.store, 'rec:new'))).toBeUndefined();
    await writeRecord(other, 'rec:new', { n: 2 });
    expect(await withRecordCache(() => readRecord(t.store, 'rec:new'))).toEqual({ n: 2 });
  });

  it('keeps one cache per request across the provider’s own entry into the same request', async () => {
    const { store, reads } = counting(t.store);
    await writeRecord(t.store, 'rec:f', { n: 6 });
    const request = {};
    await withRecordCache(async () => {
      // The storage is the provider's: what it calls the current context is this request.
      expect(Provider.ctx).toBe(request);
      expect(await readRecord(store, 'rec:f')).toEqual({ n: 6 });
      // The provider's router enters its storage again, with the same Koa context.
      expect(await withRecordCache(() => readRecord(store, 'rec:f'), request)).toEqual({ n: 6 });
    }, request);
    expect(reads('directory:version')).toBe(1);
    expect(reads('rec:f')).toBe(1);
    expect(Provider.ctx).toBeUndefined();
  });

  it('reads straight from the store outside a request', async () => {
    const { store, reads } = counting(t.store);
    await writeRecord(t.store, 'rec:c', { n: 3 });
    expect(await readRecord(store, 'rec:c')).toEqual({ n: 3 });
    expect(await readRecord(store, 'rec:c')).toEqual({ n: 3 });
    expect(reads('rec:c')).toBe(2);
    expect(reads('directory:version')).toBe(0);
  });

  it('tells whether removeRecord removed anything', async () => {
    await writeRecord(t.store, 'rec:d', {});
    expect(await removeRecord(t.store, 'rec:d')).toBe(true);
    expect(await removeRecord(t.store, 'rec:d')).toBe(false);
  });

  it('brings the directory version along with a request’s first read', async () => {
    const { store, reads } = counting(t.store);
    await writeRecord(t.store, 'rec:e', { n: 5 });
    await t.store.set('tok:1', 'token');
    const [token, record] = await withRecordCache(async () => [await getWithDirectoryVersion(store, 'tok:1'), await readRecord(store, 'rec:e')]);
    expect(token).toBe('token');
    expect(record).toEqual({ n: 5 });
    expect(reads('directory:version')).toBe(0); // it came with the MGET
  });

  it('fails a request whose first read fails, leaving no unhandled rejection behind', async () => {
    const failing = new Proxy(t.store, {
      get(target, property, receiver) {
        if (property === 'getMany') return () => Promise.reject(new Error('store down'));
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    await expect(withRecordCache(() => getWithDirectoryVersion(failing, 'tok:2'))).rejects.toThrow('store down');
    // An unhandled rejection would be reported by vitest as an error of this run.
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  /** A directory here and one in the "other process", with a tenant and a user made here. */
  async function twoDirectories(code: string, username: string) {
    const cost = { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } };
    const here = createDirectory(t.store, cost);
    const elsewhere = createDirectory(other, cost);
    const tenant = await here.tenants.create({ code, name: code.toUpperCase() });
    const user = await here.users.create(tenant.id, { username, password: 'a long enough password' });
    return { here, elsewhere, tenant, user };
  }

  it('starts an update from the stored record, not from one cached earlier in the request', async () => {
    const { here, elsewhere, tenant, user } = await twoDirectories('lost-update', 'lu');
    const { app } = await here.apps.create({ name: 'LU', redirectUris: ['https://lu.test/cb'] });
    await withRecordCache(async () => {
      // This request has read (and cached) them; meanwhile another process changes them.
      await here.users.byId(user.id);
      await here.tenants.byId(tenant.id);
      await here.apps.byId(app.clientId);
      await elsewhere.users.update(user.id, { status: 'disabled' });
      await elsewhere.tenants.update(tenant.id, { status: 'disabled' });
      await elsewhere.apps.update(app.clientId, { description: 'changed elsewhere' });
      // This request's own changes keep the other process's.
      await here.users.update(user.id, { name: 'Renamed' });
      await here.tenants.update(tenant.id, { name: 'Renamed' });
      await here.apps.update(app.clientId, { name: 'Renamed' });
    });
    expect(await here.users.byId(user.id)).toMatchObject({ name: 'Renamed', status: 'disabled' });
    expect(await here.tenants.byId(tenant.id)).toMatchObject({ name: 'Renamed', status: 'disabled' });
    expect(await here.apps.byId(app.clientId)).toMatchObject({ name: 'Renamed', description: 'changed elsewhere' });
  });

  it('caches index entries like records, and sees an entry another process changed with its record', async () => {
    const { store, reads } = counting(t.store);
    await t.store.set('idx:a', 'id-1');
    await writeRecord(t.store, 'rec:idx', { n: 1 });
    expect(await withRecordCache(() => readIndexEntry(store, 'idx:a'))).toBe('id-1');
    expect(await withRecordCache(() => readIndexEntry(store, 'idx:a'))).toBe('id-1');
    expect(reads('idx:a')).toBe(1);
    // A name that does not exist is read again each time, never kept.
    expect(await withRecordCache(() => readIndexEntry(store, 'idx:none'))).toBeUndefined();
    expect(await withRecordCache(() => readIndexEntry(store, 'idx:none'))).toBeUndefined();
    expect(reads('idx:none')).toBe(2);
    await other.set('idx:a', 'id-2');
    await writeRecord(other, 'rec:idx', { n: 2 });
    expect(await withRecordCache(() => readIndexEntry(store, 'idx:a'))).toBe('id-2');
  });

  it('finds no user by a cached username once the user is removed, and the new user of that name once created', async () => {
    const { here, elsewhere, tenant, user: first } = await twoDirectories('index-cache', 'ic');
    expect(await withRecordCache(() => here.tenants.byCode('index-cache'))).toMatchObject({ id: tenant.id });
    expect(await withRecordCache(() => here.users.byUsername(tenant.id, 'ic'))).toMatchObject({ id: first.id });
    await elsewhere.users.remove(first.id);
    expect(await withRecordCache(() => here.users.byUsername(tenant.id, 'ic'))).toBeUndefined();
    const second = await elsewhere.users.create(tenant.id, { username: 'ic', password: 'a long enough password' });
    expect(await withRecordCache(() => here.users.byUsername(tenant.id, 'ic'))).toMatchObject({ id: second.id });
  });
});

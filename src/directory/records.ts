/**
 * JSON records in the store: one key per record, plus the index sets the directory keeps.
 *
 * Within an HTTP request (see `withRecordCache`), single-record reads are served from a per-process
 * cache that is checked against the directory version: one small key that every record write or
 * removal replaces with a new random value. A request reads the version once, on its first record
 * read, and uses cached records only from that same version; a write anywhere (any process, the
 * CLI) is therefore seen by every request that starts after the write returned. A token request
 * reads one version key instead of the app, user, tenant and assignment records.
 *
 * The version is replaced after the record is written: should that second write fail (the store
 * went away in between), cached copies still expire after `MAX_AGE_MS`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';

const VERSION_KEY = 'directory:version';
const MAX_ENTRIES = 10_000;
const MAX_AGE_MS = 5_000;

interface Entry {
  version: string;
  /** The parsed record, frozen: every request that reads it gets the same object. */
  record: unknown;
  at: number;
}

const scope = new AsyncLocalStorage<{ version?: Promise<string>; memo?: Map<string, unknown> }>();
const caches = new WeakMap<Store, Map<string, Entry>>();

/** Runs `fn` (an HTTP request) with cached record reads. */
export const withRecordCache = <T>(fn: () => T): T => scope.run({}, fn);

const parse = <T>(raw: string | undefined): T | undefined => (raw === undefined ? undefined : (JSON.parse(raw) as T));

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function cacheOf(store: Store): Map<string, Entry> {
  let cache = caches.get(store);
  if (!cache) caches.set(store, (cache = new Map()));
  return cache;
}

/**
 * A record. Within a request it may be a cached copy shared with other requests, and is then frozen:
 * to change a record, read it with `readRecordFresh` and write a new one.
 */
export async function readRecord<T>(store: Store, key: string): Promise<T | undefined> {
  const request = scope.getStore();
  if (!request) return parse<T>(await store.get(key));
  const version = await (request.version ??= store.get(VERSION_KEY).then((v) => v ?? ''));
  const cache = cacheOf(store);
  const hit = cache.get(key);
  const now = Date.now();
  if (hit && hit.version === version && now - hit.at < MAX_AGE_MS) return hit.record as T | undefined;
  const record = deepFreeze(parse<T>(await store.get(key)));
  // Map order is insertion order: re-inserting keeps the oldest entries first, to be dropped.
  cache.delete(key);
  cache.set(key, { version, record, at: now });
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return record;
}

/**
 * A record straight from the store, never from the cache: for read-modify-write (updates), which
 * must start from the latest version, not from one cached earlier in the request.
 */
export async function readRecordFresh<T>(store: Store, key: string): Promise<T | undefined> {
  return parse<T>(await store.get(key));
}

/**
 * `store.get(key)` for a request's first store read: when the request has not read the directory
 * version yet, it comes along in the same round trip (the OIDC adapter reads a token or session
 * first, the directory records after it).
 */
export async function getWithDirectoryVersion(store: Store, key: string): Promise<string | undefined> {
  const request = scope.getStore();
  if (!request || request.version) return store.get(key);
  const both = store.getMany([key, VERSION_KEY]);
  request.version = both.then(([, version]) => version ?? '');
  // When the read fails the request ends with that error and may never await its version: that
  // rejection must not go unhandled (it would end the process).
  request.version.catch(() => undefined);
  return (await both)[0];
}

/**
 * `read()` as a request's first store read: when the request has not read the directory version
 * yet, the version read starts in the same tick, so both go out in one write (auto-pipelining).
 */
export async function readWithDirectoryVersion<T>(store: Store, read: () => Promise<T>): Promise<T> {
  const request = scope.getStore();
  if (!request || request.version) return read();
  request.version = store.get(VERSION_KEY).then((version) => version ?? '');
  request.version.catch(() => undefined);
  return read();
}

/**
 * A map that lives as long as the current HTTP request (undefined outside one), for values read
 * once per request: the OIDC adapter keeps there the grant it read along with a token.
 */
export function requestMemo(): Map<string, unknown> | undefined {
  const request = scope.getStore();
  if (!request) return undefined;
  return (request.memo ??= new Map());
}

export async function readRecords<T>(store: Store, keys: string[]): Promise<T[]> {
  const raws = await store.getMany(keys);
  return raws.flatMap((raw) => (raw === undefined ? [] : [JSON.parse(raw) as T]));
}

/** After a record changed: every process's cached copies are out of date. */
async function changed(store: Store, key: string): Promise<void> {
  caches.get(store)?.delete(key);
  await store.set(VERSION_KEY, randomBytes(12).toString('base64url'));
}

export async function writeRecord(store: Store, key: string, record: unknown): Promise<void> {
  await store.set(key, JSON.stringify(record));
  await changed(store, key);
}

/** Deletes a record; false when there was none. */
export async function removeRecord(store: Store, key: string): Promise<boolean> {
  const removed = (await store.del(key)) > 0;
  await changed(store, key);
  return removed;
}

export const now = (): string => new Date().toISOString();

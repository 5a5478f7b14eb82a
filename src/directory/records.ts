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
import { randomBytes } from 'node:crypto';
import { conflict, notFound } from '../errors.js';
import { currentRequest, runInRequest } from '../request-context.js';
import type { Store } from '../store/store.js';

const VERSION_KEY = 'directory:version';
const MAX_ENTRIES = 10_000;
const MAX_AGE_MS = 5_000;

interface Entry {
  version: string;
  /** The parsed record, frozen: every request that reads it gets the same object. */
  record: unknown;
  /** `record`, as a settled promise: handed out on every cache hit. */
  settled: Promise<unknown>;
  at: number;
}

interface RequestScope {
  version?: Promise<string>;
  /** The version once read. */
  knownVersion?: string;
  memo?: Map<string, unknown>;
}
const scopes = new WeakMap<object, RequestScope>();
const caches = new WeakMap<Store, Map<string, Entry>>();

/** The current request's directory version and memo; undefined outside a request (or, unless `create`, before its first use). */
function requestScope(create = true): RequestScope | undefined {
  const request = currentRequest();
  if (!request) return undefined;
  let scope = scopes.get(request);
  if (!scope && create) scopes.set(request, (scope = {}));
  return scope;
}

/** Runs `fn` as `request` (an HTTP request's context; a new one by default) with cached record reads. */
export const withRecordCache = <T>(fn: () => T, request: object = {}): T => runInRequest(request, fn);

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

/** The request's directory version, read with `read` (which answers it along with whatever else). */
function readVersion(request: RequestScope, read: Promise<string | undefined>): Promise<string> {
  request.version = read.then((version) => (request.knownVersion = version ?? ''));
  // When the read fails the request ends with that error and may never await its version: that
  // rejection must not go unhandled (it would end the process).
  request.version.catch(() => undefined);
  return request.version;
}

function cached(store: Store, key: string, version: string): Entry | undefined {
  const hit = cacheOf(store).get(key);
  return hit && hit.version === version && Date.now() - hit.at < MAX_AGE_MS ? hit : undefined;
}

/**
 * A record. Within a request it may be a cached copy shared with other requests, and is then frozen:
 * to change a record, read it with `readRecordFresh` and write a new one.
 */
export function readRecord<T>(store: Store, key: string): Promise<T | undefined> {
  return readCached(store, key, parseFrozen) as Promise<T | undefined>;
}

/**
 * The value of an index key (a tenant code's tenant id, a username's user id), cached like records.
 * Every change of an index is followed by a record write or removal (of what it points at), which
 * moves the directory version: whoever changes an index must keep it so. A missing entry is not
 * cached: names that do not exist (mistyped or made up at the login form) would crowd out the rest.
 */
export function readIndexEntry(store: Store, key: string): Promise<string | undefined> {
  return readCached(store, key, (raw) => raw, false) as Promise<string | undefined>;
}

const parseFrozen = (raw: string | undefined): unknown => deepFreeze(parse(raw));

function readCached(store: Store, key: string, decode: (raw: string | undefined) => unknown, cacheMissing = true): Promise<unknown> {
  const request = requestScope();
  if (!request) return store.get(key).then(decode);
  // Once the request knows its version (a token read brought it along), a cached copy answers with
  // its own settled promise: nothing to wait for, nothing allocated.
  const hit = request.knownVersion === undefined ? undefined : cached(store, key, request.knownVersion);
  if (hit) return hit.settled;
  return readThrough(store, key, request, decode, cacheMissing);
}

async function readThrough(store: Store, key: string, request: RequestScope, decode: (raw: string | undefined) => unknown, cacheMissing: boolean): Promise<unknown> {
  const version = await (request.version ?? readVersion(request, store.get(VERSION_KEY)));
  const hit = cached(store, key, version);
  if (hit) return hit.record;
  const now = Date.now();
  const raw = await store.get(key);
  const record = decode(raw);
  if (raw === undefined && !cacheMissing) return record;
  // Map order is insertion order: re-inserting keeps the oldest entries first, to be dropped.
  const cache = cacheOf(store);
  cache.delete(key);
  cache.set(key, { version, record, at: now, settled: Promise.resolve(record) });
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
export function getWithDirectoryVersion(store: Store, key: string): Promise<string | undefined> {
  const request = requestScope();
  if (!request || request.version) return store.get(key);
  const both = store.getMany([key, VERSION_KEY]);
  void readVersion(request, both.then(([, version]) => version));
  return both.then(([value]) => value);
}

/**
 * `read()` as a request's first store read: when the request has not read the directory version
 * yet, the version read starts in the same tick, so both go out in one write (auto-pipelining).
 */
export function readWithDirectoryVersion<T>(store: Store, read: () => Promise<T>): Promise<T> {
  const request = requestScope();
  if (request && !request.version) void readVersion(request, store.get(VERSION_KEY));
  return read();
}

/**
 * A map that lives as long as the current HTTP request (undefined outside one), for values read
 * once per request: the OIDC adapter keeps there the grant it read along with a token. To only look
 * (`create` false), undefined too while nothing has been kept: most requests never keep anything.
 */
export function requestMemo(create = true): Map<string, unknown> | undefined {
  const request = requestScope(create);
  if (!request) return undefined;
  if (!create) return request.memo;
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

/** A unique name (a username, a tenant code): its index key, and the key of a record by its id. */
export interface UniqueName {
  indexKey: string;
  recordKey: (id: string) => string;
}

/**
 * Writes a new record (`id`) under a unique name; false, and nothing left behind, when the name is
 * taken. The record is written before the name is claimed, so that an index entry whose record does
 * not exist is never a creation under way but one left behind (a claim whose answer was lost, a write
 * replayed late): the next creation of that name takes it over, instead of finding the name taken for good.
 */
export async function createNamedRecord(store: Store, name: UniqueName, id: string, record: unknown): Promise<boolean> {
  const key = name.recordKey(id);
  // Nothing can have read (and cached) a record of a new id: the version moves once the name points at it.
  await store.set(key, JSON.stringify(record));
  let claimed: boolean;
  try {
    claimed = await claimName(store, name, id);
  } catch (err) {
    // Best effort, the index first: should the claim have landed, it must not point at nothing.
    await store.deleteIfEquals(name.indexKey, id).catch(() => undefined);
    await store.del(key).catch(() => undefined);
    throw err;
  }
  if (!claimed) {
    await store.del(key).catch(() => undefined);
    return false;
  }
  await changed(store, key);
  return true;
}

/** Points the name at `id`: when it is free, or when it points at a record that does not exist. */
async function claimName(store: Store, name: UniqueName, id: string): Promise<boolean> {
  if (await store.set(name.indexKey, id, { ifAbsent: true })) return true;
  const holder = await store.get(name.indexKey);
  if (holder === undefined) return store.set(name.indexKey, id, { ifAbsent: true });
  if ((await store.get(name.recordKey(holder))) !== undefined) return false;
  return store.replaceIfEquals(name.indexKey, holder, id);
}

/**
 * Adds a new record's id to a list (a set) before `create` writes the record: a listed id whose
 * record does not exist is skipped by every reader, while a record written but never listed would be
 * out of every listing for good (and its unique name taken: a retry is refused). The id is taken out
 * again when `create` wrote nothing (false), or failed without making the record (`made`: for a
 * record with a unique name, whether its name points at it). When even that cannot be read, the id
 * stays listed (see dropUnnamed).
 */
export async function listNewId(store: Store, listKey: string, id: string, made: () => Promise<boolean>, create: () => Promise<boolean>): Promise<boolean> {
  await store.sadd(listKey, [id]);
  // Best effort, as an id left listed without its record is harmless.
  const unlist = (): Promise<unknown> => store.srem(listKey, id).catch(() => undefined);
  let created: boolean;
  try {
    created = await create();
  } catch (err) {
    if (!(await made().catch(() => true))) await unlist();
    throw err;
  }
  if (!created) await unlist();
  return created;
}

/** Whether the unique name `indexKey` points at `id` (read from the store, not a request's cache). */
export const namePointsAt = async (store: Store, indexKey: string, id: string): Promise<boolean> => (await store.get(indexKey)) === id;

/**
 * A list's records without those left behind by a creation that failed while the store was gone
 * (written and listed, its name never claimed, and its clean-up failed too): where two records
 * share a name, only the one the name points at. Costs a read only for such names.
 */
export async function dropUnnamed<T extends { id: string }>(store: Store, records: T[], indexKeyOf: (record: T) => string): Promise<T[]> {
  const byName = new Map<string, T[]>();
  for (const record of records) {
    const indexKey = indexKeyOf(record);
    const same = byName.get(indexKey);
    if (same) same.push(record);
    else byName.set(indexKey, [record]);
  }
  const shared = [...byName].filter(([, same]) => same.length > 1);
  if (shared.length === 0) return records;
  const holders = await store.getMany(shared.map(([indexKey]) => indexKey));
  const dropped = new Set(shared.flatMap(([, same], i) => same.filter((record) => record.id !== holders[i])));
  return records.filter((record) => !dropped.has(record));
}

/** Writes a new record; false (and nothing written) when there is one already. */
export async function createRecord(store: Store, key: string, record: unknown): Promise<boolean> {
  if (!(await store.set(key, JSON.stringify(record), { ifAbsent: true }))) return false;
  await changed(store, key);
  return true;
}

/** How many times a change is made again on a record that other requests keep changing meanwhile. */
const REWRITE_ATTEMPTS = 5;

/**
 * Changes a record as `update` says, from its latest version, written only if nothing else changed
 * or removed it meanwhile: when something did, `update` is applied again to the version then (so two
 * changes at once both land, and nothing removed comes back), a few times before a 409. Undefined
 * when there is no record.
 */
export async function rewriteRecord<T>(store: Store, key: string, update: (current: T) => T | Promise<T>): Promise<{ before: T; after: T } | undefined> {
  for (let attempt = 0; attempt < REWRITE_ATTEMPTS; attempt += 1) {
    const raw = await store.get(key);
    if (raw === undefined) return undefined;
    const before = JSON.parse(raw) as T;
    const after = await update(before);
    if (await store.replaceIfEquals(key, raw, JSON.stringify(after))) {
      await changed(store, key);
      return { before, after };
    }
  }
  throw conflict('changed by other requests meanwhile; read it again and retry');
}

/** Deletes a record; false when there was none. */
export async function removeRecord(store: Store, key: string): Promise<boolean> {
  const removed = (await store.del(key)) > 0;
  await changed(store, key);
  return removed;
}

export const now = (): string => new Date().toISOString();

type StatusRecord = { status: 'active' | 'disabled'; tokensRevokedAt?: number; updatedAt: string };

/**
 * Changes a user or tenant record (at `key`; undefined for an id that cannot be one) from its latest
 * version, with what a change of its status implies (see statusChange): the version it replaced and
 * the new one; 404 when there is none.
 */
export async function updateStatusRecord<T extends StatusRecord>(store: Store, key: string | undefined, what: string, changes: Partial<T>): Promise<{ before: T; after: T }> {
  const result =
    key === undefined
      ? undefined
      : await rewriteRecord<T>(store, key, async (record) => {
          const { implied, at } = await statusChange(record, changes.status);
          return { ...record, ...changes, ...implied, updatedAt: at.toISOString() };
        });
  if (!result) throw notFound(`${what} not found`);
  return result;
}

/**
 * Seconds past a disabling that `tokensRevokedAt` reaches: sessions and tokens carry whole seconds,
 * and a request that found the account still active just before may issue one a moment after.
 */
const REVOCATION_MARGIN_SECONDS = 2;

/**
 * What a status change of a user or tenant record brings along. Disabling voids every session and
 * token issued until then, and until the margin above: `tokensRevokedAt`. Enabling again before that
 * moment first waits for it (the record is then written only if nothing changed it meanwhile, see
 * rewriteRecord), so that nothing issued after the enabling is taken for something issued before
 * the disabling.
 */
async function statusChange(record: StatusRecord, status: 'active' | 'disabled' | undefined): Promise<{ implied: { tokensRevokedAt?: number }; at: Date }> {
  // One reading of the clock for the change's time and what it implies.
  const at = new Date();
  if (status === 'disabled' && record.status !== 'disabled') return { implied: { tokensRevokedAt: Math.floor(at.getTime() / 1000) + REVOCATION_MARGIN_SECONDS }, at };
  if (status !== 'active' || record.tokensRevokedAt === undefined || record.tokensRevokedAt * 1000 <= at.getTime()) return { implied: {}, at };
  // (A timer may fire a millisecond early: waited out by the clock.)
  let later = new Date();
  while (later.getTime() < record.tokensRevokedAt * 1000) {
    await new Promise((resolve) => setTimeout(resolve, record.tokensRevokedAt! * 1000 - later.getTime()));
    later = new Date();
  }
  return { implied: {}, at: later };
}

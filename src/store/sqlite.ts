/**
 * The embedded store driver: the Store contract on one SQLite file (better-sqlite3, WAL mode).
 * Writes run in IMMEDIATE transactions, so read-modify-write operations are atomic across every
 * process that opens the same file. Expiry is checked on every read; a timer purges expired rows.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { assertOneCondition, trimSize, type Store } from './store.js';
import { storeUnavailable } from '../errors.js';

type EntryType = 'string' | 'hash' | 'set';
interface Entry {
  type: EntryType;
  value: string | null;
  expires_at: number | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    value TEXT,
    expires_at INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
  CREATE TABLE IF NOT EXISTS members (
    key TEXT NOT NULL,
    member TEXT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, member)
  ) WITHOUT ROWID;
`;

/** Keys purged per transaction. */
const PURGE_CHUNK = 500;

/** The first string after every string that starts with `prefix` (its last character, plus one). */
const prefixEnd = (prefix: string): string => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);

const expiryOf = (ttl: number | undefined, now: number): number | null =>
  ttl === undefined ? null : now + Math.max(1, Math.round(ttl * 1000));

export interface SqliteStoreOptions {
  /** Folder of the database file; `:memory:` for a private in-memory database. */
  dataDir: string;
  /** How often expired rows are purged, in ms. */
  purgeIntervalMs?: number;
  /** How long a write waits for another process's write lock before the store is unavailable, in ms. */
  busyTimeoutMs?: number;
}

/** The sqlite store, with its purge of expired rows callable (tests; the timer calls it otherwise). */
export type SqliteStore = Store & { purge(): Promise<void> };

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const file = options.dataDir === ':memory:' ? ':memory:' : join(options.dataDir, 'atrium.sqlite');
  if (file !== ':memory:') mkdirSync(options.dataDir, { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  db.exec(SCHEMA);

  const q = {
    entry: db.prepare<[string], Entry>('SELECT type, value, expires_at FROM entries WHERE key = ?'),
    liveEntry: db.prepare<[string, number], Entry>(
      'SELECT type, value, expires_at FROM entries WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)',
    ),
    putEntry: db.prepare<[string, EntryType, string | null, number | null]>(
      'INSERT OR REPLACE INTO entries (key, type, value, expires_at) VALUES (?, ?, ?, ?)',
    ),
    setValue: db.prepare<[string | null, string]>('UPDATE entries SET value = ? WHERE key = ?'),
    setExpiry: db.prepare<[number | null, string]>('UPDATE entries SET expires_at = ? WHERE key = ?'),
    delEntry: db.prepare<[string]>('DELETE FROM entries WHERE key = ?'),
    delMembers: db.prepare<[string]>('DELETE FROM members WHERE key = ?'),
    member: db.prepare<[string, string], { value: string }>('SELECT value FROM members WHERE key = ? AND member = ?'),
    members: db.prepare<[string], { member: string; value: string }>(
      'SELECT member, value FROM members WHERE key = ? ORDER BY member',
    ),
    // Members whose names are in [from, to) (a prefix's range), earliest expiry first (none: last),
    // the same expiry by name.
    prefixed: db.prepare<[string, string, string], { member: string; value: string }>(
      `SELECT member, value FROM members WHERE key = ? AND member >= ? AND member < ?
         ORDER BY CASE substr(value, 11, 10) WHEN '0000000000' THEN '9999999999' ELSE substr(value, 11, 10) END, member`,
    ),
    countPrefixed: db.prepare<[string, string, string], { n: number }>('SELECT COUNT(*) AS n FROM members WHERE key = ? AND member >= ? AND member < ?'),
    countMembers: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM members WHERE key = ?'),
    putMember: db.prepare<[string, string, string]>(
      'INSERT OR REPLACE INTO members (key, member, value) VALUES (?, ?, ?)',
    ),
    addMember: db.prepare<[string, string]>('INSERT OR IGNORE INTO members (key, member) VALUES (?, ?)'),
    delMember: db.prepare<[string, string]>('DELETE FROM members WHERE key = ? AND member = ?'),
    // Members whose value carries an expiry (characters 11–20: ten digits, not all zeros) at or before now.
    pruneRecords: db.prepare<[string, number]>(
      `DELETE FROM members WHERE key = ? AND substr(value, 11, 10) GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
         AND CAST(substr(value, 11, 10) AS INTEGER) BETWEEN 1 AND ?`,
    ),
    expiredKeys: db.prepare<[number, number], { key: string }>(
      'SELECT key FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?',
    ),
  };

  const drop = (key: string): void => {
    q.delEntry.run(key);
    q.delMembers.run(key);
  };

  /** Inside a write transaction: the live entry, dropping it first when it has expired. */
  const live = (key: string, now: number, type?: EntryType): Entry | undefined => {
    const row = q.entry.get(key);
    if (!row) return undefined;
    if (row.expires_at !== null && row.expires_at <= now) {
      drop(key);
      return undefined;
    }
    if (type && row.type !== type) throw new Error(`WRONGTYPE key ${key} holds a ${row.type}, not a ${type}`);
    return row;
  };

  /** A read outside any transaction: expired rows are simply not seen. */
  const read = (key: string, type: EntryType): Entry | undefined => {
    const row = q.liveEntry.get(key, Date.now());
    if (row && row.type !== type) throw new Error(`WRONGTYPE key ${key} holds a ${row.type}, not a ${type}`);
    return row;
  };

  const write = <T>(fn: (now: number) => T): T => db.transaction(() => fn(Date.now())).immediate();

  /** Inside a write transaction: moves an expiry later (or removes it), never earlier. */
  const extendExpiry = (key: string, row: Entry, wanted: number | null): void => {
    if (row.expires_at !== null && (wanted === null || wanted > row.expires_at)) q.setExpiry.run(wanted, key);
  };

  /** A collection (hash or set) disappears with its last member, as in Redis. */
  const dropIfEmpty = (key: string): void => {
    if (q.countMembers.get(key)?.n === 0) q.delEntry.run(key);
  };

  /**
   * Expired rows go in chunks of PURGE_CHUNK keys, one short transaction each, with the event loop
   * free in between: a purge of many rows never stalls the requests being served.
   */
  let purging = false;
  const purge = async (): Promise<void> => {
    if (purging || !db.open) return;
    purging = true;
    try {
      const now = Date.now();
      for (;;) {
        const purged = write(() => {
          const keys = q.expiredKeys.all(now, PURGE_CHUNK);
          for (const { key } of keys) drop(key);
          return keys.length;
        });
        if (purged < PURGE_CHUNK || !db.open) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      purging = false;
    }
  };
  const timer = setInterval(() => void purge().catch(() => undefined), options.purgeIntervalMs ?? 60_000);
  timer.unref();

  const store: SqliteStore = {
    driver: 'sqlite',
    purge,

    async get(key) {
      return read(key, 'string')?.value ?? undefined;
    },

    async getMany(keys) {
      const now = Date.now();
      return keys.map((key) => {
        const row = q.liveEntry.get(key, now);
        return row?.type === 'string' ? (row.value ?? undefined) : undefined;
      });
    },

    async set(key, value, options = {}) {
      assertOneCondition(options);
      return write((now) => {
        if (options.ifAbsent && live(key, now)) return false;
        if (options.ifPresent && !live(key, now)) return false;
        if (options.ifAbsentOr !== undefined) {
          const row = live(key, now, 'string');
          if (row && row.value !== options.ifAbsentOr) return false;
        }
        drop(key);
        q.putEntry.run(key, 'string', value, expiryOf(options.ttl, now));
        return true;
      });
    },

    async del(...keys) {
      return write((now) => {
        let existed = 0;
        for (const key of keys) {
          if (live(key, now)) existed += 1;
          drop(key);
        }
        return existed;
      });
    },

    async deleteIfEquals(key, expected) {
      return write((now) => {
        const row = live(key, now, 'string');
        if (row?.value !== expected) return false;
        drop(key);
        return true;
      });
    },

    async replaceIfEquals(key, expected, value) {
      return write((now) => {
        const row = live(key, now, 'string');
        if (row?.value !== expected) return false;
        q.putEntry.run(key, 'string', value, row.expires_at);
        return true;
      });
    },

    async expire(key, ttl) {
      return write((now) => {
        if (!live(key, now)) return false;
        q.setExpiry.run(expiryOf(ttl, now), key);
        return true;
      });
    },

    async ttl(key) {
      const now = Date.now();
      const row = q.liveEntry.get(key, now);
      if (!row) return -2;
      if (row.expires_at === null) return -1;
      return Math.ceil((row.expires_at - now) / 1000);
    },

    async incr(key, options = {}) {
      return write((now) => {
        const row = live(key, now, 'string');
        const current = row ? Number(row.value) : 0;
        if (!Number.isInteger(current)) throw new Error(`ERR value at ${key} is not an integer`);
        const next = current + (options.by ?? 1);
        if (options.deleteAtZero && next <= 0) drop(key);
        else if (row) q.setValue.run(String(next), key);
        else q.putEntry.run(key, 'string', String(next), expiryOf(options.ttl, now));
        return next;
      });
    },

    async hset(key, fields, options = {}) {
      write((now) => {
        const row = live(key, now, options.replace ? undefined : 'hash');
        if (options.replace || !row) {
          drop(key);
          q.putEntry.run(key, 'hash', null, expiryOf(options.ttl, now));
        } else if (options.extend) {
          extendExpiry(key, row, expiryOf(options.ttl, now));
        }
        for (const [field, value] of Object.entries(fields)) q.putMember.run(key, field, value);
        dropIfEmpty(key);
      });
    },

    async hget(key, field) {
      if (!read(key, 'hash')) return undefined;
      return q.member.get(key, field)?.value;
    },

    async hgetall(key) {
      // One snapshot: a concurrent replace must not be seen half-applied.
      return db.transaction(() => {
        if (!read(key, 'hash')) return undefined;
        return Object.fromEntries(q.members.all(key).map((m) => [m.member, m.value]));
      })();
    },

    async hdel(key, ...fields) {
      return write((now) => {
        if (!live(key, now, 'hash')) return 0;
        let removed = 0;
        for (const field of fields) removed += q.delMember.run(key, field).changes;
        dropIfEmpty(key);
        return removed;
      });
    },

    async consume(key, stamp) {
      return write((now) => {
        const value = live(key, now, 'string')?.value;
        if (value?.slice(0, stamp.length) !== '0'.repeat(stamp.length)) return false;
        q.setValue.run(stamp + value.slice(stamp.length), key);
        return true;
      });
    },

    async hgetMany(key, fields) {
      return db.transaction(() => {
        const live = read(key, 'hash') !== undefined;
        return fields.map((field) => (live ? q.member.get(key, field)?.value : undefined));
      })();
    },

    async hconsume(key, field, stamp, options) {
      return write((now) => {
        if (!live(key, now, 'hash')) return false;
        const value = q.member.get(key, field)?.value;
        if (value?.slice(0, stamp.length) !== '0'.repeat(stamp.length)) return false;
        const rest = value.slice(stamp.length);
        q.putMember.run(key, field, stamp + (options ? rest.slice(0, options.keep) + options.rest : rest));
        return true;
      });
    },

    async hsetRecords(key, fields, options) {
      const entries = Object.entries(fields);
      if (entries.length === 0) return true;
      return write((now) => {
        let row = live(key, now, 'hash');
        // The members to drop must be there, expired or not (checked before pruning may take them).
        const drop = options.drop ?? [];
        if (drop.some((field) => !row || !q.member.get(key, field))) return false;
        if (row) {
          q.pruneRecords.run(key, options.now);
          dropIfEmpty(key);
          row = live(key, now, 'hash');
        }
        if (options.requires !== undefined && (!row || !q.member.get(key, options.requires))) return false;
        // The claim must succeed: checked, like everything above, before any write.
        const { claim } = options;
        const claimed = claim && row ? q.member.get(key, claim.field)?.value : undefined;
        if (claim && claimed?.slice(0, claim.stamp.length) !== '0'.repeat(claim.stamp.length)) return false;
        if (claim && claimed !== undefined) q.putMember.run(key, claim.field, claim.stamp + claimed.slice(claim.stamp.length, claim.stamp.length + claim.keep) + claim.rest);
        for (const field of drop) q.delMember.run(key, field);
        if (!row) q.putEntry.run(key, 'hash', null, expiryOf(options.ttl, now));
        else extendExpiry(key, row, expiryOf(options.ttl, now));
        for (const [field, value] of entries) q.putMember.run(key, field, value);
        for (const cap of options.caps ?? []) {
          const trimTo = trimSize(cap);
          if (!entries.some(([field]) => field.startsWith(cap.prefix))) continue;
          // The range of names with the prefix, which the primary key serves.
          const bounds = [key, cap.prefix, prefixEnd(cap.prefix)] as const;
          const count = q.countPrefixed.get(...bounds)!.n;
          if (count <= cap.max) continue;
          const others = q.prefixed.all(...bounds).filter((m) => !Object.hasOwn(fields, m.member) && m.member !== claim?.field);
          const trimmed = others.slice(0, count - trimTo);
          for (const m of trimmed) q.delMember.run(key, m.member);
          if (cap.mark !== undefined && trimmed.length > 0) {
            // The last member trimmed, in the order above (expiry, then name; none — zeros — is the
            // latest expiry of all), kept if the mark already says a later one. (A mark without a
            // name, from before names were kept, is later than every member of its expiry: '~'
            // sorts after the characters of names.)
            const order = (expires: string, name: string): string => `${expires.replace(/^0{10}$/, '9'.repeat(10))} ${name}`;
            const last = trimmed.at(-1)!;
            const current = q.member.get(key, cap.mark)?.value;
            const named = current === undefined ? undefined : (/^\{"n":"([^"]*)"\}$/.exec(current.slice(20))?.[1] ?? '~');
            const [expires, name] =
              current !== undefined && order(current.slice(10, 20), named!) > order(last.value.slice(10, 20), last.member)
                ? [current.slice(10, 20), named!]
                : [last.value.slice(10, 20), last.member];
            q.putMember.run(key, cap.mark, `0000000000${expires}{"n":"${name}"}`);
          }
        }
        return true;
      });
    },

    async sadd(key, members, options = {}) {
      if (members.length === 0) return;
      write((now) => {
        const row = live(key, now, 'set');
        if (!row) q.putEntry.run(key, 'set', null, expiryOf(options.ttl, now));
        else extendExpiry(key, row, expiryOf(options.ttl, now));
        for (const member of members) q.addMember.run(key, member);
      });
    },

    async srem(key, ...members) {
      return write((now) => {
        if (!live(key, now, 'set')) return 0;
        let removed = 0;
        for (const member of members) removed += q.delMember.run(key, member).changes;
        dropIfEmpty(key);
        return removed;
      });
    },

    async smembers(key) {
      return db.transaction(() => (read(key, 'set') ? q.members.all(key).map((m) => m.member) : []))();
    },

    async sismember(key, member) {
      return read(key, 'set') !== undefined && q.member.get(key, member) !== undefined;
    },

    async ping() {
      db.prepare('SELECT 1').get();
    },

    async close() {
      clearInterval(timer);
      if (db.open) db.close();
    },
  };
  // The file or the disk failing, or another process holding the write lock past the busy
  // timeout, makes the store unavailable (503), as Redis going away does; other errors are bugs.
  for (const [name, method] of Object.entries(store)) {
    if (typeof method !== 'function') continue;
    (store as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(store, args);
      } catch (err) {
        throw isUnavailable(err) ? storeUnavailable(err) : err;
      }
    };
  }
  return store;
}

/** SQLite's result codes for "not now" (busy, locked, out of space or memory, I/O, read-only, cannot open). */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|NOMEM|IOERR|READONLY|CANTOPEN|PROTOCOL)/;
const isUnavailable = (err: unknown): boolean => typeof (err as { code?: unknown })?.code === 'string' && UNAVAILABLE.test((err as { code: string }).code);

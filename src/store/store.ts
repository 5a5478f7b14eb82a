/**
 * The store contract: a small key-value interface with Redis semantics, implemented by the redis
 * driver (ioredis) and the sqlite driver (better-sqlite3). Every other layer keeps its state here.
 *
 * - A key holds one type: a string, a hash (field → string) or a set (of strings). Using a key as
 *   another type than it holds is a programming error and throws.
 * - TTLs are in seconds (fractions allowed). `ttl: undefined` means "no expiry". An expired key is
 *   invisible at once to every operation, as if it had never existed; its space is reclaimed later.
 * - Each method is atomic on its own, across processes sharing the store. Operations that must
 *   happen together are single methods here (`consume`, `deleteIfEquals`, `replaceIfEquals`, `incr` with a TTL).
 * - Store failures (connection lost, timeout) surface as AtriumError `temporarily_unavailable`
 *   (HTTP 503), never as a silent success.
 */
/**
 * At most `max` fields of a hash whose names start with `prefix` (see `hsetRecords`); once more,
 * the hash is trimmed to `trimTo` of them (default `max`). With `mark`, the field `mark` then holds
 * a record whose expiry is the latest of those trimmed (kept as long as they would have lived), so
 * that readers can tell a field trimmed away from one deleted otherwise.
 */
export interface HashCap {
  prefix: string;
  max: number;
  trimTo?: number;
  mark?: string;
}

/** `set` takes at most one of its conditions. */
export function assertOneCondition(options: { ifAbsent?: boolean; ifPresent?: boolean; ifAbsentOr?: string }): void {
  if ([options.ifAbsent, options.ifPresent, options.ifAbsentOr !== undefined].filter(Boolean).length > 1) {
    throw new Error('set: ifAbsent, ifPresent and ifAbsentOr exclude each other');
  }
}

/** The size a cap trims to once exceeded (checked: a cap that could empty a hash is a bug). */
export function trimSize(cap: HashCap): number {
  const trimTo = cap.trimTo ?? cap.max;
  if (cap.prefix === '' || cap.mark?.startsWith(cap.prefix) || cap.mark === '' || !Number.isInteger(cap.max) || cap.max < 1 || !Number.isInteger(trimTo) || trimTo < 0 || trimTo > cap.max) {
    throw new Error(`invalid hash cap ${JSON.stringify(cap)}`);
  }
  return trimTo;
}

/** An `hconsume` (of `field`, with `stamp`, cut to `keep` characters and `rest`) done as part of a write. */
export interface HashClaim {
  field: string;
  stamp: string;
  keep: number;
  rest: string;
}

export interface Store {
  readonly driver: 'redis' | 'sqlite';

  /** The string at `key`, or undefined. */
  get(key: string): Promise<string | undefined>;
  /** Strings at several keys, in order (undefined where missing). */
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  /**
   * Sets a string. With `ifAbsent`, only when the key does not exist; with `ifPresent`, only when
   * it does (not expired); with `ifAbsentOr`, only when it does not exist or holds that value: false
   * otherwise. Replaces any value and TTL the key had. At most one condition.
   */
  set(key: string, value: string, options?: { ttl?: number; ifAbsent?: boolean; ifPresent?: boolean; ifAbsentOr?: string }): Promise<boolean>;
  /** Deletes keys of any type; returns how many existed. */
  del(...keys: string[]): Promise<number>;
  /** Deletes the string at `key` only while it still equals `expected`. */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;
  /** Replaces the string at `key` with `value` (keeping its TTL) only while it still equals `expected`. */
  replaceIfEquals(key: string, expected: string, value: string): Promise<boolean>;
  /** Sets a TTL on an existing key; false when the key does not exist. */
  expire(key: string, ttl: number): Promise<boolean>;
  /** Remaining seconds: -2 when missing, -1 when the key has no expiry. */
  ttl(key: string): Promise<number>;
  /**
   * Adds `by` (default 1) to the integer at `key`, creating it at 0 first. `ttl` applies only when
   * this call creates the key, so a fixed window does not slide. With `deleteAtZero`, a result of
   * zero or below deletes the key in the same step (a count taken back to where it started leaves
   * nothing behind); the result is still returned.
   */
  incr(key: string, options?: { by?: number; ttl?: number; deleteAtZero?: boolean }): Promise<number>;

  /**
   * Writes hash fields. With `replace`, the hash becomes exactly `fields` with the given TTL (or
   * none); with `extend`, fields are merged and the TTL never shortens the hash's life (as `sadd`);
   * otherwise fields are merged, an existing TTL is kept and a new hash gets `ttl`.
   */
  hset(key: string, fields: Record<string, string>, options?: { ttl?: number; replace?: boolean; extend?: boolean }): Promise<void>;
  hget(key: string, field: string): Promise<string | undefined>;
  /** All fields, or undefined when the key does not exist. */
  hgetall(key: string): Promise<Record<string, string> | undefined>;
  hdel(key: string, ...fields: string[]): Promise<number>;
  /**
   * The atomic consume of a string record that starts with a header of zeros as long as `stamp`:
   * overwrites that header with `stamp` while it is still all zeros, keeping the value's rest and
   * TTL. True for exactly one caller; false when the key is missing, expired or already consumed.
   * Never creates a key.
   */
  consume(key: string, stamp: string): Promise<boolean>;

  /** Several fields of one hash, in order (undefined where missing, all undefined without the key). */
  hgetMany(key: string, fields: readonly string[]): Promise<(string | undefined)[]>;
  /**
   * `consume` for a record held in a hash field: the same header claim, on `field` of `key`. With
   * `rest`, the value after the stamp's claim is cut to its next `keep` characters followed by
   * `rest` (a spent record that only needs to be recognised keeps little).
   */
  hconsume(key: string, field: string, stamp: string, options?: { keep: number; rest: string }): Promise<boolean>;
  /**
   * Writes record fields into a hash of records (values that start with a record header: 10 digits
   * of consumed stamp, then 10 digits of expiry in epoch seconds, zeros for none). Fields whose
   * expiry is at or before `now` are dropped first (on Redis incrementally: each write looks at a
   * bounded number of them, and a big hash keeps its scan cursor in the reserved field `#`, which
   * readers ignore). Then, only while the hash holds the field `requires` (when given) and that
   * field's record has not expired, the fields
   * are written and the hash's TTL is extended to `ttl` (never shortened; `ttl: undefined` makes it
   * permanent), as `extend`; otherwise nothing is written and the answer is false. With `claim`,
   * the write also needs that `hconsume` of another field of the hash succeeds, in the same step;
   * with `drop`, it also needs those fields to be there (expired or not: they are checked before
   * pruning), and deletes them in the same step. With `caps` (prefixes that do not overlap): when
   * this write adds a field with a cap's prefix and the hash then holds more than its `max` of them,
   * those with the earliest expiry (none: last; the same expiry: by name) are deleted in the same
   * step until `trimTo` remain, never one this call wrote or claimed.
   */
  hsetRecords(
    key: string,
    fields: Record<string, string>,
    options: { ttl?: number; requires?: string; now: number; claim?: HashClaim; drop?: readonly string[]; caps?: readonly HashCap[] },
  ): Promise<boolean>;

  /**
   * Adds members to a set. `ttl` never shortens the set's life: a new set gets it, an existing set
   * with a shorter remaining TTL is extended, and `ttl: undefined` makes the set permanent.
   */
  sadd(key: string, members: readonly string[], options?: { ttl?: number }): Promise<void>;
  srem(key: string, ...members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  sismember(key: string, member: string): Promise<boolean>;

  /** Answers when the store is reachable; throws the 503 error otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

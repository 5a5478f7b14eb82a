/**
 * The production store driver: the Store contract on Redis through ioredis, standalone, behind
 * Sentinel or on a Cluster. Operations that read and write together are Lua scripts over one key,
 * so they are atomic on the server and valid on a Cluster. The only multi-key commands (MGET, DEL
 * of several keys) are split by hash slot on a Cluster: keys that share a hash tag stay together.
 *
 * Failure policy: no offline queue, no resending after a reconnect, one attempt per command,
 * bounded by `commandTimeout`. A command that could not be sent fails at once with a 503 instead of
 * waiting to be replayed after a reconnect, so a request answered with an error does not take effect
 * later. (A command that reached a live but stalled Redis and then timed out may still run there:
 * its outcome is unknown, as with any store over a network.)
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import type { HostPort } from '../config/index.js';
import { storeUnavailable } from '../errors.js';
import { assertOneCondition, trimSize, type Store } from './store.js';

/**
 * Lua, after a write to KEYS[1] (whose prior existence is in `existed`): a TTL of `ttl` ms ('' for
 * none) that never shortens the key's life: '' makes it permanent, a new key gets it, an existing
 * key with less time left is extended.
 */
const extendTtl = (ttl: string): string => `
    if ${ttl} == '' then
      redis.call('persist', KEYS[1])
    elseif not existed then
      redis.call('pexpire', KEYS[1], ${ttl})
    else
      local current = redis.call('pttl', KEYS[1])
      if current >= 0 and current < tonumber(${ttl}) then redis.call('pexpire', KEYS[1], ${ttl}) end
    end`;

/**
 * `redis.call(command, KEYS[1], ARGV[from..to])` in slices: Lua's unpack of more than about 8,000
 * values fails ("too many results to unpack"). The slices are of an even length, so that hash
 * fields stay with their values.
 */
const inSlices = (command: string, from: string, to: string): string => `
    for i = ${from}, ${to}, 4000 do redis.call('${command}', KEYS[1], unpack(ARGV, i, math.min(i + 3999, ${to}))) end`;

const SCRIPTS = {
  consume: `
    if redis.call('getrange', KEYS[1], 0, #ARGV[1] - 1) ~= string.rep('0', #ARGV[1]) then return 0 end
    redis.call('setrange', KEYS[1], 0, ARGV[1])
    return 1`,
  deleteIfEquals: `
    if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
    return 0`,
  replaceIfEquals: `
    if redis.call('get', KEYS[1]) == ARGV[1] then
      redis.call('set', KEYS[1], ARGV[2], 'KEEPTTL')
      return 1
    end
    return 0`,
  setIfAbsentOr: `
    local current = redis.call('get', KEYS[1])
    if current and current ~= ARGV[1] then return 0 end
    if ARGV[3] == '' then redis.call('set', KEYS[1], ARGV[2]) else redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
    return 1`,
  incrWithTtl: `
    local created = redis.call('exists', KEYS[1]) == 0
    local value = redis.call('incrby', KEYS[1], ARGV[1])
    if ARGV[3] == '1' and value <= 0 then redis.call('del', KEYS[1])
    elseif created and ARGV[2] ~= '' then redis.call('pexpire', KEYS[1], ARGV[2]) end
    return value`,
  hput: `
    local existed = redis.call('exists', KEYS[1]) == 1
    if ARGV[1] == 'replace' then
      redis.call('del', KEYS[1])
      existed = false
    end
    ${inSlices('hset', '3', '#ARGV')}
    if not existed then
      if ARGV[2] ~= '' then redis.call('pexpire', KEYS[1], ARGV[2]) end
    elseif ARGV[1] == 'extend' then
      if ARGV[2] == '' then
        redis.call('persist', KEYS[1])
      else
        local current = redis.call('pttl', KEYS[1])
        if current >= 0 and current < tonumber(ARGV[2]) then redis.call('pexpire', KEYS[1], ARGV[2]) end
      end
    end
    return 1`,
  hconsume: `
    local value = redis.call('hget', KEYS[1], ARGV[1])
    if not value or string.sub(value, 1, #ARGV[2]) ~= string.rep('0', #ARGV[2]) then return 0 end
    local rest = string.sub(value, #ARGV[2] + 1)
    if ARGV[3] == 'cut' then rest = string.sub(rest, 1, tonumber(ARGV[4])) .. ARGV[5] end
    redis.call('hset', KEYS[1], ARGV[1], ARGV[2] .. rest)
    return 1`,
  // Pruning is incremental: each write looks at about 32 members, continuing a scan whose cursor a
  // big hash keeps in its field '#' (a small hash is scanned whole at once), so a write costs the
  // same however many members a grant has gathered.
  hsetRecords: `
    local now = tonumber(ARGV[3])
    local function expired(value)
      local expires = string.sub(value, 11, 20)
      if not string.match(expires, '^%d%d%d%d%d%d%d%d%d%d$') then return false end
      local at = tonumber(expires)
      return at > 0 and at <= now
    end
    -- ARGV: 1–2 requires, 3 now, 4 ttl, 5–8 claim, 9 the number of caps, then a prefix, a maximum,
    -- a size to trim to and a mark field ('' for none) for each, then the number of members to
    -- drop, those members, and the field pairs.
    local caps = tonumber(ARGV[9])
    local dropAt = 10 + 4 * caps
    local drops = tonumber(ARGV[dropAt])
    local pairsAt = dropAt + 1 + drops
    -- The members to drop must be there, expired or not (checked before pruning may take them).
    for i = dropAt + 1, dropAt + drops do
      if redis.call('hexists', KEYS[1], ARGV[i]) == 0 then return 0 end
    end
    local cursor = redis.call('hget', KEYS[1], '#') or '0'
    local scan = redis.call('hscan', KEYS[1], cursor, 'COUNT', 32)
    local members = scan[2]
    for i = 1, #members, 2 do
      if members[i] ~= '#' and expired(members[i + 1]) then redis.call('hdel', KEYS[1], members[i]) end
    end
    if scan[1] ~= '0' then
      -- Only into a hash that pruning left standing: a cursor alone must not recreate the key.
      if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], '#', scan[1]) end
    elseif cursor ~= '0' then
      redis.call('hdel', KEYS[1], '#')
    end
    if ARGV[1] == 'requires' then
      -- The required member must be there and unexpired (this step's pruning may not have reached it).
      local required = redis.call('hget', KEYS[1], ARGV[2])
      if not required or expired(required) then return 0 end
    end
    -- The claim (an hconsume of another member) must succeed for the write to happen: checked,
    -- like everything above, before anything is written.
    local claimed
    if ARGV[5] ~= '' then
      claimed = redis.call('hget', KEYS[1], ARGV[5])
      if not claimed or string.sub(claimed, 1, #ARGV[6]) ~= string.rep('0', #ARGV[6]) then return 0 end
    end
    if claimed then
      redis.call('hset', KEYS[1], ARGV[5], ARGV[6] .. string.sub(claimed, #ARGV[6] + 1, #ARGV[6] + tonumber(ARGV[7])) .. ARGV[8])
    end
    ${inSlices('hdel', 'dropAt + 1', 'dropAt + drops')}
    local existed = redis.call('exists', KEYS[1]) == 1
    ${inSlices('hset', 'pairsAt', '#ARGV')}
    -- The caps, of those whose prefix this write adds to (only they can have grown), and only in a
    -- hash longer than the smallest of them (then the hash is read whole, to count). A cap that is
    -- exceeded trims its members to the size it gives, a little below its maximum, so that a loop
    -- that writes only members of that cap trims once in several writes.
    local written, adding, least = {}, {}, nil
    for i = pairsAt, #ARGV, 2 do written[ARGV[i]] = true end
    if claimed then written[ARGV[5]] = true end
    for c = 1, caps do
      local at = 6 + 4 * c
      local prefix, max = ARGV[at], tonumber(ARGV[at + 1])
      local kept = 0
      for i = pairsAt, #ARGV, 2 do
        if string.sub(ARGV[i], 1, #prefix) == prefix then kept = kept + 1 end
      end
      if kept > 0 then
        adding[#adding + 1] = { prefix, max, tonumber(ARGV[at + 2]), ARGV[at + 3] }
        if not least or max < least then least = max end
      end
    end
    -- Byte order (Lua's own string order follows the server's locale).
    local function before(x, y)
      for i = 1, math.min(#x, #y) do
        local p, q = string.byte(x, i), string.byte(y, i)
        if p ~= q then return p < q end
      end
      return #x < #y
    end
    if least and redis.call('hlen', KEYS[1]) > least then
      local all = redis.call('hgetall', KEYS[1])
      for _, cap in ipairs(adding) do
        local prefix, max, trimTo, mark = cap[1], cap[2], cap[3], cap[4]
        local count, others = 0, {}
        for i = 1, #all, 2 do
          if string.sub(all[i], 1, #prefix) == prefix then
            count = count + 1
            if not written[all[i]] then
              local expires = string.sub(all[i + 1], 11, 20)
              if expires == '0000000000' then expires = '9999999999' end
              others[#others + 1] = { all[i], expires }
            end
          end
        end
        if count > max then
          -- Earliest expiry first; the same expiry by name, byte by byte as the SQLite store does
          -- (Lua's own string order follows the server's locale).
          table.sort(others, function(a, b)
            if a[2] ~= b[2] then return a[2] < b[2] end
            return before(a[1], b[1])
          end)
          local trimmed = math.min(count - trimTo, #others)
          for i = 1, trimmed do redis.call('hdel', KEYS[1], others[i][1]) end
          if mark ~= '' and trimmed > 0 then
            -- The last member trimmed, in the order above (expiry, then name), kept if the mark
            -- already says a later one. (A mark without a name, from before names were kept, is
            -- later than every member of its expiry: '~' sorts after the characters of names.)
            local latest, name = others[trimmed][2], others[trimmed][1]
            local current = redis.call('hget', KEYS[1], mark)
            if current then
              local expires = string.sub(current, 11, 20)
              if expires == '0000000000' then expires = '9999999999' end
              local named = string.match(string.sub(current, 21), '^{"n":"([^"]*)"}$') or '~'
              if expires > latest or (expires == latest and not before(named, name) and named ~= name) then latest, name = expires, named end
            end
            if latest == '9999999999' then latest = '0000000000' end
            redis.call('hset', KEYS[1], mark, '0000000000' .. latest .. '{"n":"' .. name .. '"}')
          end
        end
      end
    end
    ${extendTtl('ARGV[4]')}
    return 1`,
  saddExtend: `
    local existed = redis.call('exists', KEYS[1]) == 1
    ${inSlices('sadd', '2', '#ARGV')}
    ${extendTtl('ARGV[1]')}
    return 1`,
} as const;

type ScriptName = keyof typeof SCRIPTS;

const ms = (ttl: number | undefined): string => (ttl === undefined ? '' : String(Math.max(1, Math.round(ttl * 1000))));

export interface RedisStoreOptions {
  /** The server (standalone), or credentials, TLS and database for Sentinel and Cluster. */
  url: string;
  /** Prefix of every key this store touches (tests use their own). */
  keyPrefix?: string;
  sentinel?: { nodes: HostPort[]; name: string };
  cluster?: { nodes: HostPort[] };
  /** Upper bound of one command, in ms. */
  commandTimeoutMs?: number;
}

/** Credentials, TLS and database of a redis:// or rediss:// URL, for Sentinel and Cluster. */
function urlOptions(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls' | 'db'> {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.slice(1) || '0');
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
  };
}

function connect(options: RedisStoreOptions): Redis | Cluster {
  const timeout = options.commandTimeoutMs ?? 2000;
  const perConnection: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    // Commands issued in the same tick go out in one write (many requests share each write).
    enableAutoPipelining: true,
    // A command whose caller already got an error is never sent again after a reconnect.
    autoResendUnfulfilledCommands: false,
    // After a failover the old master answers READONLY: reconnect (Sentinel names the new one).
    reconnectOnError: (err) => (/^READONLY\b/.test(err.message) ? 1 : false),
    commandTimeout: timeout,
    connectTimeout: timeout,
  };
  const retry = (attempt: number): number => Math.min(attempt * 100, 1000);
  if (options.cluster) {
    const { username, password, tls } = urlOptions(options.url);
    return new Cluster(options.cluster.nodes, {
      keyPrefix: options.keyPrefix ?? '',
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retry,
      enableAutoPipelining: true,
      scaleReads: 'master',
      // A command that failed is never sent again by the client: not after a connection closed
      // (it may have run: a script would run twice, and a caller answered 503 would take effect),
      // nor after CLUSTERDOWN (a delayed retry could take effect after the caller's timeout).
      // Redirections (MOVED, ASK) and TRYAGAIN (a multi-key command during resharding), which mean
      // the command did not run, are still followed, at once (ioredis always retries TRYAGAIN).
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      retryDelayOnTryAgain: 0,
      // ioredis always queues commands for a node connection that is not ready yet. So that none
      // waits there past its caller's timeout: a node connection is ready once connected (a node
      // still loading its data answers LOADING, a 503), and gives up connecting halfway through
      // the command timeout (its queue is then failed, not sent later).
      redisOptions: { ...perConnection, enableReadyCheck: false, connectTimeout: Math.max(100, Math.floor(timeout / 2)), username, password, tls },
    });
  }
  const common: RedisOptions = { ...perConnection, keyPrefix: options.keyPrefix ?? '', enableOfflineQueue: false, retryStrategy: retry };
  if (options.sentinel) {
    return new Redis({
      ...common,
      ...urlOptions(options.url),
      sentinels: options.sentinel.nodes,
      name: options.sentinel.name,
      sentinelRetryStrategy: retry,
      // Follows Sentinel's +switch-master at once instead of waiting for the old master to fail.
      failoverDetector: true,
    });
  }
  return new Redis(options.url, common);
}

/** Keys grouped by Cluster hash slot (of the prefixed key), keeping each key's position. */
function bySlot(prefix: string, keys: readonly string[]): number[][] {
  const groups = new Map<number, number[]>();
  keys.forEach((key, index) => {
    const slot = calculateSlot(prefix + key);
    const group = groups.get(slot);
    if (group) group.push(index);
    else groups.set(slot, [index]);
  });
  return [...groups.values()];
}

/**
 * Replies that mean "not now" rather than "wrong": a replica still answering as it is demoted
 * (READONLY), a server loading its data, a cluster or master that is down or moving slots; and a
 * server that refuses writes until its operator acts (out of memory, failing to persist, too few
 * replicas, authentication): the store is unavailable (503), the request was not wrong (500).
 */
const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|OOM|MISCONF|NOREPLICAS|NOAUTH)\b/;

/** Other errors Redis itself answered (wrong type, script errors) are bugs, not outages. */
const isReplyError = (err: unknown): boolean => err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message);

export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const client = connect(options);
  const clustered = client instanceof Cluster;
  const prefix = options.keyPrefix ?? '';
  // A Cluster answers the same commands as one server (ioredis routes each by its key's slot).
  const redis = client as Redis;
  // Connection errors are reported per command as 503; the client keeps reconnecting on its own.
  // The latest one says why a first connection failed (connect() only says the connection closed).
  let connectionError: unknown;
  client.on('error', (err) => (connectionError = err));
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw storeUnavailable(connectionError ?? err);
  }
  connectionError = undefined;

  const failed = (err: unknown): never => {
    if (isReplyError(err)) throw err;
    throw storeUnavailable(err);
  };
  const call = <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return run().catch(failed);
    } catch (err) {
      return Promise.reject(isReplyError(err) ? (err as Error) : storeUnavailable(err));
    }
  };
  // defineCommand gives EVALSHA with an EVAL fallback, and applies the key prefix to KEYS.
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  const scripts = redis as unknown as Record<ScriptName, (key: string, ...args: (string | number)[]) => Promise<unknown>>;
  const script = (name: ScriptName, key: string, args: (string | number)[]): Promise<unknown> =>
    call(() => scripts[name](key, ...args));

  const store: Store = {
    driver: 'redis',

    async get(key) {
      return (await call(() => redis.get(key))) ?? undefined;
    },

    async getMany(keys) {
      if (keys.length === 0) return [];
      if (!clustered) return (await call(() => redis.mget(...keys))).map((v) => v ?? undefined);
      const values: (string | undefined)[] = new Array<string | undefined>(keys.length);
      await Promise.all(
        bySlot(prefix, keys).map(async (indexes) => {
          const found = await call(() => redis.mget(...indexes.map((i) => keys[i] as string)));
          indexes.forEach((keyIndex, i) => (values[keyIndex] = found[i] ?? undefined));
        }),
      );
      return values;
    },

    async set(key, value, options = {}) {
      const ttl = ms(options.ttl);
      assertOneCondition(options);
      if (options.ifAbsentOr !== undefined) return (await script('setIfAbsentOr', key, [options.ifAbsentOr, value, ttl])) === 1;
      const result = await call(() => {
        if (ttl && options.ifAbsent) return redis.set(key, value, 'PX', ttl, 'NX');
        if (ttl && options.ifPresent) return redis.set(key, value, 'PX', ttl, 'XX');
        if (ttl) return redis.set(key, value, 'PX', ttl);
        if (options.ifAbsent) return redis.set(key, value, 'NX');
        if (options.ifPresent) return redis.set(key, value, 'XX');
        return redis.set(key, value);
      });
      return result === 'OK';
    },

    async del(...keys) {
      if (keys.length === 0) return 0;
      if (!clustered) return call(() => redis.del(...keys));
      const counts = await Promise.all(bySlot(prefix, keys).map((indexes) => call(() => redis.del(...indexes.map((i) => keys[i] as string)))));
      return counts.reduce((sum, n) => sum + n, 0);
    },

    async deleteIfEquals(key, expected) {
      return (await script('deleteIfEquals', key, [expected])) === 1;
    },

    async replaceIfEquals(key, expected, value) {
      return (await script('replaceIfEquals', key, [expected, value])) === 1;
    },

    async expire(key, ttl) {
      return (await call(() => redis.pexpire(key, ms(ttl)))) === 1;
    },

    async ttl(key) {
      const remaining = await call(() => redis.pttl(key));
      return remaining < 0 ? remaining : Math.ceil(remaining / 1000);
    },

    async incr(key, options = {}) {
      return Number(await script('incrWithTtl', key, [options.by ?? 1, ms(options.ttl), options.deleteAtZero ? '1' : '']));
    },

    async hset(key, fields, options = {}) {
      const mode = options.replace ? 'replace' : options.extend ? 'extend' : 'merge';
      await script('hput', key, [mode, ms(options.ttl), ...Object.entries(fields).flat()]);
    },

    async hget(key, field) {
      return (await call(() => redis.hget(key, field))) ?? undefined;
    },

    async hgetall(key) {
      const fields = await call(() => redis.hgetall(key));
      return Object.keys(fields).length === 0 ? undefined : fields;
    },

    async hdel(key, ...fields) {
      if (fields.length === 0) return 0;
      return call(() => redis.hdel(key, ...fields));
    },

    async consume(key, stamp) {
      return (await script('consume', key, [stamp])) === 1;
    },

    async hgetMany(key, fields) {
      if (fields.length === 0) return [];
      return (await call(() => redis.hmget(key, ...fields))).map((v) => v ?? undefined);
    },

    async hconsume(key, field, stamp, options) {
      const cut = options ? ['cut', options.keep, options.rest] : ['keep'];
      return (await script('hconsume', key, [field, stamp, ...cut])) === 1;
    },

    async hsetRecords(key, fields, options) {
      const pairs = Object.entries(fields).flat();
      if (pairs.length === 0) return true;
      const requires = options.requires === undefined ? ['any', ''] : ['requires', options.requires];
      const { claim } = options;
      const claimArgs = claim ? [claim.field, claim.stamp, claim.keep, claim.rest] : ['', '', 0, ''];
      const drop = options.drop ?? [];
      const caps = options.caps ?? [];
      const capArgs = [caps.length, ...caps.flatMap((cap) => [cap.prefix, cap.max, trimSize(cap), cap.mark ?? ''])];
      return (await script('hsetRecords', key, [...requires, Math.floor(options.now), ms(options.ttl), ...claimArgs, ...capArgs, drop.length, ...drop, ...pairs])) === 1;
    },

    async sadd(key, members, options = {}) {
      if (members.length === 0) return;
      await script('saddExtend', key, [ms(options.ttl), ...members]);
    },

    async srem(key, ...members) {
      if (members.length === 0) return 0;
      return call(() => redis.srem(key, ...members));
    },

    async smembers(key) {
      return call(() => redis.smembers(key));
    },

    async sismember(key, member) {
      return (await call(() => redis.sismember(key, member))) === 1;
    },

    async ping() {
      await call(() => redis.ping());
    },

    async close() {
      await client.quit().catch(() => undefined);
      // Also ends what QUIT leaves open (the Sentinel failover detector's subscriptions).
      client.disconnect();
    },
  };
  return store;
}

/**
 * The oidc-provider adapter over the store (contract: node-oidc-provider's example/my_adapter.js
 * and ../shared/oidc-provider-notes.md).
 *
 * Layout (kept small: Redis memory per signed-in session is a sizing number, see bench/README.md):
 *
 * Grant and its tokens: `o:g:{grantId}`  one hash per grant: field `G` holds the grant, fields
 *                       `AT:{n}` and `RT:{n}` its access and refresh tokens, whose ids are
 *                       `{grantId}.{n}` (see `grantTokenIds`). A token's account and app are its
 *                       grant's, so they are not stored twice: they come back from `G` on `find`, read
 *                       in the same command. Codes have their own keys (below) and an index entry
 *                       `AC:{id}` here. The hash lives as long as its longest-lived member; members
 *                       that expired are dropped whenever a member is written. A refresh token's
 *                       `n` ends in a seal (refresh-seal.ts): spent, it leaves the hash, and its
 *                       seal tells a replay of it from an unknown id. At most 100 access and
 *                       100 refresh tokens (GRANT_CAPS): past that, those expiring first go.
 * Other records:        `o:{code}:{id}`  string (sessions, codes, interactions, client credentials).
 * Session uid index:    `o:su:{uid}`  → the session's current id.
 * Account sessions:     `o:as:{accountId}`  hash { uid: '' }.
 * Client grants:        `o:cg:{clientId}:{period}`  hash { grantId: '' }, one per 30 days of grant
 *                       expiry (period = expiry / 30 days): each lives until the end of its period,
 *                       when all its grants have expired, so an app's index never outgrows the grants
 *                       it has alive. A grant destroyed leaves its period's hash at once.
 *
 * A record is a 20-digit header (10 digits of consumed stamp, zeros until consumed; 10 digits of
 * expiry in epoch seconds, zeros for none) followed by the payload as compact JSON, which drops what
 * the key or header already says (`jti`, `kind`, `exp`, and a token's grant) and shortens the longest
 * field names; `find` restores all of it exactly. Indexes are hashes rather than sets because Redis
 * keeps small hashes as compact listpacks (sets of strings are full hash tables before Redis 7.2);
 * a grant's hash, whose values are longer than 64 bytes, is a hash table.
 * Expired members of a grant's hash are pruned as it is written (a bounded number per write, see
 * `Store.hsetRecords`; the field `#` is the store's own).
 *
 * Tokens are written into their grant's hash only while it holds the grant: a token can never
 * outlive the revocation of its grant. `consume` is atomic (the store's claim of a record's header;
 * for a sealed refresh token, its deletion from the grant): of many parallel redemptions of one
 * code or refresh token exactly one succeeds; the others get invalid_grant. Deleting a grant deletes its hash, so its tokens and codes go with it.
 *
 * Writes of a record and its index entries complete before the id is handed to a client, so a
 * record whose index write failed is never known to anyone. Within a request, the tokens written
 * into a grant wait for its end and go out together (see `PendingWrite`), still before its answer.
 */
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { getWithDirectoryVersion, readWithDirectoryVersion, requestMemo } from '../directory/records.js';
import { currentRequest } from '../request-context.js';
import type { HashCap, HashClaim, Store } from '../store/store.js';
import { MAX_SEALED_EXPIRY, type RefreshSeal } from './refresh-seal.js';

/** Models whose records live in their grant's hash (their ids carry the grant id). */
const IN_GRANT = new Set(['AccessToken', 'RefreshToken']);

/** Models with a grant whose records have their own keys and an index entry in the grant's hash. */
const INDEXED = new Set(['AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

const MODEL_CODES: Record<string, string> = {
  AccessToken: 'AT',
  AuthorizationCode: 'AC',
  ClientCredentials: 'CC',
  Grant: 'G',
  Interaction: 'I',
  RefreshToken: 'RT',
  Session: 'S',
};
const modelCode = (model: string): string => MODEL_CODES[model] ?? model;

/** Field names of the provider's payloads, long → short. Short names are upper case: the provider's are camelCase. */
const SHORT: Record<string, string> = {
  accountId: 'A',
  authorizations: 'Z',
  authTime: 'T',
  clientId: 'C',
  codeChallenge: 'H',
  codeChallengeMethod: 'M',
  expiresWithSession: 'X',
  grantId: 'G',
  loginTs: 'L',
  redirectUri: 'R',
  resource: 'E',
  rotations: 'N',
  scope: 'S',
  sessionUid: 'U',
};
const LONG: Record<string, string> = Object.fromEntries(Object.entries(SHORT).map(([long, short]) => [short, long]));

/** The same for the values of a session's `authorizations` (one per app signed into). */
const SHORT_AUTHORIZATION: Record<string, string> = { grantId: 'g', persistsLogout: 'p', sid: 's' };
const LONG_AUTHORIZATION: Record<string, string> = Object.fromEntries(Object.entries(SHORT_AUTHORIZATION).map(([long, short]) => [short, long]));

function renameKeys(value: unknown, names: Record<string, string>, check?: Record<string, string>): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const renamed: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (check && key in check) throw new Error(`authorization field ${key} clashes with a short field name`);
    renamed[names[key] ?? key] = v;
  }
  return renamed;
}

/** `authorizations` of a session, with each app's entry renamed (to short names, or back). */
function mapAuthorizations(value: unknown, names: Record<string, string>, check?: Record<string, string>): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([app, entry]) => [app, renameKeys(entry, names, check)]));
}

/**
 * Seconds an index entry outlives the code it indexes, and before its expiry that a sealed refresh
 * token missing from its grant is no longer taken as spent (clocks of processes differ a little).
 */
const INDEX_MARGIN = 30;

/** Characters of a sealed refresh token's issue time (base 36 milliseconds: enough until 5188). */
const ISSUED_WIDTH = 9;

const STAMP = 10;
const HEADER = 2 * STAMP;
const UNCONSUMED = '0'.repeat(STAMP);
const GRANT_FIELD = 'G';
/**
 * Access tokens one grant keeps: beyond these, the ones expiring first are revoked as a new one is
 * written, down to 90. Every refresh issues an access token that lives its full lifetime (2 h by
 * default), so an app refreshing in a loop would otherwise fill Redis; an app that behaves holds
 * one or two. (On Redis, a token write into a grant of more than 100 members reads the grant whole
 * to count; grants that large are made only by such loops.)
 */
export const ACCESS_TOKEN_CAP: HashCap = { prefix: `${MODEL_CODES.AccessToken}:`, max: 100, trimTo: 90 };
/**
 * Refresh tokens one grant keeps: each sign-in of the same session into the same app starts a
 * chain of its own (30 days), so a sign-in loop would otherwise grow the grant. Beyond these the
 * ones expiring first go, and of those expiring together (every token issued after a grant's first
 * minute expires with the grant) the ones issued first: a sealed token's name begins with when it
 * was issued. The grant's field `RX` keeps the last one trimmed in that order (its expiry and name):
 * a sealed token missing from its grant that comes no later may have been trimmed rather than
 * spent, so it is only not found (no replay, no revocation); one that comes later was spent, and
 * its replay revokes the grant.
 */
export const REFRESH_TOKEN_CAP: HashCap = { prefix: `${MODEL_CODES.RefreshToken}:`, max: 100, trimTo: 90, mark: 'RX' };
const GRANT_CAPS = [ACCESS_TOKEN_CAP, REFRESH_TOKEN_CAP];

/** Payload fields a token in its grant's hash does not store (restored from the key and the grant). */
const FROM_GRANT = ['grantId', 'accountId', 'clientId'] as const;

/**
 * Whether a refresh token (its expiry and field name) comes after the last one its grant's cap
 * trimmed (the mark: that one's expiry, and its name; a mark without a name is later than every
 * name of its expiry), in the order the store trims: expiry, then name byte by byte.
 */
function afterTrimmed(exp: number, field: string, mark: string): boolean {
  const markExp = Number(mark.slice(STAMP, HEADER)) || Infinity;
  if (exp !== markExp) return exp > markExp;
  const name = /^\{"n":"([^"]*)"\}$/.exec(mark.slice(HEADER))?.[1];
  return name !== undefined && field > name;
}

const stamp = (seconds: number | undefined): string =>
  seconds === undefined ? UNCONSUMED : String(Math.floor(seconds)).padStart(STAMP, '0');
const epochNow = (): number => Math.floor(Date.now() / 1000);

/** Store keys of the adapter's records and indexes (tests and the bench read them too). */
export const oidcKeys = {
  record: (model: string, id: string): string => `o:${modelCode(model)}:${id}`,
  grant: (grantId: string): string => `o:g:${grantId}`,
  sessionUid: (uid: string): string => `o:su:${uid}`,
  accountSessions: (accountId: string): string => `o:as:${accountId}`,
  clientGrants: (clientId: string, period: number): string => `o:cg:${clientId}:${period}`,
};

/** Client grant index periods (see the layout above), and how far ahead one may be: grants live at most 10 years. */
const GRANT_INDEX_PERIOD = 30 * 86_400;
export const MAX_GRANT_SECONDS = 3650 * 86_400;
const grantPeriod = (exp: number): number => Math.floor(exp / GRANT_INDEX_PERIOD);

/** Where a record is kept: its own key, or a field of its grant's hash. */
export function recordLocation(model: string, id: string): { key: string; field?: string } {
  const token = IN_GRANT.has(model) ? splitTokenId(id) : undefined;
  if (token) return { key: oidcKeys.grant(token.grantId), field: `${modelCode(model)}:${token.n}` };
  if (model === 'Grant') return { key: oidcKeys.grant(id), field: GRANT_FIELD };
  return { key: oidcKeys.record(model, id) };
}

/** `{grantId}.{n}` → its parts (grant ids and the random part never contain a dot). */
function splitTokenId(id: string): { grantId: string; n: string } | undefined {
  const dot = id.indexOf('.');
  if (dot <= 0 || dot === id.length - 1 || id.indexOf('.', dot + 1) !== -1) return undefined;
  return { grantId: id.slice(0, dot), n: id.slice(dot + 1) };
}

/**
 * Ids of access tokens, refresh tokens and codes become `{grantId}.{n}`, where `n` is the id the
 * provider made (as random as configured: 256 bits by default), so the adapter finds a token's
 * grant from its id alone. With `seal`, a refresh token's `n` also ends in its seal (its expiry and
 * a MAC, see refresh-seal.ts), and the token's expiry is fixed here to the one sealed.
 */
export function grantTokenIds(provider: Provider, seal?: RefreshSeal): void {
  type Token = { grantId?: string; format?: string; exp?: number; expiration?: number };
  type WithTokenId = { generateTokenId(this: Token): string };
  for (const model of [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode]) {
    const prototype = model.prototype as unknown as WithTokenId;
    const original = prototype.generateTokenId;
    if (typeof original !== 'function') throw new Error('oidc-provider no longer has generateTokenId');
    const sealed = seal && model === provider.RefreshToken ? seal : undefined;
    prototype.generateTokenId = function generateTokenId(this: Token): string {
      const id = original.call(this);
      if (typeof this.grantId !== 'string' || this.grantId.includes('.') || this.format === 'jwt' || id.includes('.')) return id;
      if (sealed) {
        // The expiry the provider would give it at save (now + its TTL), fixed now so that the
        // record and the seal say the same.
        const exp = this.exp ?? (typeof this.expiration === 'number' ? epochNow() + this.expiration : undefined);
        if (exp !== undefined && exp <= MAX_SEALED_EXPIRY) {
          this.exp = exp;
          // Begins with when it was issued (milliseconds, base 36, fixed width: names sort in
          // issue order), covered by the seal's MAC as the rest of the name.
          const named = `${Date.now().toString(36).padStart(ISSUED_WIDTH, '0')}${id}`;
          return `${this.grantId}.${named}${sealed.seal(this.grantId, named, exp)}`;
        }
      }
      return `${this.grantId}.${id}`;
    };
  }
}

/**
 * Drops from an account's session index the sessions that ended on their own (their uid index
 * expired), except `own`. One whose uid index comes back meanwhile (the same session under a new
 * id: a sign-in writes the uid index before the account's entry) is put back (for `ttl` at least,
 * as the sign-in's own entry), so a live session never leaves the index for good.
 */
export async function pruneEndedSessions(store: Store, accountId: string, own: string, ttl: number | undefined): Promise<void> {
  const key = oidcKeys.accountSessions(accountId);
  const uids = Object.keys((await store.hgetall(key)) ?? {}).filter((uid) => uid !== own);
  if (uids.length === 0) return;
  const indexed = async (candidates: string[]) => {
    const ids = await store.getMany(candidates.map(oidcKeys.sessionUid));
    return candidates.filter((_uid, i) => ids[i] !== undefined);
  };
  const live = new Set(await indexed(uids));
  const ended = uids.filter((uid) => !live.has(uid));
  if (ended.length === 0) return;
  await store.hdel(key, ...ended);
  const back = await indexed(ended);
  if (back.length > 0) await store.hset(key, Object.fromEntries(back.map((uid) => [uid, ''])), { ttl, extend: true });
}

/** Every live session (by uid) of an account, for "sign out everywhere" and disabled users. */
export async function accountSessionUids(store: Store, accountId: string): Promise<string[]> {
  return Object.keys((await store.hgetall(oidcKeys.accountSessions(accountId))) ?? {});
}

/** The keys of an app's grant index: every period a live grant may expire in (and the layout before periods). */
export function clientGrantKeys(clientId: string): string[] {
  const now = epochNow();
  const periods: string[] = [`o:cg:${clientId}`];
  for (let period = grantPeriod(now); period <= grantPeriod(now + MAX_GRANT_SECONDS); period += 1) periods.push(oidcKeys.clientGrants(clientId, period));
  return periods;
}

/** Every grant of an app, so that deleting the app revokes everything issued to it. */
export async function clientGrantIds(store: Store, clientId: string): Promise<string[]> {
  const indexes = await Promise.all(clientGrantKeys(clientId).map((key) => store.hgetall(key)));
  return [...new Set(indexes.flatMap((index) => Object.keys(index ?? {})))];
}

export function encodeRecord(model: string, id: string, payload: AdapterPayload, omit: readonly string[] = []): string {
  const compact: Record<string, unknown> = {};
  let expires: number | undefined;
  for (const [field, value] of Object.entries(payload)) {
    if ((field === 'jti' && value === id) || (field === 'kind' && value === model) || omit.includes(field)) continue;
    if (field === 'exp' && Number.isSafeInteger(value) && (value as number) > 0 && (value as number) < 1e10) {
      expires = value as number;
      continue;
    }
    if (field in LONG) throw new Error(`payload field ${field} clashes with a short field name`);
    compact[SHORT[field] ?? field] = field === 'authorizations' ? mapAuthorizations(value, SHORT_AUTHORIZATION, LONG_AUTHORIZATION) : value;
  }
  return UNCONSUMED + stamp(expires) + JSON.stringify(compact);
}

/**
 * Whether a stored value is a record of this layout (a 20-digit header, then JSON). Records of the
 * layout before it (a 10-digit header) live under the same keys until they expire: not found.
 */
function isRecord(value: string): boolean {
  const at = (i: number): number => value.charCodeAt(i);
  return at(HEADER) === 0x7b && at(STAMP) >= 0x30 && at(STAMP) <= 0x39 && at(0) >= 0x30 && at(0) <= 0x39;
}

export function decodeRecord(model: string, id: string, value: string, restore?: Record<string, unknown>): AdapterPayload {
  const compact = JSON.parse(value.slice(HEADER)) as Record<string, unknown>;
  const payload: Record<string, unknown> = { jti: id, kind: model, ...restore };
  for (const field in compact) {
    const long = LONG[field] ?? field;
    payload[long] = long === 'authorizations' ? mapAuthorizations(compact[field], LONG_AUTHORIZATION) : compact[field];
  }
  const consumed = value.slice(0, STAMP);
  if (consumed !== UNCONSUMED) payload.consumed = Number(consumed);
  const expires = value.slice(STAMP, HEADER);
  if (expires !== UNCONSUMED) payload.exp = Number(expires);
  return payload as AdapterPayload;
}

/** A spent refresh token only needs to be recognised (a replay revokes its grant) until it would
 * have expired: one whose id has no seal (issued before seals, or without the provider's
 * generateTokenId) keeps its header (consumed, expiry) and nothing else. */
const SPENT = { keep: STAMP, rest: '{}' };

/**
 * What a request writes into grant hashes, held until the request ends: each grant's new tokens
 * and the consume of the refresh token they replace go out together as one atomic write (one
 * round trip for a refresh or a code exchange, instead of one per token), before the answer that
 * hands them out leaves. A request that fails writes none of it.
 */
interface PendingWrite {
  store: Store;
  grantId: string;
  key: string;
  fields: Record<string, string>;
  /** The hash's TTL the write needs: the longest of its tokens' (undefined: none yet; null: permanent). */
  ttl: number | null | undefined;
  claim?: HashClaim;
  /** Index entries of the codes this request redeems: the write needs them there, and drops them. */
  drop: string[];
  /** The field of the sealed refresh token this request rotates out: needed there, and dropped. */
  spend?: string;
}
const PENDING = 'oidc-pending';

/** Set once a request's writes are settled: anything it writes after that is written at once. */
const SETTLED = 'oidc-settled';

/** This request's pending writes (undefined outside a request, or once they were settled). */
function pendingWrites(): PendingWrite[] | undefined {
  const memo = requestMemo();
  if (!memo || memo.has(SETTLED)) return undefined;
  let pending = memo.get(PENDING) as PendingWrite[] | undefined;
  if (!pending) memo.set(PENDING, (pending = []));
  return pending;
}

function pendingWrite(pending: PendingWrite[], store: Store, grantId: string): PendingWrite {
  const key = oidcKeys.grant(grantId);
  let write = pending.find((w) => w.key === key);
  if (!write) pending.push((write = { store, grantId, key, fields: {}, ttl: undefined, drop: [] }));
  return write;
}

const longerTtl = (a: number | null | undefined, b: number | undefined): number | null =>
  b === undefined || a === null ? null : a === undefined ? b : Math.max(a, b);

/** Callbacks that run once this request's writes are done (see `afterWrites`). */
const AFTER = 'oidc-after';

/**
 * Runs `fn` once the current request's pending writes succeeded (at once outside a request);
 * never when they, or the request, failed. What counts issued tokens uses it.
 */
export function afterWrites(fn: () => void): void {
  const memo = requestMemo();
  if (!memo || memo.has(SETTLED)) return fn();
  const after = memo.get(AFTER) as (() => void)[] | undefined;
  if (after) after.push(fn);
  else memo.set(AFTER, [fn]);
}

/**
 * At the end of a request: when it succeeded, its pending writes are done now (before its answer
 * leaves; a write refused because the grant was revoked, or its refresh token or code redeemed by
 * another request, meanwhile throws invalid_grant, which then becomes the answer), and what waited
 * for them runs. When it failed, all of it is dropped, so a request that issued nothing leaves its
 * refresh token or code usable for a retry.
 */
export async function settleWrites(succeeded: boolean): Promise<void> {
  const memo = requestMemo();
  if (!memo || memo.has(SETTLED)) return;
  memo.set(SETTLED, true);
  const pending = (memo.get(PENDING) as PendingWrite[] | undefined)?.splice(0) ?? [];
  const after = (memo.get(AFTER) as (() => void)[] | undefined)?.splice(0) ?? [];
  if (!succeeded) return;
  const now = epochNow();
  const written = await Promise.all(
    pending.map(({ store, key, fields, ttl, claim, drop, spend }) => {
      const drops = spend === undefined ? drop : [...drop, spend];
      if (Object.keys(fields).length === 0) {
        // Nothing written: a consume, or a code's redemption, that no token write carried is done
        // on its own (and fails the request when another request was first).
        const consumed = claim ? store.hconsume(key, claim.field, claim.stamp, { keep: claim.keep, rest: claim.rest }) : Promise.resolve(true);
        return consumed.then(async (ok) => ok && (drops.length === 0 || (await store.hdel(key, ...drops)) === drops.length));
      }
      return store.hsetRecords(key, fields, { ttl: ttl ?? undefined, requires: GRANT_FIELD, now, claim, drop: drops, caps: GRANT_CAPS });
    }),
  );
  const refused = pending.filter((_, i) => !written[i]);
  if (refused.length > 0) {
    // A code whose entry went while this redemption ran was redeemed by another request (or its
    // grant's codes revoked): as for any replay, the grant goes, with what the other one issued.
    await Promise.all(refused.filter((w) => w.drop.length > 0).map((w) => new StoreAdapter(w.store, 'Grant').destroy(w.grantId)));
    throw new errors.InvalidGrant('grant request is invalid');
  }
  for (const fn of after) fn();
}

/** Whether a record's header says it expired. */
function expired(record: string): boolean {
  const expires = Number(record.slice(STAMP, HEADER));
  return expires > 0 && expires * 1000 <= Date.now();
}

/** The grant's record as read along with a token in this request, if it was (undefined: not read). */
const memoKey = (grantId: string): string => `oidc-grant:${grantId}`;
function rememberGrant(grantId: string, raw: string | undefined): void {
  requestMemo()?.set(memoKey(grantId), raw ?? null);
}
function recalledGrant(grantId: string): string | null | undefined {
  return requestMemo(false)?.get(memoKey(grantId)) as string | null | undefined;
}

export class StoreAdapter implements Adapter {
  private readonly code: string;

  /** Seals of refresh token ids (see refresh-seal.ts): only for the RefreshToken model. */
  private readonly seal: RefreshSeal | undefined;

  constructor(
    private readonly store: Store,
    private readonly model: string,
    seal?: RefreshSeal,
  ) {
    this.code = modelCode(model);
    this.seal = model === 'RefreshToken' ? seal : undefined;
  }

  /**
   * Until when a refresh token that is not in its grant was valid, when its id carries Atrium's
   * seal: such a token was spent (rotated out), and a replay of it before that time must revoke
   * its grant. Undefined for any other id, and once that time has passed.
   */
  private spentUntil(grantId: string, n: string, trimmed: string | undefined): number | undefined {
    const exp = this.seal?.open(grantId, n);
    // Not in its last INDEX_MARGIN seconds: a process whose clock is ahead may already have pruned
    // the token as expired, and an expired token is not spent. Nor when the grant's refresh tokens
    // were trimmed (REFRESH_TOKEN_CAP) up to a later expiry: it may be one of those.
    if (exp === undefined || (exp - INDEX_MARGIN) * 1000 <= Date.now()) return undefined;
    return trimmed !== undefined && !expired(trimmed) && !afterTrimmed(exp, `${REFRESH_TOKEN_CAP.prefix}${n}`, trimmed) ? undefined : exp;
  }

  private key(id: string): string {
    return oidcKeys.record(this.model, id);
  }

  /** The grant hash field of a token in its grant, when `id` is one. */
  private inGrant(id: string): { key: string; field: string; grantId: string; n: string } | undefined {
    if (!IN_GRANT.has(this.model)) return undefined;
    const parts = splitTokenId(id);
    return parts && { key: oidcKeys.grant(parts.grantId), field: `${this.code}:${parts.n}`, grantId: parts.grantId, n: parts.n };
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
    // Saved after its expiry (the provider saves an interaction's result with what is left of its
    // lifetime, which may be nothing): it is gone, and written without a TTL it would never go.
    if (typeof expiresIn === 'number' && expiresIn <= 0) return;
    const ttl = expiresIn && expiresIn > 0 ? expiresIn : undefined;
    const now = epochNow();
    if (this.model === 'Grant') {
      const record = encodeRecord(this.model, id, payload);
      // A grant this request found is saved back only while it still exists: a revocation that
      // came in between must not be undone (a new grant, never found, is simply written).
      const requires = typeof recalledGrant(id) === 'string' ? GRANT_FIELD : undefined;
      const writes: Promise<boolean | void>[] = [this.store.hsetRecords(oidcKeys.grant(id), { [GRANT_FIELD]: record }, { ttl, now, requires })];
      const exp = typeof payload.exp === 'number' ? payload.exp : ttl === undefined ? undefined : now + ttl;
      if (payload.clientId && exp !== undefined) {
        // The period of the expiry the record holds, as its destruction computes it.
        const period = grantPeriod(exp);
        // Until its period ends: every grant in it has expired by then.
        writes.push(this.store.hset(oidcKeys.clientGrants(payload.clientId, period), { [id]: '' }, { ttl: (period + 1) * GRANT_INDEX_PERIOD - now, extend: true }));
      }
      const [written] = await Promise.all(writes);
      if (!written) {
        rememberGrant(id, undefined);
        throw new GrantRevoked();
      }
      rememberGrant(id, record);
      return;
    }
    const inGrant = this.inGrant(id);
    if (inGrant && payload.grantId === inGrant.grantId) {
      const record = encodeRecord(this.model, id, payload, FROM_GRANT);
      const pending = pendingWrites();
      if (pending) {
        // Within a request: written at its end, with the grant's other writes (see PendingWrite).
        const write = pendingWrite(pending, this.store, inGrant.grantId);
        write.fields[inGrant.field] = record;
        write.ttl = longerTtl(write.ttl, ttl);
        return;
      }
      const written = await this.store.hsetRecords(inGrant.key, { [inGrant.field]: record }, { ttl, requires: GRANT_FIELD, now, caps: GRANT_CAPS });
      if (!written) throw new errors.InvalidGrant('grant request is invalid');
      return;
    }
    if (payload.grantId && (INDEXED.has(this.model) || IN_GRANT.has(this.model))) {
      // The index entry first, and only into a live grant: a code is never written for a grant
      // that was revoked meanwhile. Its header carries the code's expiry and a margin, so it is
      // dropped after, and never before the code expires, even by a process whose clock is ahead
      // (a code found without its entry counts as redeemed).
      const entry = UNCONSUMED + stamp(ttl === undefined ? undefined : now + Math.ceil(ttl) + INDEX_MARGIN);
      const indexed = await this.store.hsetRecords(oidcKeys.grant(payload.grantId), { [`${this.code}:${id}`]: entry }, { ttl, requires: GRANT_FIELD, now });
      if (!indexed) throw new errors.InvalidGrant('grant request is invalid');
    }
    // An interaction or session this request found is saved back only while it still exists: the
    // form of a sign-in that another request resumed (and so ended) meanwhile must not bring it back
    // with the result this request adds (its resume cookie would give a second code); nor may a
    // session ended meanwhile (signed out, everywhere or by an admin, or replaced by a new id at
    // sign-in) come back, as every request that found it saves it at its end.
    const update = FOUND.has(this.model) && requestMemo(false)?.get(foundKey(this.model, id)) === true;
    // Nor may a new id of a session that this request found and that was ended meanwhile (see destroy).
    if (this.model === 'Session' && !update && typeof payload.uid === 'string' && requestMemo(false)?.get(endedUidKey(payload.uid)) === true) return;
    const saved = this.store.set(this.key(id), encodeRecord(this.model, id, payload), update ? { ttl, ifPresent: true } : { ttl });
    if (update && !(await saved)) {
      if (this.model === 'Interaction') throw new errors.SessionNotFound('interaction session not found');
      return;
    }
    const writes: Promise<unknown>[] = [saved];
    if (this.model === 'Session' && payload.uid) {
      // A session saved back keeps its uid index only while that still names it: a sign-in may have
      // moved the session to a new id meanwhile (oidc-provider's resetIdentifier), whose index entry
      // must not be pointed back at this one (that would hide the live session from sign-out
      // everywhere and from admins). A new session, or a new id, takes the index.
      const uidIndexed = this.store.set(oidcKeys.sessionUid(payload.uid), id, update ? { ttl, ifAbsentOr: id } : { ttl });
      const { uid, accountId } = payload as { uid: string; accountId?: string };
      // The account's index after the uid index: an account entry is never there before its uid
      // index (pruneEndedSessions relies on it).
      writes.push(accountId ? uidIndexed.then(() => this.store.hset(oidcKeys.accountSessions(accountId), { [uid]: '' }, { ttl, extend: true })) : uidIndexed);
      // A new id of an account's session is a sign-in: the time to drop the account's sessions that
      // ended on their own (an account signed in around the clock would otherwise gather them).
      if (!update && accountId) writes.push(writes.at(-1)!.then(() => pruneEndedSessions(this.store, accountId, uid, ttl)));
    }
    await Promise.all(writes);
  }

  /**
   * Starts `find(id)` now, for this request's next `find(id)` to take (see `prefetchCredential`).
   * Whatever it finds is what `find` would find at this moment: the redemption that follows is
   * decided by the atomic write at the end of the request, as without it.
   */
  prefetch(id: string): void {
    const memo = requestMemo();
    const key = prefetchKey(this.model, id);
    if (!memo || memo.has(key)) return;
    const read = this.read(id);
    // Taken by the request's next find, or never (its client failed to authenticate): a failure
    // then must not go unhandled.
    read.catch(() => undefined);
    memo.set(key, read);
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    const memo = requestMemo(false);
    const key = memo && prefetchKey(this.model, id);
    const early = key === undefined ? undefined : memo!.get(key);
    if (early instanceof Promise) {
      // Once: a later find reads again (the token may be spent by then), and a later find of the
      // client starts no second read.
      memo!.set(key!, TAKEN);
      return early as Promise<AdapterPayload | undefined>;
    }
    return this.read(id);
  }

  private async read(id: string): Promise<AdapterPayload | undefined> {
    if (this.model === 'Grant') {
      let raw = recalledGrant(id);
      if (raw === undefined) {
        raw = (await readWithDirectoryVersion(this.store, () => this.store.hget(oidcKeys.grant(id), GRANT_FIELD))) ?? null;
        rememberGrant(id, raw ?? undefined);
      }
      return raw === null ? undefined : decodeRecord(this.model, id, raw);
    }
    const inGrant = this.inGrant(id);
    if (inGrant) {
      const [grant, token, trimmed] = await readWithDirectoryVersion(this.store, () =>
        this.store.hgetMany(inGrant.key, this.seal ? [GRANT_FIELD, inGrant.field, REFRESH_TOKEN_CAP.mark!] : [GRANT_FIELD, inGrant.field]),
      );
      rememberGrant(inGrant.grantId, grant);
      if (grant === undefined) return undefined;
      // A member of a hash outlives its expiry until the hash is next written: not found, as a key.
      if (token !== undefined && expired(token)) return undefined;
      // A sealed refresh token missing from its live grant was spent (rotated out).
      const spentUntil = token === undefined ? this.spentUntil(inGrant.grantId, inGrant.n, trimmed) : undefined;
      if (token === undefined && spentUntil === undefined) return undefined;
      // Only the grant's account, app and scope are needed here (Grant.find decodes it in full).
      const { [SHORT.accountId!]: accountId, [SHORT.clientId!]: clientId, openid } = JSON.parse(grant.slice(HEADER)) as Record<string, unknown> & { openid?: { scope?: string } };
      const restore = { grantId: inGrant.grantId, accountId, clientId };
      const payload =
        token === undefined
          ? ({ jti: id, kind: this.model, ...restore, exp: spentUntil, consumed: epochNow() } as AdapterPayload)
          : decodeRecord(this.model, id, token, restore);
      // A spent refresh token keeps no scope: it answers with its grant's (a superset), so that a
      // replay asking for any of those scopes reaches the reuse check and revokes the grant.
      if (payload.consumed && payload.scope === undefined && openid?.scope) payload.scope = openid.scope;
      return payload;
    }
    // A code names its grant: the grant and the code's index entry there are read in the same
    // round trip, for the redemption that follows in this request (Grant.find then answers from the
    // request's memo).
    const grantId = INDEXED.has(this.model) ? splitTokenId(id)?.grantId : undefined;
    const [value, indexed] = await Promise.all([
      getWithDirectoryVersion(this.store, this.key(id)),
      grantId ? this.store.hgetMany(oidcKeys.grant(grantId), [GRANT_FIELD, `${this.code}:${id}`]) : undefined,
    ]);
    if (grantId && indexed && recalledGrant(grantId) === undefined) rememberGrant(grantId, indexed[0]);
    if (value === undefined || !isRecord(value)) return undefined;
    if (FOUND.has(this.model)) requestMemo()?.set(foundKey(this.model, id), true);
    const payload = decodeRecord(this.model, id, value);
    if (this.model === 'Session' && typeof payload.uid === 'string') requestMemo()?.set(foundUidKey(id), payload.uid);
    // A code redeemed within a request leaves its grant's index (see consume) and keeps its record
    // until it expires, so that a replay is recognised as one and revokes the grant.
    if (indexed?.[0] !== undefined && indexed[1] === undefined && payload.consumed === undefined) payload.consumed = epochNow();
    return payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.get(oidcKeys.sessionUid(uid));
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined; // the device flow is not enabled
  }

  async consume(id: string): Promise<void> {
    const now = stamp(epochNow());
    const inGrant = this.inGrant(id);
    if (inGrant && this.seal?.open(inGrant.grantId, inGrant.n) !== undefined) {
      // A sealed refresh token is spent by taking it out of its grant (its seal tells a replay).
      const pending = pendingWrites();
      const write = pending && pendingWrite(pending, this.store, inGrant.grantId);
      if (write && write.spend === undefined) {
        // Within a request, with the write of the token replacing it: of parallel rotations of
        // one token one write succeeds, the others get invalid_grant.
        write.spend = inGrant.field;
        return;
      }
      if ((await this.store.hdel(inGrant.key, inGrant.field)) !== 1) throw new errors.InvalidGrant('grant request is invalid');
      return;
    }
    if (inGrant) {
      const pending = pendingWrites();
      const write = pending && pendingWrite(pending, this.store, inGrant.grantId);
      if (write && !write.claim) {
        // Within a request, the claim goes out with the request's writes into the same grant (the
        // refresh token that replaces this one), atomically: that write fails with invalid_grant
        // when another request consumed the token first.
        write.claim = { field: inGrant.field, stamp: now, ...SPENT };
        return;
      }
      if (!(await this.store.hconsume(inGrant.key, inGrant.field, now, SPENT))) throw new errors.InvalidGrant('grant request is invalid');
      return;
    }
    const grantId = INDEXED.has(this.model) ? splitTokenId(id)?.grantId : undefined;
    const pending = grantId ? pendingWrites() : undefined;
    if (grantId && pending) {
      // Within a request, redeeming a code is taking its entry out of its grant's index, in the
      // write of the tokens it is exchanged for, which needs the entry still there: of parallel
      // redemptions one write succeeds, the others get invalid_grant; so does one that a
      // revocation of the grant's tokens and codes (Atrium's revocations take the grant too) came
      // before. A code found without its entry is consumed (see find).
      pendingWrite(pending, this.store, grantId).drop.push(`${this.code}:${id}`);
      return;
    }
    if (!(await this.store.consume(this.key(id), now))) throw new errors.InvalidGrant('grant request is invalid');
    // A consumed code can no longer be redeemed: its grant no longer needs to find it. Best effort:
    // an entry left behind is dropped when the code expires.
    if (grantId) void this.store.hdel(oidcKeys.grant(grantId), `${this.code}:${id}`).catch(() => undefined);
  }

  async destroy(id: string): Promise<void> {
    if (FOUND.has(this.model)) requestMemo(false)?.delete(foundKey(this.model, id));
    if (this.model === 'Grant') {
      // The grant goes with everything it handed out: its tokens (in its hash) and its codes.
      const members = Object.entries((await this.store.hgetall(oidcKeys.grant(id))) ?? {});
      await this.store.del(oidcKeys.grant(id), ...members.flatMap(([member, value]) => ownKeyOf(member, value) ?? []));
      rememberGrant(id, undefined);
      // And it leaves its app's index.
      const grant = members.find(([member]) => member === GRANT_FIELD)?.[1];
      const { clientId, exp } = grant ? decodeRecord(this.model, id, grant) : {};
      if (typeof clientId === 'string' && typeof exp === 'number') await this.store.hdel(oidcKeys.clientGrants(clientId, grantPeriod(exp)), id);
      return;
    }
    const inGrant = this.inGrant(id);
    if (inGrant) {
      await this.store.hdel(inGrant.key, inGrant.field);
      return;
    }
    if (this.model === 'Session') {
      const memo = requestMemo(false);
      const foundUid = memo?.get(foundUidKey(id));
      const session = await this.find(id);
      // Found by this request and gone now: ended by another request meanwhile (signed out, by an
      // admin). This request's new id of it (oidc-provider's resetIdentifier: destroy the old id,
      // then save the new) must not bring it back: see upsert.
      if (!session && typeof foundUid === 'string') memo?.set(endedUidKey(foundUid), true);
      // The uid index may already point at a newer id of the same session: leave that one alone.
      if (session?.uid && (await this.store.deleteIfEquals(oidcKeys.sessionUid(session.uid), id)) && session.accountId) {
        await this.store.hdel(oidcKeys.accountSessions(session.accountId), session.uid);
      }
    }
    await this.store.del(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const prefix = `${this.code}:`;
    const index = oidcKeys.grant(grantId);
    const mine = Object.entries((await this.store.hgetall(index)) ?? {}).filter(([member]) => member.startsWith(prefix));
    if (mine.length === 0) return;
    const ownKeys = mine.flatMap(([member, value]) => ownKeyOf(member, value) ?? []);
    if (ownKeys.length > 0) await this.store.del(...ownKeys);
    await this.store.hdel(index, ...mine.map(([member]) => member));
  }
}

/**
 * The key of a record that a grant's hash only indexes (a code: member `AC:{id}`, a bare header as
 * value), or undefined for a record held in the hash itself.
 */
function ownKeyOf(member: string, value: string): string | undefined {
  return value.length === HEADER && member.includes(':') ? `o:${member}` : undefined;
}

/** Thrown when a grant found earlier in the request is saved back after it was revoked. */
export class GrantRevoked extends errors.InvalidGrant {
  constructor() {
    super('grant request is invalid');
    this.error_detail = 'the grant was revoked meanwhile';
  }
}

class ClientAdapter implements Adapter {
  constructor(
    private readonly source: ClientSource,
    private readonly beforeFind: () => void = () => undefined,
  ) {}

  find(id: string): Promise<AdapterPayload | undefined> {
    this.beforeFind();
    return this.source(id);
  }

  async upsert(): Promise<void> {
    throw new Error('clients are managed in the app directory');
  }

  async destroy(): Promise<void> {
    throw new Error('clients are managed in the app directory');
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<void> {}

  async revokeByGrantId(): Promise<void> {}
}

/** Serves the `Client` model read-only from the app directory. */
export type ClientSource = (clientId: string) => Promise<AdapterPayload | undefined>;

const prefetchKey = (model: string, id: string): string => `oidc-prefetch:${model}:${id}`;
/** Marks an interaction or session this request found (see `upsert`). */
const FOUND = new Set(['Interaction', 'Session']);
const foundKey = (model: string, id: string): string => `oidc-found:${model}:${id}`;
/** The uid of a session this request found (by id), and the uids of those it found ended since. */
const foundUidKey = (id: string): string => `oidc-found-uid:${id}`;
const endedUidKey = (uid: string): string => `oidc-ended-uid:${uid}`;
/** A prefetched read that a find took. */
const TAKEN = Symbol('taken');

/** The grant types whose token request redeems a credential of this model, named by this parameter. */
const CREDENTIALS = new Map([
  ['authorization_code', { model: 'AuthorizationCode', param: 'code' }],
  ['refresh_token', { model: 'RefreshToken', param: 'refresh_token' }],
]);

/**
 * The provider's `adapter` setting: one adapter per model name.
 *
 * A token request finds its client (whose record comes from the directory's cache, checked against
 * the directory version: one read) before the code or refresh token it redeems (another read). The
 * client's adapter starts the credential's read too, in the same tick, so that both go to Redis in
 * one round trip (auto-pipelining), the directory version along with the credential.
 */
export function createAdapterFactory(store: Store, clients: ClientSource, seal?: RefreshSeal): (model: string) => Adapter {
  const adapters = new Map<string, StoreAdapter>();
  const adapterOf = (model: string): StoreAdapter => {
    let adapter = adapters.get(model);
    if (!adapter) adapters.set(model, (adapter = new StoreAdapter(store, model, seal)));
    return adapter;
  };
  const prefetchCredential = (): void => {
    const oidc = (currentRequest() as { oidc?: { route?: string; params?: Record<string, unknown> } } | undefined)?.oidc;
    if (oidc?.route !== 'token' || !oidc.params) return;
    const credential = CREDENTIALS.get(String(oidc.params.grant_type));
    if (!credential) return;
    const id = oidc.params[credential.param];
    if (typeof id === 'string' && id !== '' && id.length <= MAX_PREFETCHED_ID) adapterOf(credential.model).prefetch(id);
  };
  return (model) => (model === 'Client' ? new ClientAdapter(clients, prefetchCredential) : adapterOf(model));
}

/** Longer ids are not Atrium's (its codes and refresh tokens are under 200 characters): no read. */
const MAX_PREFETCHED_ID = 512;

/**
 * The oidc-provider adapter over the store (contract: node-oidc-provider's example/my_adapter.js
 * and ../shared/oidc-provider-notes.md).
 *
 * Layout (kept small: Redis memory per signed-in session is a sizing number, see bench/README.md):
 *
 * Record of a model:    `o:{code}:{id}`  string: a 10-digit consumed header (zeros until consumed,
 *                       then the epoch second), followed by the payload as compact JSON.
 * Grant index:          `o:gi:{grantId}`  hash { `{code}:{id}`: '' } of the grant's codes and tokens;
 *                       its TTL is extended to outlive each member.
 * Session uid index:    `o:su:{uid}`  → the session's current id.
 * Account sessions:     `o:as:{accountId}`  hash { uid: '' }.
 * Client grants:        `o:cg:{clientId}`  hash { grantId: '' }.
 *
 * Indexes are hashes rather than sets because Redis keeps small hashes as compact listpacks (sets of
 * strings are full hash tables before Redis 7.2). Compact JSON drops `jti` and `kind` (they are the
 * record's id and model) and shortens the longest field names; `find` restores both exactly.
 *
 * `consume` is the store's atomic header claim: of many parallel redemptions of one code or refresh
 * token exactly one succeeds; the others get invalid_grant.
 *
 * Writes of a record and its index entries go out together: the id is handed to a client only after
 * all of them succeeded, so a record whose index write failed is never known to anyone.
 */
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { getWithDirectoryVersion } from '../directory/records.js';
import type { Store } from '../store/store.js';

const GRANT_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

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

const UNCONSUMED = '0000000000';
const HEADER = UNCONSUMED.length;

/** Store keys of the adapter's records and indexes (tests and the bench read them too). */
export const oidcKeys = {
  record: (model: string, id: string): string => `o:${modelCode(model)}:${id}`,
  grant: (grantId: string): string => `o:gi:${grantId}`,
  sessionUid: (uid: string): string => `o:su:${uid}`,
  accountSessions: (accountId: string): string => `o:as:${accountId}`,
  clientGrants: (clientId: string): string => `o:cg:${clientId}`,
};

/** Every live session (by uid) of an account, for "sign out everywhere" and disabled users. */
export async function accountSessionUids(store: Store, accountId: string): Promise<string[]> {
  return Object.keys((await store.hgetall(oidcKeys.accountSessions(accountId))) ?? {});
}

/** Every grant of an app, so that deleting the app revokes everything issued to it. */
export async function clientGrantIds(store: Store, clientId: string): Promise<string[]> {
  return Object.keys((await store.hgetall(oidcKeys.clientGrants(clientId))) ?? {});
}

export function encodeRecord(model: string, id: string, payload: AdapterPayload): string {
  const compact: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(payload)) {
    if ((field === 'jti' && value === id) || (field === 'kind' && value === model)) continue;
    if (field in LONG) throw new Error(`payload field ${field} clashes with a short field name`);
    compact[SHORT[field] ?? field] = value;
  }
  return UNCONSUMED + JSON.stringify(compact);
}

export function decodeRecord(model: string, id: string, value: string): AdapterPayload {
  const compact = JSON.parse(value.slice(HEADER)) as Record<string, unknown>;
  const payload: Record<string, unknown> = { jti: id, kind: model };
  for (const [field, v] of Object.entries(compact)) payload[LONG[field] ?? field] = v;
  const consumed = value.slice(0, HEADER);
  if (consumed !== UNCONSUMED) payload.consumed = Number(consumed);
  return payload as AdapterPayload;
}

export class StoreAdapter implements Adapter {
  constructor(
    private readonly store: Store,
    private readonly model: string,
  ) {}

  private key(id: string): string {
    return oidcKeys.record(this.model, id);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
    const ttl = expiresIn && expiresIn > 0 ? expiresIn : undefined;
    const writes: Promise<unknown>[] = [this.store.set(this.key(id), encodeRecord(this.model, id, payload), { ttl })];
    if (payload.grantId && GRANT_MODELS.has(this.model)) {
      writes.push(this.store.hset(oidcKeys.grant(payload.grantId), { [`${modelCode(this.model)}:${id}`]: '' }, { ttl, extend: true }));
    }
    if (this.model === 'Grant' && payload.clientId) {
      writes.push(this.store.hset(oidcKeys.clientGrants(payload.clientId), { [id]: '' }, { ttl, extend: true }));
    }
    if (this.model === 'Session' && payload.uid) {
      writes.push(this.store.set(oidcKeys.sessionUid(payload.uid), id, { ttl }));
      if (payload.accountId) writes.push(this.store.hset(oidcKeys.accountSessions(payload.accountId), { [payload.uid]: '' }, { ttl, extend: true }));
    }
    await Promise.all(writes);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const value = await getWithDirectoryVersion(this.store, this.key(id));
    return value === undefined ? undefined : decodeRecord(this.model, id, value);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.get(oidcKeys.sessionUid(uid));
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined; // the device flow is not enabled
  }

  async consume(id: string): Promise<void> {
    const consumed = await this.store.consume(this.key(id), String(Math.floor(Date.now() / 1000)).padStart(HEADER, '0'));
    if (!consumed) throw new errors.InvalidGrant('grant request is invalid');
  }

  async destroy(id: string): Promise<void> {
    if (this.model === 'Session') {
      const session = await this.find(id);
      // The uid index may already point at a newer id of the same session: leave that one alone.
      if (session?.uid && (await this.store.deleteIfEquals(oidcKeys.sessionUid(session.uid), id)) && session.accountId) {
        await this.store.hdel(oidcKeys.accountSessions(session.accountId), session.uid);
      }
    }
    await this.store.del(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const prefix = `${modelCode(this.model)}:`;
    const index = oidcKeys.grant(grantId);
    const mine = Object.keys((await this.store.hgetall(index)) ?? {}).filter((m) => m.startsWith(prefix));
    if (mine.length === 0) return;
    await this.store.del(...mine.map((m) => this.key(m.slice(prefix.length))));
    await this.store.hdel(index, ...mine);
  }
}

class ClientAdapter implements Adapter {
  constructor(private readonly source: ClientSource) {}

  find(id: string): Promise<AdapterPayload | undefined> {
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

/** The provider's `adapter` setting: one adapter per model name. */
export function createAdapterFactory(store: Store, clients: ClientSource): (model: string) => Adapter {
  return (model) => (model === 'Client' ? new ClientAdapter(clients) : new StoreAdapter(store, model));
}

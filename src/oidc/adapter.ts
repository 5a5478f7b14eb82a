/**
 * The oidc-provider adapter over the store (contract: node-oidc-provider's example/my_adapter.js
 * and ../shared/oidc-provider-notes.md).
 *
 * Layout, per model record:  `oidc:{Model}:{id}`  hash { payload: JSON, consumed?: epoch seconds }
 * Grant index:               `oidc:grant:{grantId}`  set of `{Model}:{id}`, shared by every
 *                            grant-bearing model; its TTL is extended to outlive each member.
 * Session uid index:         `oidc:session-uid:{uid}`  → the session's current id.
 * Account sessions:          `oidc:account-sessions:{accountId}`  set of session uids.
 * Client grants:             `oidc:client-grants:{clientId}`  set of grant ids.
 *
 * `consume` is the store's atomic consume: of many parallel redemptions of one code or refresh
 * token exactly one succeeds; the others get invalid_grant.
 */
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Store } from '../store/store.js';

const GRANT_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

const recordKey = (model: string, id: string): string => `oidc:${model}:${id}`;
const grantKey = (grantId: string): string => `oidc:grant:${grantId}`;
const uidKey = (uid: string): string => `oidc:session-uid:${uid}`;
/** Every grant of an app, so that deleting the app revokes everything issued to it. */
export const clientGrantsKey = (clientId: string): string => `oidc:client-grants:${clientId}`;
/** Every live session (by uid) of an account, for "sign out everywhere" and disabled users. */
export const accountSessionsKey = (accountId: string): string => `oidc:account-sessions:${accountId}`;

/** Serves the `Client` model read-only from the app directory. */
export type ClientSource = (clientId: string) => Promise<AdapterPayload | undefined>;

export class StoreAdapter implements Adapter {
  constructor(
    private readonly store: Store,
    private readonly model: string,
  ) {}

  private key(id: string): string {
    return recordKey(this.model, id);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
    const ttl = expiresIn && expiresIn > 0 ? expiresIn : undefined;
    // Index first: a record may outlive a failed write of its index entry only the other way round.
    if (payload.grantId && GRANT_MODELS.has(this.model)) {
      await this.store.sadd(grantKey(payload.grantId), [`${this.model}:${id}`], { ttl });
    }
    if (this.model === 'Grant' && payload.clientId) {
      await this.store.sadd(clientGrantsKey(payload.clientId), [id], { ttl });
    }
    await this.store.hset(this.key(id), { payload: JSON.stringify(payload) }, { replace: true, ttl });
    if (this.model === 'Session' && payload.uid) {
      await this.store.set(uidKey(payload.uid), id, { ttl });
      if (payload.accountId) await this.store.sadd(accountSessionsKey(payload.accountId), [payload.uid], { ttl });
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const record = await this.store.hgetall(this.key(id));
    if (!record?.payload) return undefined;
    const payload = JSON.parse(record.payload) as AdapterPayload;
    return record.consumed ? { ...payload, consumed: Number(record.consumed) } : payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await this.store.get(uidKey(uid));
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined; // the device flow is not enabled
  }

  async consume(id: string): Promise<void> {
    const consumed = await this.store.consume(this.key(id), 'consumed', String(Math.floor(Date.now() / 1000)));
    if (!consumed) throw new errors.InvalidGrant('grant request is invalid');
  }

  async destroy(id: string): Promise<void> {
    if (this.model === 'Session') {
      const session = await this.find(id);
      // The uid index may already point at a newer id of the same session: leave that one alone.
      if (session?.uid && (await this.store.deleteIfEquals(uidKey(session.uid), id)) && session.accountId) {
        await this.store.srem(accountSessionsKey(session.accountId), session.uid);
      }
    }
    await this.store.del(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const prefix = `${this.model}:`;
    const mine = (await this.store.smembers(grantKey(grantId))).filter((m) => m.startsWith(prefix));
    if (mine.length === 0) return;
    await this.store.del(...mine.map((m) => recordKey(this.model, m.slice(prefix.length))));
    await this.store.srem(grantKey(grantId), ...mine);
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

/** The provider's `adapter` setting: one adapter per model name. */
export function createAdapterFactory(store: Store, clients: ClientSource): (model: string) => Adapter {
  return (model) => (model === 'Client' ? new ClientAdapter(clients) : new StoreAdapter(store, model));
}

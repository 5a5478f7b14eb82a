/**
 * Apps: the registered SaaS applications, i.e. OAuth clients. A confidential app's secret is made
 * here, returned once from `create`, and kept only as its SHA-256 digest.
 */
import { z } from 'zod';
import { conflict, invalidInput, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
import { newId, newSecret, sha256Hex } from './ids.js';
import type { Tenants } from './tenants.js';
import { listNewId, now, readRecord, readRecords, removeRecord, rewriteRecord, writeRecord } from './records.js';
import { displayName, parseInput, recordId, redirectUri } from './validation.js';

export interface App {
  clientId: string;
  name: string;
  description: string;
  logoUri: string;
  /** Callbacks; the first one is where a workbench launch lands. */
  redirectUris: string[];
  initiateLoginUri: string;
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string;
  type: 'confidential' | 'public';
  /** SHA-256 hex of the client secret (confidential apps). */
  secretHash: string;
  /** After a rotation: the previous secret's digest, valid until `previousSecretExpiresAt`. */
  previousSecretHash?: string;
  previousSecretExpiresAt?: string;
  /** Whether the app may use refresh tokens (confidential apps only). */
  allowRefresh: boolean;
  /** Token lifetimes of this app in seconds; unset means the installation's defaults. */
  accessTokenTtl?: number;
  refreshTokenTtl?: number;
  /** False only for legacy confidential apps that cannot send PKCE; public apps always need it. */
  requirePkce?: boolean;
  /**
   * A management client: automation that calls the admin API with a client_credentials token,
   * as the platform admin or as the tenant admin of one tenant.
   */
  management?: { role: 'platform' } | { role: 'tenant'; tenantId: string };
  createdAt: string;
  updatedAt: string;
}

export type PublicApp = Omit<App, 'secretHash' | 'previousSecretHash'>;
export const toPublicApp = ({ secretHash: _hash, previousSecretHash: _previous, ...app }: App): PublicApp => app;

const fields = {
  name: displayName,
  description: z.string().trim().max(1000).default(''),
  logoUri: z.union([redirectUri, z.literal('')]).default(''),
  redirectUris: z.array(redirectUri).min(1, 'needs at least one redirect URI').max(20),
  initiateLoginUri: z.union([redirectUri.refine((u) => u.startsWith('https:') || u.startsWith('http:')), z.literal('')]).default(''),
  postLogoutRedirectUris: z.array(redirectUri).max(20).default([]),
  backchannelLogoutUri: z.union([redirectUri, z.literal('')]).default(''),
  type: z.enum(['confidential', 'public']).default('confidential'),
  allowRefresh: z.boolean().default(true),
  accessTokenTtl: z.number().int().min(60).max(86_400).optional(),
  refreshTokenTtl: z.number().int().min(60).max(365 * 86_400).optional(),
  requirePkce: z.boolean().default(true),
  management: z
    .discriminatedUnion('role', [z.object({ role: z.literal('platform') }), z.object({ role: z.literal('tenant'), tenantId: recordId })])
    .optional(),
};
const createSchema = z.object(fields);
/** What an update may change: everything but the type and the secret. */
const updateSchema = z
  .object({
    name: fields.name,
    description: z.string().trim().max(1000),
    logoUri: z.union([redirectUri, z.literal('')]),
    redirectUris: fields.redirectUris,
    initiateLoginUri: z.union([redirectUri, z.literal('')]),
    postLogoutRedirectUris: z.array(redirectUri).max(20),
    backchannelLogoutUri: z.union([redirectUri, z.literal('')]),
    allowRefresh: z.boolean(),
    requirePkce: z.boolean(),
    accessTokenTtl: z.number().int().min(60).max(86_400),
    refreshTokenTtl: z.number().int().min(60).max(365 * 86_400),
  })
  .partial()
  .strict();

const key = (clientId: string): string => `app:${clientId}`;
const ALL = 'apps';

export type Apps = ReturnType<typeof createApps>;

export function createApps(store: Store, tenants: Pick<Tenants, 'byId'>) {
  const byId = (clientId: string): Promise<App | undefined> =>
    /^[0-9a-f]{32}$/.test(clientId) ? readRecord<App>(store, key(clientId)) : Promise.resolve(undefined);

  return {
    byId,

    async require(clientId: string): Promise<App> {
      const app = await byId(clientId);
      if (!app) throw notFound(`app ${clientId} not found`);
      return app;
    },

    /** Registers an app; `clientSecret` is returned only here, only for confidential apps. */
    async create(input: unknown): Promise<{ app: App; clientSecret?: string }> {
      const data = parseInput(createSchema, input);
      if (data.management?.role === 'tenant') {
        // A tenant's automation acts for an existing customer tenant; the platform's is role platform
        // (a tenant-bound client of the platform tenant could make platform admins).
        const tenant = await tenants.byId(data.management.tenantId);
        if (!tenant) throw invalidInput('management.tenantId: no such tenant');
        if (tenant.platform) throw invalidInput('management.tenantId: the platform tenant is managed with role platform');
      }
      const clientSecret = data.type === 'confidential' ? newSecret() : undefined;
      const at = now();
      const app: App = {
        clientId: newId(),
        ...data,
        redirectUris: [...new Set(data.redirectUris)],
        allowRefresh: data.type === 'confidential' && data.allowRefresh,
        requirePkce: data.type === 'public' || data.requirePkce,
        ...(data.management && data.type === 'confidential' ? { management: data.management } : {}),
        secretHash: clientSecret ? sha256Hex(clientSecret) : '',
        createdAt: at,
        updatedAt: at,
      };
      await listNewId(store, ALL, app.clientId, async () => (await store.get(key(app.clientId))) !== undefined, () => writeRecord(store, key(app.clientId), app).then(() => true));
      return clientSecret ? { app, clientSecret } : { app };
    },

    /** Changes an app from its latest version: the version it replaced and the new one. */
    async update(clientId: string, input: unknown): Promise<{ before: App; after: App }> {
      const changes = parseInput(updateSchema, input);
      return this.rewrite(clientId, (app) => ({
        ...app,
        ...changes,
        ...(changes.redirectUris ? { redirectUris: [...new Set(changes.redirectUris)] } : {}),
        allowRefresh: app.type === 'confidential' && (changes.allowRefresh ?? app.allowRefresh),
        requirePkce: app.type === 'public' || (changes.requirePkce ?? app.requirePkce ?? true),
        updatedAt: now(),
      }));
    },

    /**
     * Changes an app from its latest version, so that changes made at once (an update and a secret
     * rotation, two rotations) all land: 404 when there is none.
     */
    async rewrite(clientId: string, change: (app: App) => App): Promise<{ before: App; after: App }> {
      const result = /^[0-9a-f]{32}$/.test(clientId) ? await rewriteRecord<App>(store, key(clientId), change) : undefined;
      if (!result) throw notFound(`app ${clientId} not found`);
      return result;
    },

    /**
     * Issues a new secret (returned once). The previous one stays valid for `graceSeconds`, so the
     * app can be redeployed with the new one without an outage.
     *
     * Only one old secret is kept: while the last rotation's grace period runs, another rotation
     * would end it at once, cutting off every deployment still on that secret (a double-click, or an
     * admin who did not know of the first). It is refused (409), unless `graceSeconds` is 0: an
     * emergency rotation, which ends every old secret now.
     */
    async rotateSecret(clientId: string, graceSeconds: number): Promise<{ app: App; clientSecret: string }> {
      const clientSecret = newSecret();
      const { after } = await this.rewrite(clientId, (app) => {
        if (app.type !== 'confidential') throw invalidInput('type: a public app has no secret');
        const graceUntil = app.previousSecretHash && app.previousSecretExpiresAt ? Date.parse(app.previousSecretExpiresAt) : NaN;
        if (graceSeconds > 0 && graceUntil > Date.now()) {
          throw conflict(
            `The secret replaced by the last rotation stays valid until ${app.previousSecretExpiresAt}: rotating again now would cut off whatever still uses it. Rotate after that time, end that secret's grace period first, or rotate with a grace period of 0 seconds to end every old secret at once.`,
          );
        }
        return {
          ...app,
          secretHash: sha256Hex(clientSecret),
          previousSecretHash: app.secretHash,
          previousSecretExpiresAt: new Date(Date.now() + graceSeconds * 1000).toISOString(),
          updatedAt: now(),
        };
      });
      return { app: after, clientSecret };
    },

    /**
     * Ends the grace period of the secret the last rotation replaced (leaked, or no longer used): it
     * is refused from now on, and the current secret stays. The version replaced and the new one.
     */
    async endPreviousSecret(clientId: string): Promise<{ before: App; after: App }> {
      return this.rewrite(clientId, (app) => {
        const next: App = { ...app, updatedAt: now() };
        delete next.previousSecretHash;
        delete next.previousSecretExpiresAt;
        return next;
      });
    },

    async remove(clientId: string): Promise<App> {
      const app = await this.require(clientId);
      await removeRecord(store, key(clientId));
      await store.srem(ALL, clientId);
      return app;
    },

    /** Is `uri` exactly one of the post-logout redirect URIs registered by some app? */
    async isPostLogoutRedirectUri(uri: string): Promise<boolean> {
      return (await this.list()).some((app) => app.postLogoutRedirectUris.includes(uri));
    },

    async list(): Promise<App[]> {
      const apps = await readRecords<App>(store, (await store.smembers(ALL)).map(key));
      return apps.sort((a, b) => a.name.localeCompare(b.name));
    },
  };
}

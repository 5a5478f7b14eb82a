/**
 * Who is calling the admin API. Two ways in, and no other cookie or token is accepted:
 * - an admin's Atrium session (a user with role `admin`), with the CSRF token in an
 *   `X-CSRF-Token` header on every state-changing request (the admin pages);
 * - a bearer access token obtained by `client_credentials` by a management app, with scope
 *   `atrium:admin` (platform) or `atrium:tenant-admin` (bound to the app's tenant) (automation).
 * The platform's admins may act on every tenant, a tenant admin only on their own.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Directory, Tenant, User } from '../directory/index.js';
import { AtriumError, notFound } from '../errors.js';
import { assertCsrf } from '../http/csrf.js';
import { loadSessionAccount } from '../oidc/accounts.js';
import type { SessionLimits } from '../oidc/sessions.js';
import { senderConstrained } from '../oidc/tokens.js';

export interface Principal {
  platform: boolean;
  tenantId: string;
  userId: string;
  username: string;
}

export function createAdminAuth(provider: Provider, directory: Directory, sessionLimits: SessionLimits) {
  const bearerPrincipal = async (authorization: string): Promise<Principal> => {
    const [scheme, value] = authorization.split(' ');
    const refused = new AtriumError('unauthorized', 'A valid management access token is required', 401, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
    if (scheme?.toLowerCase() !== 'bearer' || !value || value.length > 512) throw refused;
    const token = await provider.ClientCredentials.find(value);
    const app = token?.clientId ? await directory.apps.byId(token.clientId) : undefined;
    const scopes = new Set(String(token?.scope ?? '').split(' '));
    if (!token || senderConstrained(token) || !app?.management) throw refused;
    if (app.management.role === 'platform' && scopes.has('atrium:admin')) {
      const platform = await directory.tenants.byCode('platform');
      return { platform: true, tenantId: platform?.id ?? '', userId: `app:${app.clientId}`, username: app.name };
    }
    if (app.management.role === 'tenant' && scopes.has('atrium:tenant-admin')) {
      // A disabled tenant's automation stops with its admins' sessions, and a token issued before
      // the tenant was disabled stays void once it is enabled again, as their sessions do.
      // (Never the platform tenant: its admins are platform admins; such an app registered before
      // that was refused at registration is refused here.)
      const tenant = await directory.tenants.byId(app.management.tenantId);
      if (tenant?.status !== 'active' || tenant.platform || (token.iat ?? 0) < (tenant.tokensRevokedAt ?? 0)) throw refused;
      return { platform: false, tenantId: app.management.tenantId, userId: `app:${app.clientId}`, username: app.name };
    }
    throw refused;
  };

  return {
    async principal(ctx: Context): Promise<Principal> {
      const authorization = ctx.get('authorization');
      if (authorization) return bearerPrincipal(authorization);
      const session = await provider.Session.get(ctx);
      const account = await loadSessionAccount(directory, session, sessionLimits);
      if (!account) throw new AtriumError('unauthorized', 'Sign in as an administrator first', 401);
      if (account.user.role !== 'admin') throw new AtriumError('forbidden', 'Only administrators may use this API', 403);
      if (!['GET', 'HEAD', 'OPTIONS'].includes(ctx.method)) assertCsrf(ctx, ctx.get('x-csrf-token'));
      return { platform: account.tenant.platform === true, tenantId: account.tenant.id, userId: account.user.id, username: account.user.username };
    },

    requirePlatform(principal: Principal): void {
      if (!principal.platform) throw new AtriumError('forbidden', 'Only platform administrators may do this', 403);
    },

    /** The tenant named in the path, if this principal may see it; 404 otherwise (no hint it exists). */
    async tenant(principal: Principal, tenantId: string): Promise<Tenant> {
      const tenant = principal.platform || principal.tenantId === tenantId ? await directory.tenants.byId(tenantId) : undefined;
      if (!tenant) throw notFound('tenant not found');
      return tenant;
    },

    /** A user of that tenant; a user of another tenant is simply not found. */
    async user(tenant: Tenant, userId: string): Promise<User> {
      const user = await directory.users.byId(userId);
      if (!user || user.tenantId !== tenant.id) throw notFound('user not found');
      return user;
    },
  };
}

export type AdminAuth = ReturnType<typeof createAdminAuth>;

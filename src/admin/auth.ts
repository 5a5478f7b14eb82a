/**
 * Who is calling the admin API. An admin's Atrium session (a user with role `admin`) is accepted,
 * with the CSRF token in an `X-CSRF-Token` header on every state-changing request; the platform's
 * admins (tenant `platform`) may act on every tenant, a tenant admin only on their own. No other
 * cookie or token is accepted.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Directory, Tenant, User } from '../directory/index.js';
import { AtriumError, notFound } from '../errors.js';
import { assertCsrf } from '../http/csrf.js';
import { loadAccount } from '../oidc/accounts.js';

export interface Principal {
  platform: boolean;
  tenantId: string;
  userId: string;
  username: string;
}

export function createAdminAuth(provider: Provider, directory: Directory) {
  return {
    async principal(ctx: Context): Promise<Principal> {
      const session = await provider.Session.get(ctx);
      const account = session.accountId ? await loadAccount(directory, session.accountId) : undefined;
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

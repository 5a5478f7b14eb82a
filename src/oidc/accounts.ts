/**
 * Accounts for the provider: a user of the directory, with the tenant claims every token carries.
 * A disabled user or tenant has no account, so its tokens stop working at once; and what was issued
 * before it was disabled (sessions, codes, tokens) stays void when it is enabled again.
 */
import type { Account, FindAccount } from 'oidc-provider';
import type { Directory, Tenant, User } from '../directory/index.js';
import { withinAbsoluteLimit, type SessionLimits } from './sessions.js';

export interface AtriumAccount extends Account {
  tenantId: string;
  user: User;
  tenant: Tenant;
}

/**
 * A scope of no claims that the joint-operation dialect adds to a request whose app asked for
 * `openid` itself (the dialect adds `openid` and `get_user_info` to every request), so that its
 * token answer includes the ID token (compat/joint-operation.ts); never shown in that answer.
 */
export const OPENID_REQUESTED = 'atrium:openid-requested';

/** Claims by scope. `openid` carries the tenant, so the ID token always has `tenant_id`. */
export const CLAIMS = {
  openid: ['sub', 'tenant_id', 'tenant_code', 'tenant_name'],
  profile: ['name', 'preferred_username', 'role', 'updated_at'],
  email: ['email'],
  phone: ['phone_number'],
  /** The joint-operation dialect's one scope: everything its userinfo answers. */
  get_user_info: ['name', 'preferred_username', 'role', 'email', 'phone_number'],
};

export function userClaims(user: User, tenant: Tenant): Record<string, string | number | undefined> {
  return {
    sub: user.id,
    tenant_id: tenant.id,
    tenant_code: tenant.code,
    tenant_name: tenant.name,
    name: user.name,
    preferred_username: user.username,
    role: user.role,
    updated_at: Math.floor(new Date(user.updatedAt).getTime() / 1000),
    email: user.email || undefined,
    phone_number: user.mobile || undefined,
  };
}

/**
 * The account of a user, for a session, code or token issued at `issuedAt` (epoch seconds; its
 * `loginTs` or `iat`): undefined when the user or its tenant is not active, or was disabled since.
 */
export async function loadAccount(directory: Directory, sub: string, issuedAt: number | undefined): Promise<AtriumAccount | undefined> {
  const user = await directory.users.byId(sub);
  return user && accountOf(directory, user, issuedAt);
}

/**
 * The account a browser's session signs in: none past the session's absolute timeout, nor when the
 * account is unavailable (see loadAccount).
 */
export async function loadSessionAccount(directory: Directory, session: { accountId?: string; loginTs?: number }, limits: SessionLimits): Promise<AtriumAccount | undefined> {
  if (!session.accountId || !withinAbsoluteLimit(limits, session)) return undefined;
  return loadAccount(directory, session.accountId, session.loginTs);
}

async function accountOf(directory: Directory, user: User, issuedAt: number | undefined): Promise<AtriumAccount | undefined> {
  if (user.status !== 'active') return undefined;
  const tenant = await directory.tenants.byId(user.tenantId);
  if (!tenant || tenant.status !== 'active') return undefined;
  if (typeof issuedAt === 'number' && issuedAt < Math.max(user.tokensRevokedAt ?? 0, tenant.tokensRevokedAt ?? 0)) return undefined;
  return {
    accountId: user.id,
    tenantId: tenant.id,
    user,
    tenant,
    claims: () => userClaims(user, tenant) as { sub: string } & Record<string, unknown>,
  };
}

/**
 * Where tokens are redeemed or used (token endpoint, userinfo), the app must still be assigned to
 * the user: an expired or withdrawn assignment stops refresh and userinfo at once. (Not at the
 * authorization endpoint: there an unassigned app gets access_denied, see provider.ts.) A session
 * past its absolute timeout has no account: the authorization endpoint asks to sign in again.
 */
export const createFindAccount =
  (directory: Directory, isAllowed: (user: User, clientId: string) => Promise<boolean>, limits: SessionLimits): FindAccount =>
  async (ctx, sub, token) => {
    const clientId = ctx?.oidc?.client?.clientId;
    const route = ctx?.oidc?.route;
    // What is being used: the code or token, else (at the authorization endpoint) the session.
    const session = token ? undefined : (ctx?.oidc?.entities as { Session?: { loginTs?: number } } | undefined)?.Session;
    if (session && !withinAbsoluteLimit(limits, session)) return undefined;
    const issuedAt = (token as { iat?: number } | undefined)?.iat ?? session?.loginTs;
    const user = await directory.users.byId(sub);
    if (!user) return undefined;
    // The tenant and the assignment are read at once: both only need the user.
    const [account, allowed] = await Promise.all([
      accountOf(directory, user, issuedAt),
      clientId && (route === 'token' || route === 'userinfo') ? isAllowed(user, clientId) : true,
    ]);
    return allowed ? account : undefined;
  };


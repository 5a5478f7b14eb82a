/**
 * Password sign-in. Every failure — unknown tenant, unknown user, wrong password, disabled user or
 * tenant — gives the same answer after the same work: an unknown user is verified against a dummy
 * hash, and status checks come after the hash check.
 */
import type { PasswordHasher } from './passwords.js';
import type { Tenant, Tenants } from './tenants.js';
import type { User, Users } from './users.js';

export interface Credentials {
  tenant: string;
  username: string;
  password: string;
}

export type SignInResult = { ok: true; user: User; tenant: Tenant } | { ok: false; user?: User; tenant?: Tenant };

export function createAuthentication(tenants: Tenants, users: Users, hasher: PasswordHasher) {
  return async function authenticate(credentials: Credentials): Promise<SignInResult> {
    const tenant = credentials.tenant ? await tenants.byCode(credentials.tenant) : undefined;
    const user = tenant && credentials.username ? await users.byUsername(tenant.id, credentials.username) : undefined;
    const { ok, rehash } = await hasher.verify(user?.passwordHash, credentials.password);
    if (!ok || !user || !tenant || tenant.status !== 'active' || user.status !== 'active') {
      return { ok: false, user, tenant };
    }
    const current = rehash ? await users.update(user.id, { passwordHash: await hasher.hash(credentials.password) }) : user;
    return { ok: true, user: current, tenant };
  };
}

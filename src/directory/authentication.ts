/**
 * Password sign-in. Every failure — unknown tenant, unknown user, wrong password, disabled user or
 * tenant, throttled account or address — gives the same answer after the same work: an unknown or
 * locked user is verified against a dummy hash, and status checks come after the hash check.
 *
 * A caller that still has to check the request (the sign-in form: its interaction and CSRF token)
 * passes that check as `gate`: the attempt's count (see Throttle.attempt) and the lookups start at
 * once, beside it, and the password is hashed only once it has passed. A gate that fails is this
 * call's failure, with no hashing and nothing counted.
 */
import type { PasswordHasher } from './passwords.js';
import type { Throttle } from './throttle.js';
import type { Tenant, Tenants } from './tenants.js';
import type { User, Users } from './users.js';

export interface Credentials {
  tenant: string;
  username: string;
  password: string;
  /** The client's address, for per-address throttling. */
  ip?: string;
}

export type SignInResult =
  | { ok: true; user: User; tenant: Tenant }
  | { ok: false; reason: 'invalid' | 'locked'; user?: User; tenant?: Tenant };

export function createAuthentication(tenants: Tenants, users: Users, hasher: PasswordHasher, throttle?: Throttle) {
  return async function authenticate(credentials: Credentials, gate?: Promise<unknown>): Promise<SignInResult> {
    // The attempt is counted (and the lock checked) beside the lookups: their store calls share
    // round trips, and with the gate's own reads when it makes any.
    const attempt = throttle?.attempt(credentials.tenant, credentials.username, credentials.ip);
    let decided = false;
    try {
      const [, counted, { tenant, user }] = await Promise.all([
        gate,
        attempt,
        (async () => {
          const tenant = credentials.tenant ? await tenants.byCode(credentials.tenant) : undefined;
          const user = tenant && credentials.username ? await users.byUsername(tenant.id, credentials.username) : undefined;
          return { tenant, user };
        })(),
      ]);
      const locked = counted?.locked ?? false;
      const { ok, rehash } = await hasher.verify(locked ? undefined : user?.passwordHash, credentials.password);
      decided = true;
      // A failed attempt stays counted; a refused one (it tried no password) and a success do not.
      if (locked) {
        await counted?.release();
        return { ok: false, reason: 'locked', user, tenant };
      }
      if (!ok || !user || !tenant || tenant.status !== 'active' || user.status !== 'active') return { ok: false, reason: 'invalid', user, tenant };
      await counted?.release();
      const current = rehash ? await users.update(user.id, { passwordHash: await hasher.hash(credentials.password) }) : user;
      return { ok: true, user: current, tenant };
    } catch (err) {
      // Not decided (the form's check failed, hashing was refused, the store failed): not counted.
      if (!decided) await attempt?.then((counted) => counted.release()).catch(() => undefined);
      throw err;
    }
  };
}

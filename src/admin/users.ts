/**
 * Admin actions on users that reach beyond the directory: disabling a user, or a whole tenant, also
 * ends every session they have (with back-channel logout to the apps) and revokes their refresh
 * tokens at once.
 */
import type Provider from 'oidc-provider';
import type { AdminEvent } from '../directory/audit.js';
import type { Directory, User } from '../directory/index.js';
import type { Tenant } from '../directory/tenants.js';
import type { Backchannel } from '../oidc/backchannel.js';
import { endAccountSessions } from '../oidc/sessions.js';
import type { Store } from '../store/store.js';

export interface AdminDeps {
  provider: Provider;
  directory: Directory;
  backchannel: Backchannel;
  store: Store;
}

export async function disableUser(deps: AdminDeps, userId: string, actor: { ip?: string; by: string }): Promise<{ user: User; sessionsEnded: number }> {
  const { before, after: user } = await deps.directory.users.change(userId, { status: 'disabled' });
  // Disabled (their tokens are void at once); ending the sessions tells the apps. Audited whether or
  // not that all went well.
  let sessionsEnded: number | undefined;
  try {
    sessionsEnded = await endAccountSessions(deps.provider, deps.backchannel, deps.store, userId);
  } finally {
    await deps.directory.audit.record({
      type: 'admin.user.disable',
      tenantId: user.tenantId,
      userId,
      ...(actor.ip ? { ip: actor.ip } : {}),
      detail: { by: actor.by, before: before.status, after: user.status, ...(sessionsEnded === undefined ? {} : { sessionsEnded }) },
    });
  }
  return { user, sessionsEnded };
}

/** How many users' sessions are ended at once when a tenant is disabled. */
const TENANT_SESSIONS_PARALLELISM = 8;

/**
 * Ends every session of a tenant's users, with back-channel logout, a few users at a time. (Their
 * tokens and sessions are already void by the tenant's `tokensRevokedAt`; this tells the apps.)
 * Returns how many sessions ended.
 */
export async function endTenantSessions(deps: AdminDeps, tenantId: string): Promise<number> {
  const ids = await deps.directory.users.ids(tenantId);
  let next = 0;
  let ended = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const count = await endAccountSessions(deps.provider, deps.backchannel, deps.store, id);
      ended += count; // (not `ended += await …`, which would add to the value read before waiting)
    }
  };
  await Promise.all(Array.from({ length: Math.min(TENANT_SESSIONS_PARALLELISM, ids.length) }, worker));
  return ended;
}

/** A tenant as the admin API and the command line show it (and its audit events record it). */
export const publicTenant = (t: Tenant) => ({ id: t.id, code: t.code, name: t.name, status: t.status, platform: t.platform === true, created_at: t.createdAt, updated_at: t.updatedAt });

/**
 * Renames, disables or enables a tenant. Disabling (decided by the version this change replaced, so
 * that of two concurrent disablings one ends the sessions) ends its users' sessions and tells their
 * apps (back-channel logout); the change is audited, by `audit`, whether or not that all went well.
 */
export async function changeTenant(
  deps: AdminDeps,
  tenantId: string,
  changes: unknown,
  audit: (event: AdminEvent) => Promise<unknown>,
): Promise<{ tenant: Tenant; sessionsEnded?: number }> {
  const { before, after } = await deps.directory.tenants.change(tenantId, changes);
  let sessionsEnded: number | undefined;
  try {
    if (before.status !== 'disabled' && after.status === 'disabled') sessionsEnded = await endTenantSessions(deps, before.id);
  } finally {
    await audit({
      type: 'admin.tenant.update',
      tenantId: before.id,
      before: publicTenant(before),
      after: publicTenant(after),
      ...(sessionsEnded === undefined ? {} : { detail: { sessionsEnded } }),
    });
  }
  return { tenant: after, sessionsEnded };
}

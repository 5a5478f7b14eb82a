/**
 * Admin actions on users that reach beyond the directory: disabling a user also ends every session
 * they have (with back-channel logout to the apps) and revokes their refresh tokens at once.
 */
import type Provider from 'oidc-provider';
import type { Directory, User } from '../directory/index.js';
import { notFound } from '../errors.js';
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
  const before = await deps.directory.users.byId(userId);
  if (!before) throw notFound('user not found');
  const user = await deps.directory.users.update(userId, { status: 'disabled' });
  const sessionsEnded = await endAccountSessions(deps.provider, deps.backchannel, deps.store, userId);
  await deps.directory.audit.record({
    type: 'admin.user.disable',
    tenantId: user.tenantId,
    userId,
    ...(actor.ip ? { ip: actor.ip } : {}),
    detail: { by: actor.by, before: before.status, after: user.status, sessionsEnded },
  });
  return { user, sessionsEnded };
}

/**
 * Signing out of Atrium revokes what the session handed out. The provider itself keeps the tokens of
 * a grant alive past logout when they do not expire with the session (Atrium's refresh tokens live
 * 30 days, independently of the 12-hour session), so after a confirmed sign-out we revoke every
 * grant the session held: access tokens, refresh tokens, codes and the grant itself.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../store/store.js';
import { clientGrantIds, clientGrantKeys } from './adapter.js';

export async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  await Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
    provider.Grant.adapter.destroy(grantId),
  ]);
}

/** Revokes every grant ever made to an app (the app is being deleted). Returns how many. */
export async function revokeClientGrants(provider: Provider, store: Store, clientId: string): Promise<number> {
  const grantIds = await clientGrantIds(store, clientId);
  await Promise.all(grantIds.map((grantId) => revokeGrant(provider, grantId)));
  await store.del(...clientGrantKeys(clientId));
  return grantIds.length;
}

/**
 * After a request: when it was the confirmation of a sign-out (the provider's end_session_confirm
 * route, answered with its redirect), revokes every grant the session held.
 */
export async function revokeGrantsOnSignOut(provider: Provider, ctx: Context): Promise<void> {
  if (ctx.path !== END_SESSION_CONFIRM) return;
  const { oidc } = ctx as unknown as KoaContextWithOIDC;
  if (oidc?.route !== 'end_session_confirm' || ctx.status !== 303 || !oidc.params?.logout) return;
  const authorizations = Object.values(oidc.session?.authorizations ?? {});
  const grantIds = authorizations.map((a) => a.grantId).filter((id): id is string => typeof id === 'string');
  await Promise.all(grantIds.map((grantId) => revokeGrant(provider, grantId)));
}

const END_SESSION_CONFIRM = '/session/end/confirm';

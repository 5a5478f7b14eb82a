/**
 * Signing out of Atrium revokes what the session handed out. The provider itself keeps the tokens of
 * a grant alive past logout when they do not expire with the session (Atrium's refresh tokens live
 * 30 days, independently of the 12-hour session), so after a confirmed sign-out we revoke every
 * grant the session held: access tokens, refresh tokens, codes and the grant itself.
 */
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

export async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  await Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
    provider.Grant.adapter.destroy(grantId),
  ]);
}

/** The part of the provider's Client this module uses (the typings lack `backchannelLogout`). */
interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(accountId: string, sid: string | undefined): Promise<void>;
}

export function revokeGrantsOnSignOut(provider: Provider): Middleware {
  return async function revokeOnSignOut(ctx, next) {
    await next();
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    if (oidc?.route !== 'end_session_confirm' || ctx.status !== 303 || !oidc.params?.logout) return;
    const authorizations = Object.values(oidc.session?.authorizations ?? {});
    const grantIds = authorizations.map((a) => a.grantId).filter((id): id is string => typeof id === 'string');
    await Promise.all(grantIds.map((grantId) => revokeGrant(provider, grantId)));
  };
}

/**
 * Ends the browser's Atrium session at once, for sign-outs that have no confirmation step (the
 * joint-operation logout, the workbench's sign-out button): revokes the grants the session held,
 * notifies apps with a back-channel logout URI, destroys the session and clears its cookie.
 * Returns the account that was signed in, if any.
 */
export async function endBrowserSession(provider: Provider, ctx: Parameters<Middleware>[0]): Promise<string | undefined> {
  const session = await provider.Session.get(ctx);
  const accountId = session.accountId;
  const authorizations = Object.entries(session.authorizations ?? {});
  if (accountId) {
    await Promise.all(
      authorizations.map(async ([clientId, { grantId }]) => {
        if (grantId) await revokeGrant(provider, grantId);
        const client = (await provider.Client.find(clientId)) as BackchannelClient | undefined;
        if (client?.backchannelLogoutUri) {
          await client.backchannelLogout(accountId, session.sidFor(clientId)).catch(() => undefined);
        }
      }),
    );
  }
  await session.destroy();
  ctx.cookies.set(provider.cookieName('session'), null, { path: '/' });
  return accountId;
}

/**
 * The provider's events into the audit trail: tokens issued and revoked are counted per tenant and
 * day; an RP-initiated sign-out is recorded. Failures to record never fail the request.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Directory } from '../directory/index.js';
import type { CountedEvent } from '../directory/audit.js';
import type { AtriumAccount } from './accounts.js';
import { afterWrites } from './adapter.js';

const tenantOfContext = async (ctx: KoaContextWithOIDC, directory: Directory): Promise<string | undefined> => {
  const account = ctx.oidc.entities.Account as AtriumAccount | undefined;
  if (account?.tenantId) return account.tenantId;
  const token = (ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.RefreshToken) as { accountId?: string } | undefined;
  const accountId = token?.accountId ?? ctx.oidc.session?.accountId;
  return accountId ? (await directory.users.byId(accountId))?.tenantId : undefined;
};

export function recordProviderEvents(provider: Provider, directory: Directory): void {
  const count = (ctx: KoaContextWithOIDC, type: CountedEvent): void => {
    void tenantOfContext(ctx, directory)
      .then((tenantId) => (tenantId ? directory.audit.count(tenantId, type) : undefined))
      .catch(() => undefined);
  };

  provider.on('grant.success', (ctx) => {
    const grantType = String(ctx.oidc.params?.grant_type ?? '');
    // Once the tokens are written (a request that then loses its refresh token's race issued none).
    if (grantType === 'authorization_code' || grantType === 'refresh_token' || grantType === 'client_credentials') afterWrites(() => count(ctx, `token.${grantType}`));
  });
  provider.on('grant.revoked', (ctx) => {
    if (ctx.oidc.route === 'revocation') count(ctx, 'token.revoked');
  });
  provider.on('end_session.success', (ctx) => {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId) return;
    void directory.users
      .byId(accountId)
      .then((user) => (user ? directory.audit.record({ type: 'user.signout', tenantId: user.tenantId, userId: user.id, ...(ctx.oidc.client ? { clientId: ctx.oidc.client.clientId } : {}), ip: ctx.ip }) : undefined))
      .catch(() => undefined);
  });
}

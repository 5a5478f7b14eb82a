/** Token look-ups for Atrium's own endpoints (the joint-operation dialect), through the provider's models. */
import type Provider from 'oidc-provider';
import type { Directory } from '../directory/index.js';
import { loadAccount, type AtriumAccount } from './accounts.js';

/**
 * The account behind a bearer access token, checked as the provider's userinfo checks it: the token
 * exists and has not expired, its grant still exists for the same app and user, its app still exists,
 * and the user and tenant are active.
 */
export async function accountForAccessToken(provider: Provider, directory: Directory, value: string): Promise<(AtriumAccount & { scopes: Set<string> }) | undefined> {
  if (!value || value.length > 512) return undefined;
  const token = await provider.AccessToken.find(value);
  if (!token?.grantId || !token.accountId || !token.clientId || senderConstrained(token)) return undefined;
  const [grant, app] = await Promise.all([provider.Grant.find(token.grantId), directory.apps.byId(token.clientId)]);
  if (!grant || !app || grant.clientId !== token.clientId || grant.accountId !== token.accountId) return undefined;
  const account = await loadAccount(directory, token.accountId, token.iat);
  // As at the standard userinfo: the app must still be assigned to the user.
  if (!account || (await directory.assignments.decide(account.user, token.clientId)) !== 'granted') return undefined;
  return { ...account, scopes: token.scopes };
}

/**
 * Whether a token is bound to a key its client must prove (DPoP, RFC 9449; or a certificate). Atrium's
 * own bearer-only endpoints (the dialect's userinfo, the admin API) refuse such a token: accepted as
 * a plain bearer token, a stolen one would work without its key.
 */
export function senderConstrained(token: { jkt?: unknown; 'x5t#S256'?: unknown }): boolean {
  return token.jkt !== undefined || token['x5t#S256'] !== undefined;
}

/** The redirect URI an authorization code was issued for, so that the dialect may omit it. */
export async function redirectUriOfCode(provider: Provider, code: string): Promise<string | undefined> {
  if (!code || code.length > 512) return undefined;
  return (await provider.AuthorizationCode.find(code, { ignoreExpiration: true }))?.redirectUri;
}

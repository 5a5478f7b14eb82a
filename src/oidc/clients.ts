/**
 * Apps of the directory as oidc-provider client metadata. The `client_secret` given to the provider
 * is the stored SHA-256 digest, never the secret: see client-auth.ts for how it is compared.
 */
import type { AdapterPayload } from 'oidc-provider';
import type { App } from '../directory/index.js';
import { OPENID_REQUESTED } from './accounts.js';

/** Per-app token lifetimes travel as extra client metadata (registered in provider.ts). */
export const ACCESS_TOKEN_TTL = 'atrium_access_token_ttl';
export const REFRESH_TOKEN_TTL = 'atrium_refresh_token_ttl';
/** During a secret rotation's grace period: the previous secret's digest, and until when. */
export const PREVIOUS_SECRET = 'atrium_previous_secret_hash';
export const PREVIOUS_SECRET_UNTIL = 'atrium_previous_secret_until';
/** A legacy app that cannot send PKCE (joint-operation kits): its own requests may omit it. */
export const PKCE_OPTIONAL = 'atrium_pkce_optional';

/** The scopes only management apps may ask for (each its own, see managementScope). */
export const MANAGEMENT_SCOPES = ['atrium:admin', 'atrium:tenant-admin'];

/** What every other app may ask for: the standard scopes, the dialect's, and its marker (see OPENID_REQUESTED). */
export const APP_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'phone', 'get_user_info', OPENID_REQUESTED].join(' ');

export const managementScope = (management: NonNullable<App['management']>): string =>
  management.role === 'platform' ? 'atrium:admin' : 'atrium:tenant-admin';

export function toClientMetadata(app: App): AdapterPayload {
  const confidential = app.type === 'confidential';
  const grantTypes = [
    'authorization_code',
    ...(confidential && app.allowRefresh ? ['refresh_token'] : []),
    ...(confidential && app.management ? ['client_credentials'] : []),
  ];
  return {
    client_id: app.clientId,
    client_name: app.name,
    ...(confidential ? { client_secret: app.secretHash } : {}),
    token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
    grant_types: grantTypes,
    response_types: ['code'],
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris,
    // initiate_login_uri stays in the directory: only the workbench uses it, and the provider would
    // refuse the http loopback URIs that development apps have.
    ...(app.backchannelLogoutUri ? { backchannel_logout_uri: app.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    ...(app.logoUri ? { logo_uri: app.logoUri } : {}),
    application_type: 'web',
    // A management client may ask for its admin scope only; any other app for anything but those.
    scope: confidential && app.management ? `openid ${managementScope(app.management)}` : APP_SCOPES,
    ...(app.accessTokenTtl ? { [ACCESS_TOKEN_TTL]: app.accessTokenTtl } : {}),
    ...(app.refreshTokenTtl ? { [REFRESH_TOKEN_TTL]: app.refreshTokenTtl } : {}),
    ...(app.requirePkce === false && confidential ? { [PKCE_OPTIONAL]: true } : {}),
    ...(confidential && app.previousSecretHash && app.previousSecretExpiresAt
      ? { [PREVIOUS_SECRET]: app.previousSecretHash, [PREVIOUS_SECRET_UNTIL]: Math.floor(new Date(app.previousSecretExpiresAt).getTime() / 1000) }
      : {}),
  };
}

/**
 * A client's metadata, computed once per client instance: the provider keeps one instance per
 * version of an app's settings, and `metadata()` maps every key, which showed in token endpoint
 * profiles (the token TTL settings and client authentication read it several times per token).
 */
export const clientMetadata = (() => {
  const cache = new WeakMap<object, Record<string, unknown>>();
  return (client: { metadata(): Record<string, unknown> }): Record<string, unknown> => {
    let metadata = cache.get(client);
    if (!metadata) cache.set(client, (metadata = client.metadata()));
    return metadata;
  };
})();

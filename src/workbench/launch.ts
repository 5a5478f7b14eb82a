/**
 * Where a launch sends the browser. An app with `initiate_login_uri` is asked to start its own
 * sign-in (OpenID Connect third-party-initiated login); a confidential app without one gets an
 * authorization request started by Atrium for its launch callback (the joint-operation workbench
 * flow), which the signed-in user's session answers at once with `code`, `tenant` and `iss`.
 */
import type { App } from '../directory/index.js';
import { LAUNCH_PARAM } from '../oidc/launch-ticket.js';

export type LaunchTarget = { kind: 'redirect'; url: string } | { kind: 'not_launchable' };

export function launchTarget(app: App, options: { issuer: string; loginHint: string; ticket: (redirectUri: string) => string }): LaunchTarget {
  if (app.initiateLoginUri) {
    const url = new URL(app.initiateLoginUri);
    url.searchParams.set('iss', options.issuer);
    url.searchParams.set('login_hint', options.loginHint);
    url.searchParams.set('target_link_uri', `${url.origin}/`);
    return { kind: 'redirect', url: url.href };
  }
  const callback = app.redirectUris[0];
  if (app.type !== 'confidential' || !callback) return { kind: 'not_launchable' };
  const query = new URLSearchParams({
    client_id: app.clientId,
    redirect_uri: callback,
    response_type: 'code',
    scope: 'openid get_user_info',
    // Atrium starts this request, not the app: the ticket exempts it from PKCE (launch-ticket.ts).
    [LAUNCH_PARAM]: options.ticket(callback),
  });
  return { kind: 'redirect', url: `${options.issuer}/auth?${query}` };
}

/**
 * Was this request started by another site? Fetch metadata first, then Origin, then Referer; a
 * request with none of them (a typed URL, a bookmark) counts as the user's own.
 */
export function isCrossSite(headers: { get(name: string): string }, issuerOrigin: string): boolean {
  const site = headers.get('sec-fetch-site');
  if (site) return site !== 'same-origin' && site !== 'none';
  const origin = headers.get('origin');
  if (origin) return origin !== issuerOrigin;
  const referer = headers.get('referer');
  if (!referer) return false;
  try {
    return new URL(referer).origin !== issuerOrigin;
  } catch {
    return true;
  }
}

/**
 * The authorization endpoint answers a GET with 302 Found, as RFC 6749 (4.1.2) and OpenID Connect
 * Core (3.1.2.5) show it and the joint-operation contract asks ("302 to redirect_uri?code=…");
 * oidc-provider always answers 303, which after a GET means the same to browsers. A POST keeps 303,
 * so that the browser follows it with a GET.
 */
import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The provider's names for the authorization endpoint (/auth) and its resume after an interaction (/auth/:uid). */
const AUTHORIZATION_ROUTES = new Set(['authorization', 'resume']);

/** After the provider answered: a 303 of the authorization endpoint to a GET becomes a 302. */
export function foundAfterAuthorizationGet(ctx: Context): void {
  // Method and status first: this runs after every request.
  if (ctx.status !== 303 || ctx.method !== 'GET') return;
  const route = (ctx as unknown as Partial<KoaContextWithOIDC>).oidc?.route;
  if (route !== undefined && AUTHORIZATION_ROUTES.has(route)) ctx.status = 302;
}

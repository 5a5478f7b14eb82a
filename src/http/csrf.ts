/**
 * CSRF protection for Atrium's own forms: a random token in an HttpOnly SameSite=Lax cookie, echoed
 * by the form in a hidden field; a POST whose field does not match is refused. (Lax, not Strict: a
 * browser arriving from an app, a cross-site navigation, must send the cookie it has, or the page
 * would set a new one and every other open form of that browser would fail as expired. A cross-site
 * POST carries no Lax cookie either way.)
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { AtriumError } from '../errors.js';

export const CSRF_COOKIE = 'atrium_csrf';
export const CSRF_FIELD = 'csrf';
const FORMAT = /^[A-Za-z0-9_-]{43}$/;

/**
 * The cookie's name: over https with the `__Host-` prefix, which the browser keeps only from this
 * host, Secure, for the whole path: a sibling subdomain (an app at crm.corp.example beside
 * sso.corp.example) cannot plant its own token for the browser to send here.
 */
const cookieName = (ctx: Context): string => (ctx.secure ? `__Host-${CSRF_COOKIE}` : CSRF_COOKIE);

/** The token for forms on this page, created when the browser has none. */
export function csrfToken(ctx: Context): string {
  const existing = ctx.cookies.get(cookieName(ctx));
  if (existing && FORMAT.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  ctx.cookies.set(cookieName(ctx), token, { httpOnly: true, sameSite: 'lax', path: '/', overwrite: true });
  return token;
}

/** Does the form's token match the browser's? */
export function csrfMatches(ctx: Context, submitted: unknown): boolean {
  const expected = ctx.cookies.get(cookieName(ctx));
  return (
    typeof submitted === 'string' &&
    expected !== undefined &&
    FORMAT.test(expected) &&
    // Well-formed first: the same number of characters need not be the same number of bytes.
    FORMAT.test(submitted) &&
    timingSafeEqual(Buffer.from(submitted), Buffer.from(expected))
  );
}

export function assertCsrf(ctx: Context, submitted: unknown): void {
  if (!csrfMatches(ctx, submitted)) throw new AtriumError('csrf_failed', 'This form has expired. Go back, reload the page and try again.', 403);
}

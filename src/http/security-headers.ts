/**
 * Security headers on every answer. The Content-Security-Policy allows only this origin's scripts
 * and styles plus one per-request nonce (the provider adds the hash of its own form_post script).
 * There is no form-action directive on purpose: Chromium applies it to the redirects that follow a
 * form submission, and the sign-in form's redirects end at the app's callback on another origin.
 */
import { randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';

export function createSecurityHeaders(): Middleware {
  return async function securityHeaders(ctx, next) {
    const nonce = randomBytes(16).toString('base64');
    ctx.state.cspNonce = nonce;
    ctx.set({
      'Content-Security-Policy': [
        "default-src 'none'",
        `script-src 'self' 'nonce-${nonce}'`,
        "style-src 'self'",
        "img-src 'self' https: data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
      ].join('; '),
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
    });
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}

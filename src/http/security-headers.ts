/**
 * Security headers on every answer. The Content-Security-Policy allows only this origin's scripts
 * and styles plus one per-request nonce (the provider adds the hash of its own form_post script).
 * There is no form-action directive on purpose: Chromium applies it to the redirects that follow a
 * form submission, and the sign-in form's redirects end at the app's callback on another origin.
 */
import { randomFillSync } from 'node:crypto';
import type { Middleware } from 'koa';

/**
 * Random bytes for nonces, drawn from the system's CSPRNG 4 KiB at a time rather than 16 bytes per
 * request (one system call per 256 answers instead of one per answer). Every byte is used once.
 */
function randomPool(size = 4096): (bytes: number) => Buffer {
  const pool = Buffer.alloc(size);
  let offset = size;
  return (bytes) => {
    if (offset + bytes > size) {
      randomFillSync(pool);
      offset = 0;
    }
    const out = Buffer.from(pool.subarray(offset, offset + bytes));
    offset += bytes;
    return out;
  };
}

export function createSecurityHeaders(): Middleware {
  const random = randomPool();
  return async function securityHeaders(ctx, next) {
    const nonce = random(16).toString('base64');
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

/**
 * Security headers on every answer. The Content-Security-Policy allows only this origin's scripts
 * and styles plus one per-request nonce (the provider adds the hash of its own form_post script).
 * There is no form-action directive on purpose: Chromium applies it to the redirects that follow a
 * form submission, and the sign-in form's redirects end at the app's callback on another origin.
 */
import { randomFillSync } from 'node:crypto';
import type { Context } from 'koa';

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

const CSP_BEFORE_NONCE = "default-src 'none'; script-src 'self' 'nonce-";
const CSP_AFTER_NONCE = [
  "'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
  "base-uri 'none'",
].join('; ');
const FIXED: [string, string][] = [
  ['X-Frame-Options', 'DENY'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
];

/** For answers that are never a page: nothing may load, run or frame. */
const CSP_NO_CONTENT = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Sets the security headers of an answer, with a new nonce (also in `ctx.state.cspNonce`); on the
 * paths in `jsonOnly`, which never answer with a page, a policy that allows nothing instead.
 */
export function createSecurityHeaders(jsonOnly: ReadonlySet<string> = new Set()): (ctx: Context) => void {
  const random = randomPool();
  return function securityHeaders(ctx) {
    // Straight on Node's response: nothing has been sent yet, and Koa's ctx.set would allocate
    // arrays for each header on every request.
    const { res } = ctx;
    if (jsonOnly.has(ctx.path)) {
      res.setHeader('Content-Security-Policy', CSP_NO_CONTENT);
    } else {
      const nonce = random(16).toString('base64');
      ctx.state.cspNonce = nonce;
      res.setHeader('Content-Security-Policy', CSP_BEFORE_NONCE + nonce + CSP_AFTER_NONCE);
    }
    for (const [name, value] of FIXED) res.setHeader(name, value);
    if (ctx.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  };
}

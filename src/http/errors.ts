/**
 * The one error middleware: any error thrown below becomes a JSON error for API callers or an
 * error page for browsers, with a status from the error, never a stack trace. Unexpected errors
 * are logged and shown as a generic 500.
 */
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { errors } from 'oidc-provider';
import { AtriumError, describe } from '../errors.js';
import type { MessageKey } from './i18n.js';
import type { Render } from './pages.js';

const KNOWN_STATUSES = new Set([400, 403, 404, 405, 409, 413, 415, 429, 500, 503]);

/** The i18n key of the heading of an error page with this status. */
export const headingKey = (status: number): MessageKey => (KNOWN_STATUSES.has(status) ? (`error.${status}` as MessageKey) : 'error.title');

/** Koa's and its body parser's errors carry `status` and `expose`. */
interface HttpLikeError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  message?: string;
  code?: string;
  type?: string;
  /** oidc-provider's errors: `message` is the OAuth error code, this is the sentence. */
  error_description?: string;
}

/** A sign-in page (an interaction) that is no longer there or not this browser's. */
export class SignInExpired extends AtriumError {
  constructor() {
    super('invalid_request', 'This sign-in page has expired. Go back to the app and start again.', 400);
  }
}

export function toAtriumError(err: unknown): AtriumError {
  if (err instanceof AtriumError) return err;
  const e = (err ?? {}) as HttpLikeError;
  const status = e.status ?? e.statusCode ?? 500;
  if (status >= 400 && status < 500 && e.expose !== false) {
    if (e.error_description) return new AtriumError(e.message ?? 'invalid_request', e.error_description, status);
    const code = status === 413 ? 'request_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
    return new AtriumError(code, e.message ?? 'invalid request', status);
  }
  return new AtriumError('server_error', 'Something went wrong on our side', 500, { expose: true, cause: err });
}

/** The provider's own endpoints (its default routes): JSON only, none of them answered by Atrium's routes. */
export const PROVIDER_ONLY = new Set(['/token', '/me', '/token/introspection', '/token/revocation', '/jwks', '/.well-known/openid-configuration']);

export const wantsJson = (ctx: Context): boolean =>
  PROVIDER_ONLY.has(ctx.path) || ctx.path.startsWith('/api/') || ctx.path.startsWith('/admin/api/') || ctx.accepts('html', 'json') === 'json';

/** Around each request (see app.ts): `check` its answer, `render` what it threw. */
export interface ErrorHandling {
  /** After a request ran: nothing answered it (404), or the provider's 503 lacks a retry hint. */
  check(ctx: Context): void;
  /** Answers with `thrown` as a JSON error or an error page; logs it when it is Atrium's fault. */
  render(ctx: Context, thrown: unknown): void;
}

export function createErrorHandling(render: Render, logger: Logger): ErrorHandling {
  return {
    check(ctx) {
      if (ctx.status === 404 && ctx.body === undefined) throw new AtriumError('not_found', 'There is nothing at this address', 404);
      // The provider renders its own 503s (a store outage inside it) without a retry hint.
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', '2');
    },
    render(ctx, thrown) {
      const err = toAtriumError(thrown);
      if (err.status >= 500) logger.error({ err: thrown, path: ctx.path, method: ctx.method }, 'request failed');
      ctx.set(err.headers);
      if (wantsJson(ctx)) {
        ctx.status = err.status;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: err.code, error_description: describe(err) };
      } else {
        // A sign-in page used already, left open too long, or reached again with the back button:
        // said in the reader's language, with the way on, rather than in the provider's words.
        const expiredSignIn = thrown instanceof errors.SessionNotFound || err instanceof SignInExpired;
        render(
          ctx,
          'error',
          expiredSignIn
            ? { headingKey: 'error.signInExpired', messageKey: 'error.signInExpiredText', code: err.code }
            : { headingKey: headingKey(err.status), message: describe(err), code: err.code },
          err.status,
        );
      }
    },
  };
}

/**
 * The one error middleware: any error thrown below becomes a JSON error for API callers or an
 * error page for browsers, with a status from the error, never a stack trace. Unexpected errors
 * are logged and shown as a generic 500.
 */
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { AtriumError } from '../errors.js';
import type { Render } from './pages.js';

const HEADINGS: Record<number, string> = {
  400: 'That request could not be understood',
  403: 'Not allowed',
  404: 'Page not found',
  405: 'Method not allowed',
  413: 'Request too large',
  415: 'Unsupported content type',
  429: 'Too many requests',
  503: 'Temporarily unavailable',
};

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

export const wantsJson = (ctx: Context): boolean =>
  ctx.path.startsWith('/api/') || ctx.path.startsWith('/admin/api/') || ctx.accepts('html', 'json') === 'json';

export function createErrorMiddleware(render: Render, logger: Logger): Middleware {
  return async function errors(ctx, next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AtriumError('not_found', 'There is nothing at this address', 404);
    } catch (thrown) {
      const err = toAtriumError(thrown);
      if (err.status >= 500) logger.error({ err: thrown, path: ctx.path, method: ctx.method }, 'request failed');
      ctx.set(err.headers);
      if (wantsJson(ctx)) {
        ctx.status = err.status;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: err.code, error_description: err.message };
      } else {
        render(ctx, 'error', { title: HEADINGS[err.status] ?? 'Something went wrong', heading: HEADINGS[err.status] ?? 'Something went wrong', message: err.message, code: err.code }, err.status);
      }
    }
  };
}

/** The stylesheet and other files under public/, read once at start and served with a validator. */
import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';

const PUBLIC = fileURLToPath(new URL('../../public/', import.meta.url));
const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' };

export function createStaticFiles(prefix = '/static/'): Middleware {
  const files = new Map(
    readdirSync(PUBLIC).map((name) => {
      const body = readFileSync(`${PUBLIC}${name}`);
      return [`${prefix}${name}`, { body, type: TYPES[extname(name)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }];
    }),
  );
  // Browsers ask every site for /favicon.ico: the icon (an SVG, which they take there too), not a 404 page.
  const icon = files.get(`${prefix}favicon.svg`);
  if (icon) files.set('/favicon.ico', icon);
  return async function staticFiles(ctx, next) {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.etag = file.etag;
    ctx.type = file.type;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = file.body;
  };
}

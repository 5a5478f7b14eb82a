/** `/healthz`: the process is up. `/readyz`: it can serve, i.e. its store answers. */
import type { Middleware } from 'koa';
import type { Store } from '../store/store.js';

export function createHealthRoutes(store: Store): Middleware {
  return async function health(ctx, next) {
    if (ctx.path === '/healthz') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      ctx.set('Cache-Control', 'no-store');
      try {
        await store.ping();
        ctx.body = { status: 'ready', store: store.driver };
      } catch {
        ctx.status = 503;
        ctx.set('Retry-After', '2');
        ctx.body = { status: 'unavailable', store: store.driver };
      }
      return;
    }
    await next();
  };
}

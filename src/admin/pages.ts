/**
 * The admin pages: server-rendered views of the admin API's data. Every change is made by
 * public/admin.js calling the admin API (with the CSRF header), so the pages add no second way to
 * change anything. The platform admin signs in with the bootstrap account (organisation `platform`).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Directory } from '../directory/index.js';
import { csrfToken } from '../http/csrf.js';
import type { Render } from '../http/pages.js';
import type { AdminDeps } from './routes.js';
import { callAdminRoute } from './routes.js';
import type { Principal } from './auth.js';

const SECTIONS = ['tenants', 'apps', 'assignments', 'users', 'sessions', 'audit'] as const;
type Section = (typeof SECTIONS)[number];

/** The same request without a query, for a list the page shows besides its own (the admin routes read their list parameters from ctx.query). */
const withoutListQuery = (ctx: Context): Context => Object.create(ctx, { query: { value: {} } }) as Context;

export function createAdminPages(deps: AdminDeps & { directory: Directory }, render: Render) {
  const router = new Router({ prefix: '/admin' });

  /** The signed-in admin, or a trip through the sign-in page and back here. */
  const principalOrSignIn = async (ctx: Context): Promise<Principal | undefined> => {
    try {
      return await deps.auth.principal(ctx);
    } catch (err) {
      if ((err as { status?: number }).status === 401) {
        ctx.status = 303;
        ctx.redirect(`/signin?return_to=${encodeURIComponent(ctx.originalUrl)}`);
        return undefined;
      }
      throw err;
    }
  };

  const page = async (ctx: Context, section: Section) => {
    const principal = await principalOrSignIn(ctx);
    if (!principal) return;
    if ((section === 'tenants' || section === 'apps') && !principal.platform) deps.auth.requirePlatform(principal);
    // The tenant picker lists the tenants whatever the page's own list parameters (q, cursor, limit) are.
    const tenants = (await callAdminRoute(deps, withoutListQuery(ctx), principal, 'get', '/tenants')) as { items: { id: string; code: string; name: string }[] };
    const tenantId = typeof ctx.query.tenant === 'string' ? ctx.query.tenant : principal.platform ? tenants.items.find((t) => t.code !== 'platform')?.id ?? principal.tenantId : principal.tenantId;
    const scoped = { tenantId };
    const data: Record<string, unknown> = {};
    if (section === 'tenants') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants');
    if (section === 'apps' && principal.platform) data.list = await callAdminRoute(deps, ctx, principal, 'get', '/apps');
    if (section === 'assignments') {
      data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/assignments', scoped);
      if (principal.platform) data.apps = await callAdminRoute(deps, ctx, principal, 'get', '/apps');
    }
    if (section === 'users') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/users', scoped);
    if (section === 'sessions') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/sessions', scoped);
    if (section === 'audit') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/audit', scoped);
    render(ctx, `admin/${section}`, {
      title: `Admin · ${section}`,
      section,
      sections: SECTIONS.filter((s) => principal.platform || (s !== 'tenants' && s !== 'apps')),
      principal,
      tenants: tenants.items,
      tenantId,
      csrf: csrfToken(ctx),
      q: typeof ctx.query.q === 'string' ? ctx.query.q : '',
      ...data,
    });
  };

  router.get('/', async (ctx) => {
    const principal = await principalOrSignIn(ctx);
    if (!principal) return;
    ctx.status = 303;
    ctx.redirect(principal.platform ? '/admin/tenants' : '/admin/users');
  });
  for (const section of SECTIONS) router.get(`/${section}`, (ctx) => page(ctx, section));
  return router;
}

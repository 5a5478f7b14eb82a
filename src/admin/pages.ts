/**
 * The admin pages: server-rendered views of the admin API's data. Every change is made by
 * public/admin.js calling the admin API (with the CSRF header), so the pages add no second way to
 * change anything. The platform admin signs in with the bootstrap account (organisation `platform`).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Directory } from '../directory/index.js';
import { CSRF_FIELD, csrfToken } from '../http/csrf.js';
import type { Render } from '../http/pages.js';
import type { AdminDeps } from './routes.js';
import { callAdminRoute } from './routes.js';
import type { Principal } from './auth.js';

const SECTIONS = ['tenants', 'apps', 'assignments', 'users', 'sessions', 'audit'] as const;
type Section = (typeof SECTIONS)[number];

/**
 * Links to the next page of a list and back to its first, keeping the page's other parameters
 * (tenant, q, limit); undefined where there is none.
 */
function pageLinks(ctx: Context, list: unknown): { next?: string; first?: string } {
  const here = new URLSearchParams(ctx.querystring);
  const nextCursor = (list as { next_cursor?: string | null } | undefined)?.next_cursor;
  const link = (cursor: string | undefined): string => {
    const params = new URLSearchParams(here);
    if (cursor) params.set('cursor', cursor);
    else params.delete('cursor');
    const query = params.toString();
    return query ? `${ctx.path}?${query}` : ctx.path;
  };
  return { next: nextCursor ? link(nextCursor) : undefined, first: here.has('cursor') ? link(undefined) : undefined };
}

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
    // The tenant picker: every tenant for a platform admin (not a page of them, and whatever the
    // page's own list parameters q, cursor and limit are), a tenant admin's own otherwise.
    const tenants = (principal.platform ? await deps.directory.tenants.list() : [await deps.directory.tenants.byId(principal.tenantId)])
      .filter((t) => t !== undefined)
      .map(({ id, code, name }) => ({ id, code, name }));
    const tenantId = typeof ctx.query.tenant === 'string' ? ctx.query.tenant : principal.platform ? tenants.find((t) => t.code !== 'platform')?.id ?? principal.tenantId : principal.tenantId;
    const scoped = { tenantId };
    const data: Record<string, unknown> = {};
    const chosen = (name: string): string | undefined => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : undefined);
    if (section === 'tenants') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants');
    if (section === 'apps' && principal.platform) {
      data.list = await callAdminRoute(deps, ctx, principal, 'get', '/apps');
      // ?edit={clientId}: that app's edit form (404 for one that does not exist).
      const edit = chosen('edit');
      if (edit) data.editing = await callAdminRoute(deps, ctx, principal, 'get', '/apps/{clientId}', { clientId: edit });
    }
    if (section === 'assignments') {
      data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/assignments', scoped);
      // Apps by name (the tenant's admins see the names of the apps assigned to it, as on the
      // workbench); the platform admin's form offers every app.
      const apps = (await deps.directory.apps.list()).map(({ clientId, name }) => ({ clientId, name }));
      data.appNames = Object.fromEntries(apps.map((a) => [a.clientId, a.name]));
      if (principal.platform) data.apps = apps.sort((a, b) => a.name.localeCompare(b.name));
    }
    if (section === 'users') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/users', scoped);
    if (section === 'sessions') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/sessions', scoped);
    if (section === 'audit') data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/audit', scoped);
    render(ctx, `admin/${section}`, {
      title: `Admin · ${section}`,
      section,
      sections: SECTIONS.filter((s) => principal.platform || (s !== 'tenants' && s !== 'apps')),
      principal,
      tenants,
      pages: pageLinks(ctx, data.list),
      tenantId,
      csrf: csrfToken(ctx),
      csrfField: CSRF_FIELD,
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

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
import { auditRows, namedUserIds, utcTime, type Names } from './audit-rows.js';
import { localeOf } from '../http/i18n.js';
import { adminTranslator, scriptMessages, type AdminTranslate } from './messages/index.js';
import type { Page } from './pagination.js';
import type { Assignment } from '../directory/assignments.js';
import type { AuditEvent } from '../directory/audit.js';
import { WORKBENCH_CLIENT_ID } from '../oidc/provider.js';
import type { SessionSummary } from '../oidc/sessions.js';

type SessionRow = SessionSummary & { user_id: string; username: string };

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

  /**
   * The assignments of a tenant (the route checks the principal may see it), the usernames of the
   * users they are limited to, and with ?app={clientId} that assignment's choice of users, with
   * every user of the tenant to choose from.
   */
  const assignmentsData = async (ctx: Context, principal: Principal, tenantId: string, app: string | undefined) => {
    const list = (await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/assignments', { tenantId })) as Page<Assignment>;
    // Apps by name (the tenant's admins see the names of the apps assigned to it, as on the
    // workbench); the platform admin's form offers every app.
    const apps = (await deps.directory.apps.list()).map(({ clientId, name }) => ({ clientId, name }));
    const choosing = app ? await deps.directory.assignments.get(tenantId, app) : undefined;
    const limited = choosing !== undefined || list.items.some((a) => a.userIds);
    const users = limited ? (await deps.directory.users.list(tenantId)).map(({ id, username, name }) => ({ id, username, name })) : [];
    return {
      list,
      appNames: Object.fromEntries(apps.map((a) => [a.clientId, a.name])),
      usernames: Object.fromEntries(users.map((u) => [u.id, u.username])),
      ...(principal.platform ? { apps: apps.sort((a, b) => a.name.localeCompare(b.name)) } : {}),
      ...(choosing ? { choosing, users } : {}),
    };
  };

  /**
   * The names an audit page shows: the usernames of the users its events name and the names of the
   * apps. An admin of another tenant (the platform's) is shown to the platform admin with that
   * tenant's code, and to a tenant's admin as a role, without their address (see Names).
   */
  const auditNames = async (principal: Principal, tenantId: string, events: AuditEvent[], t: AdminTranslate): Promise<Names> => {
    const users = new Map<string, string>();
    const outsiders = new Set<string>();
    const tenantCodes = new Map<string, string>();
    for (const id of namedUserIds(events)) {
      const user = await deps.directory.users.byId(id);
      if (!user) continue;
      if (user.tenantId === tenantId) {
        users.set(id, user.username);
      } else if (!principal.platform) {
        outsiders.add(id);
        users.set(id, t('admin.audit.platformAdmin'));
      } else {
        if (!tenantCodes.has(user.tenantId)) tenantCodes.set(user.tenantId, (await deps.directory.tenants.byId(user.tenantId))?.code ?? '?');
        users.set(id, `${user.username} (${tenantCodes.get(user.tenantId)})`);
      }
    }
    return { users, apps: await appNames(t), ...(principal.platform ? {} : { outsiders }) };
  };

  /** The names of the apps (the workbench's own client by its name), by client id. */
  const appNames = async (t: AdminTranslate): Promise<Map<string, string>> =>
    new Map([[WORKBENCH_CLIENT_ID, t('admin.workbench')], ...(await deps.directory.apps.list()).map((a) => [a.clientId, a.name] as const)]);

  /** A page of sessions, newest sign-in first, with the apps each signed into by name. */
  const sessionRows = async (sessions: SessionRow[], t: AdminTranslate) => {
    const names = await appNames(t);
    return sessions
      .map((s) => ({ ...s, apps: s.apps.map((id) => names.get(id) ?? id).sort((a, b) => a.localeCompare(b)) }))
      .sort((a, b) => (b.signedInAt ?? '').localeCompare(a.signedInAt ?? ''));
  };

  const page = async (ctx: Context, section: Section) => {
    const principal = await principalOrSignIn(ctx);
    if (!principal) return;
    const lang = localeOf(ctx);
    const t = adminTranslator(lang);
    if ((section === 'tenants' || section === 'apps') && !principal.platform) deps.auth.requirePlatform(principal);
    // The tenant picker: every tenant for a platform admin (not a page of them, and whatever the
    // page's own list parameters q, cursor and limit are), a tenant admin's own otherwise.
    const tenants = (principal.platform ? await deps.directory.tenants.list() : [await deps.directory.tenants.byId(principal.tenantId)])
      .filter((t) => t !== undefined)
      .map(({ id, code, name }) => ({ id, code, name }));
    // (Only an id: it goes into the pages' links, and a route checks it before anything is read.)
    const tenantId = typeof ctx.query.tenant === 'string' && /^[0-9a-f]{32}$/.test(ctx.query.tenant) ? ctx.query.tenant : principal.platform ? tenants.find((t) => t.code !== 'platform')?.id ?? principal.tenantId : principal.tenantId;
    const scoped = { tenantId };
    const data: Record<string, unknown> = {};
    const chosen = (name: string): string | undefined => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : undefined);
    if (section === 'tenants') {
      data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants');
      // ?edit={tenantId}: that tenant's rename form (404 for one that does not exist).
      const edit = chosen('edit');
      if (edit) data.editing = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}', { tenantId: edit });
    }
    if (section === 'apps' && principal.platform) {
      data.list = await callAdminRoute(deps, ctx, principal, 'get', '/apps');
      // ?edit={clientId}: that app's edit form (404 for one that does not exist).
      const edit = chosen('edit');
      if (edit) data.editing = await callAdminRoute(deps, ctx, principal, 'get', '/apps/{clientId}', { clientId: edit });
    }
    if (section === 'assignments') Object.assign(data, await assignmentsData(ctx, principal, tenantId, chosen('app')));
    if (section === 'users') {
      data.list = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/users', scoped);
      // ?edit={userId}: that user's edit form; 404 for a user who is not of the tenant shown, which
      // a tenant admin's principal may see only when it is their own.
      const edit = chosen('edit');
      if (edit) data.editing = await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/users/{userId}', { ...scoped, userId: edit });
    }
    if (section === 'sessions') {
      const list = (await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/sessions', scoped)) as Page<SessionRow>;
      data.list = list;
      data.sessions = await sessionRows(list.items, t);
    }
    if (section === 'audit') {
      const list = (await callAdminRoute(deps, ctx, principal, 'get', '/tenants/{tenantId}/audit', scoped)) as Page<AuditEvent>;
      data.list = list;
      data.rows = auditRows(list.items.slice().reverse(), await auditNames(principal, tenantId, list.items, t));
    }
    render(ctx, `admin/${section}`, {
      title: t('admin.title', { section: t(`admin.section.${section}`) }),
      t,
      section,
      sections: SECTIONS.filter((s) => principal.platform || (s !== 'tenants' && s !== 'apps')),
      principal,
      tenants,
      pages: pageLinks(ctx, data.list),
      tenantId,
      csrf: csrfToken(ctx),
      csrfField: CSRF_FIELD,
      q: typeof ctx.query.q === 'string' ? ctx.query.q : '',
      utcTime,
      scriptMessages: scriptMessages(lang),
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

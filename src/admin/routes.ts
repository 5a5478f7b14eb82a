/**
 * The admin API's routes, as one table. The router and the OpenAPI document are both built from
 * it, so the document cannot drift from the implementation. Handlers validate input (zod, 400
 * naming the field), call one directory function, and record admin changes in the audit trail.
 */
import { z } from 'zod';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Directory, User } from '../directory/index.js';
import { toPublicApp } from '../directory/apps.js';
import { adminEvent, MAX_AUDIT_RANGE_DAYS, type AdminEvent } from '../directory/audit.js';
import { toPublicUser, userChangesSchema } from '../directory/users.js';
import { isoDate, parseInput } from '../directory/validation.js';
import { AtriumError, notFound } from '../errors.js';
import { importEvents, importUsers, MAX_API_IMPORT_ROWS, readUsersFile, type ImportError } from '../directory/import.js';
import { csrfToken } from '../http/csrf.js';
import type { Backchannel } from '../oidc/backchannel.js';
import { revokeClientGrants } from '../oidc/logout.js';
import { endAccountSessions, listAccountSessions } from '../oidc/sessions.js';
import type { Store } from '../store/store.js';
import type { AdminAuth, Principal } from './auth.js';
import { LIST_QUERY, paginate } from './pagination.js';
import { changeTenant, disableUser, publicTenant } from './users.js';

export interface AdminDeps {
  provider: Provider;
  directory: Directory;
  backchannel: Backchannel;
  store: Store;
  auth: AdminAuth;
}

export interface AdminRoute {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** OpenAPI style: /tenants/{tenantId} */
  path: string;
  summary: string;
  platformOnly?: boolean;
  query?: Record<string, string>;
  body?: z.ZodType;
  /** Content types of a raw text body (instead of JSON), handed to the handler as a Buffer. */
  textBody?: string[];
  status?: number;
  handle(call: { ctx: Context; principal: Principal; params: Record<string, string>; body: unknown; deps: AdminDeps }): Promise<unknown>;
}

const publicUser = (u: User) => {
  const p = toPublicUser(u);
  return { id: p.id, tenant_id: p.tenantId, username: p.username, name: p.name, email: p.email, mobile: p.mobile, role: p.role, status: p.status, created_at: p.createdAt, updated_at: p.updatedAt };
};

/** An import refused for its rows: 400 with every error by line, nothing imported. */
const invalidRows = (ctx: Context, errors: ImportError[]) => {
  ctx.status = 400;
  return { error: 'invalid_input', error_description: `${errors.length} invalid row(s), nothing imported`, errors };
};

const record = (deps: AdminDeps, ctx: Context, principal: Principal, event: AdminEvent) => deps.directory.audit.record(adminEvent(event, { by: principal.userId, ip: ctx.ip }));

const createUserBody = z.object({
  username: z.string(),
  password: z.string(),
  name: z.string().optional(),
  email: z.string().optional(),
  mobile: z.string().optional(),
  role: z.enum(['user', 'admin']).optional(),
});
const appBody = z.object({
  name: z.string(),
  description: z.string().optional(),
  logoUri: z.string().optional(),
  redirectUris: z.array(z.string()),
  initiateLoginUri: z.string().optional(),
  postLogoutRedirectUris: z.array(z.string()).optional(),
  backchannelLogoutUri: z.string().optional(),
  type: z.enum(['confidential', 'public']).optional(),
  allowRefresh: z.boolean().optional(),
  requirePkce: z.boolean().optional(),
  accessTokenTtl: z.number().int().optional(),
  refreshTokenTtl: z.number().int().optional(),
  management: z.object({ role: z.enum(['platform', 'tenant']), tenantId: z.string().optional() }).optional(),
});
const assignmentBody = z.object({ expiresAt: isoDate.optional(), userIds: z.array(z.string()).optional() }).strict();
const auditQuery = z.object({ from: isoDate.optional(), to: isoDate.optional(), type: z.string().max(64).optional(), userId: z.string().max(64).optional() });

/**
 * Refuses an admin's change that would lock themselves out (disable, delete or demote their own
 * account): with nobody else to undo it, a tenant would be left without an admin. Another admin may.
 */
const notOwnAccount = (principal: Principal, user: User, what: string): void => {
  if (principal.userId === user.id) throw new AtriumError('invalid_input', `You cannot ${what} your own account; another administrator can`, 400);
};

/** A user of the tenant in the path, for a principal allowed to see that tenant. */
const scopedUser = async ({ deps, principal, params }: Parameters<AdminRoute['handle']>[0]) => {
  const tenant = await deps.auth.tenant(principal, params.tenantId!);
  return { tenant, user: await deps.auth.user(tenant, params.userId!) };
};

export const ADMIN_ROUTES: AdminRoute[] = [
  {
    method: 'get',
    path: '/session',
    summary: 'The signed-in administrator, and the CSRF token to send as X-CSRF-Token',
    async handle({ ctx, principal }) {
      return { user_id: principal.userId, username: principal.username, tenant_id: principal.tenantId, platform: principal.platform, csrf_token: csrfToken(ctx) };
    },
  },
  // Tenants
  {
    method: 'get',
    path: '/tenants',
    summary: 'List tenants (platform admins: all; tenant admins: their own)',
    query: LIST_QUERY,
    async handle({ ctx, principal, deps }) {
      const all = (await deps.directory.tenants.list()).filter((t) => principal.platform || t.id === principal.tenantId);
      const page = paginate(all, ctx.query, (t) => t.code, (t) => [t.code, t.name]);
      return { ...page, items: page.items.map(publicTenant) };
    },
  },
  {
    method: 'post',
    path: '/tenants',
    summary: 'Create a tenant',
    platformOnly: true,
    body: z.object({ code: z.string(), name: z.string() }),
    status: 201,
    async handle({ ctx, principal, body, deps }) {
      const tenant = await deps.directory.tenants.create(body);
      await record(deps, ctx, principal, { type: 'admin.tenant.create', tenantId: tenant.id, after: publicTenant(tenant) });
      return publicTenant(tenant);
    },
  },
  {
    method: 'get',
    path: '/tenants/{tenantId}',
    summary: 'Get a tenant',
    async handle({ principal, params, deps }) {
      return publicTenant(await deps.auth.tenant(principal, params.tenantId!));
    },
  },
  {
    method: 'patch',
    path: '/tenants/{tenantId}',
    summary: 'Rename, disable or enable a tenant',
    platformOnly: true,
    body: z.object({ name: z.string().optional(), status: z.enum(['active', 'disabled']).optional() }),
    async handle({ ctx, principal, params, body, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const { tenant: after } = await changeTenant(deps, tenant.id, body, (event) => record(deps, ctx, principal, event));
      return publicTenant(after);
    },
  },
  // Apps
  {
    method: 'get',
    path: '/apps',
    summary: 'List apps',
    platformOnly: true,
    query: LIST_QUERY,
    async handle({ ctx, deps }) {
      const page = paginate(await deps.directory.apps.list(), ctx.query, (a) => a.clientId, (a) => [a.name, a.description, a.clientId]);
      return { ...page, items: page.items.map(toPublicApp) };
    },
  },
  {
    method: 'post',
    path: '/apps',
    summary: 'Register an app; a confidential app’s client_secret is in this answer only',
    platformOnly: true,
    body: appBody,
    status: 201,
    async handle({ ctx, principal, body, deps }) {
      const { app, clientSecret } = await deps.directory.apps.create(body);
      await record(deps, ctx, principal, { type: 'admin.app.create', tenantId: principal.tenantId, clientId: app.clientId, after: toPublicApp(app) });
      ctx.set('Cache-Control', 'no-store');
      return { ...toPublicApp(app), ...(clientSecret ? { client_secret: clientSecret } : {}) };
    },
  },
  {
    method: 'get',
    path: '/apps/{clientId}',
    summary: 'Get an app',
    platformOnly: true,
    async handle({ params, deps }) {
      return toPublicApp(await deps.directory.apps.require(params.clientId!));
    },
  },
  {
    method: 'patch',
    path: '/apps/{clientId}',
    summary: 'Change an app (redirect URIs are validated as at registration)',
    platformOnly: true,
    body: appBody.omit({ management: true }).partial(),
    async handle({ ctx, principal, params, body, deps }) {
      const { before, after } = await deps.directory.apps.update(params.clientId!, body);
      await record(deps, ctx, principal, { type: 'admin.app.update', tenantId: principal.tenantId, clientId: before.clientId, before: toPublicApp(before), after: toPublicApp(after) });
      return toPublicApp(after);
    },
  },
  {
    method: 'delete',
    path: '/apps/{clientId}',
    summary: 'Delete an app: revokes every token issued to it and ends its assignments',
    platformOnly: true,
    status: 204,
    async handle({ ctx, principal, params, deps }) {
      const app = await deps.directory.apps.remove(params.clientId!);
      // The app is gone (its tokens stop working with it); revoking them and ending its
      // assignments follows, and the deletion is audited whether or not that all went well.
      let revoked: number | undefined;
      try {
        revoked = await revokeClientGrants(deps.provider, deps.store, app.clientId);
        for (const tenant of await deps.directory.tenants.list()) await deps.directory.assignments.unassign(tenant.id, app.clientId);
      } finally {
        await record(deps, ctx, principal, { type: 'admin.app.delete', tenantId: principal.tenantId, clientId: app.clientId, before: toPublicApp(app), after: { grantsRevoked: revoked ?? null } });
      }
      return undefined;
    },
  },
  {
    method: 'post',
    path: '/apps/{clientId}/rotate-secret',
    summary:
      'Issue a new client secret (in this answer only); the old one stays valid for graceSeconds (default 24 h). Refused (409) while the grace period of the last rotation runs, unless graceSeconds is 0 (which ends every old secret at once)',
    platformOnly: true,
    body: z.object({ graceSeconds: z.number().int().min(0).max(30 * 86_400).optional() }).strict(),
    async handle({ ctx, principal, params, body, deps }) {
      const { graceSeconds } = parseInput(z.object({ graceSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400) }).strict(), body ?? {});
      const { app, clientSecret } = await deps.directory.apps.rotateSecret(params.clientId!, graceSeconds);
      await record(deps, ctx, principal, { type: 'admin.app.rotate_secret', tenantId: principal.tenantId, clientId: app.clientId, after: { previousSecretExpiresAt: app.previousSecretExpiresAt } });
      ctx.set('Cache-Control', 'no-store');
      return { client_id: app.clientId, client_secret: clientSecret, previous_secret_expires_at: app.previousSecretExpiresAt };
    },
  },
  {
    method: 'post',
    path: '/apps/{clientId}/end-previous-secret',
    summary: 'End the grace period of the secret the last rotation replaced: it is refused from now on; the current secret stays',
    platformOnly: true,
    async handle({ ctx, principal, params, deps }) {
      const { before } = await deps.directory.apps.endPreviousSecret(params.clientId!);
      const ended = before.previousSecretExpiresAt !== undefined && Date.parse(before.previousSecretExpiresAt) > Date.now();
      await record(deps, ctx, principal, { type: 'admin.app.end_previous_secret', tenantId: principal.tenantId, clientId: params.clientId!, before: { previousSecretExpiresAt: before.previousSecretExpiresAt ?? null } });
      return { client_id: params.clientId!, previous_secret_ended: ended };
    },
  },
  // Assignments
  {
    method: 'get',
    path: '/tenants/{tenantId}/assignments',
    summary: 'The apps a tenant subscribes to',
    query: LIST_QUERY,
    async handle({ ctx, principal, params, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const assignments = await deps.directory.assignments.listForTenant(tenant.id);
      return paginate(assignments, ctx.query, (a) => a.clientId, (a) => [a.clientId]);
    },
  },
  {
    method: 'put',
    path: '/tenants/{tenantId}/assignments/{clientId}',
    summary: 'Assign an app to a tenant, or change the assignment: until expiresAt (absent: no end); userIds: only those users (absent: the users chosen so far stay; []: every user)',
    platformOnly: true,
    body: assignmentBody,
    async handle({ ctx, principal, params, body, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const app = await deps.directory.apps.require(params.clientId!);
      const { expiresAt, userIds } = parseInput(assignmentBody, body);
      for (const id of userIds ?? []) await deps.auth.user(tenant, id);
      const { before, after } = await deps.directory.assignments.assign({ tenantId: tenant.id, clientId: app.clientId, expiresAt, userIds });
      await record(deps, ctx, principal, { type: 'admin.assignment.put', tenantId: tenant.id, clientId: app.clientId, before, after });
      return after;
    },
  },
  {
    method: 'delete',
    path: '/tenants/{tenantId}/assignments/{clientId}',
    summary: 'End a tenant’s subscription to an app',
    platformOnly: true,
    status: 204,
    async handle({ ctx, principal, params, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const before = await deps.directory.assignments.get(tenant.id, params.clientId!);
      if (!before || !(await deps.directory.assignments.unassign(tenant.id, params.clientId!))) throw notFound('assignment not found');
      await record(deps, ctx, principal, { type: 'admin.assignment.delete', tenantId: tenant.id, clientId: before.clientId, before });
      return undefined;
    },
  },
  {
    method: 'put',
    path: '/tenants/{tenantId}/assignments/{clientId}/users',
    summary: 'Choose which of the tenant’s users see a subscribed app (an empty list: everyone)',
    body: z.object({ userIds: z.array(z.string()) }).strict(),
    async handle({ ctx, principal, params, body, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      if (!(await deps.directory.assignments.get(tenant.id, params.clientId!))) throw notFound('assignment not found');
      const { userIds } = parseInput(z.object({ userIds: z.array(z.string()).max(10_000) }).strict(), body);
      for (const id of userIds) await deps.auth.user(tenant, id);
      const changed = await deps.directory.assignments.setUsers(tenant.id, params.clientId!, userIds);
      if (!changed) throw notFound('assignment not found');
      const { before, after } = changed;
      await record(deps, ctx, principal, { type: 'admin.assignment.users', tenantId: tenant.id, clientId: before.clientId, before, after });
      return after;
    },
  },
  {
    method: 'get',
    path: '/tenants/{tenantId}/sessions',
    summary: 'The live sessions of a tenant’s users, newest sign-in first',
    query: LIST_QUERY,
    async handle({ ctx, principal, params, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const users = await deps.directory.users.list(tenant.id);
      const sessions = (
        await Promise.all(users.map(async (u) => (await listAccountSessions(deps.provider, deps.store, u.id)).map((s) => ({ ...s, user_id: u.id, username: u.username }))))
      ).flat();
      // Newest sign-in first: ordered by the time left until 2286 (ten digits of seconds), then uid.
      const newestFirst = (s: { uid: string; signedInAt?: string }): string =>
        `${s.signedInAt ? String(1e10 - Math.floor(Date.parse(s.signedInAt) / 1000)).padStart(10, '0') : '9999999999'}:${s.uid}`;
      return paginate(sessions, ctx.query, newestFirst, (s) => [s.username]);
    },
  },
  // Users
  {
    method: 'get',
    path: '/tenants/{tenantId}/users',
    summary: 'List a tenant’s users (each with `locked`: too many failed sign-ins, until unlocked or the hour ends)',
    query: LIST_QUERY,
    async handle({ ctx, principal, params, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const page = paginate(await deps.directory.users.list(tenant.id), ctx.query, (u) => u.username.toLowerCase(), (u) => [u.username, u.name, u.email]);
      // Whether each is locked by failed sign-ins (one read for the page).
      const locked = await deps.directory.throttle.locked(tenant.code, page.items.map((u) => u.username));
      return { ...page, items: page.items.map((u, i) => ({ ...publicUser(u), locked: locked[i] })) };
    },
  },
  {
    method: 'post',
    path: '/tenants/{tenantId}/users',
    summary: 'Create a user',
    body: createUserBody,
    status: 201,
    async handle({ ctx, principal, params, body, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const user = await deps.directory.users.create(tenant.id, body);
      await record(deps, ctx, principal, { type: 'admin.user.create', tenantId: tenant.id, userId: user.id, after: publicUser(user) });
      return publicUser(user);
    },
  },
  {
    method: 'post',
    path: '/tenants/{tenantId}/users:import',
    summary: 'Import users from CSV (text/csv; header username,password,name,email,mobile,role) or JSON lines (application/x-ndjson), in UTF-8, up to 50,000 rows: all rows are validated first, errors by line; idempotent',
    textBody: ['text/csv', 'application/x-ndjson', 'application/jsonl'],
    async handle({ ctx, principal, params, body, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const format = ctx.is('text/csv') ? 'csv' : ctx.is('application/x-ndjson', 'application/jsonl') ? 'jsonl' : undefined;
      if (!format || !Buffer.isBuffer(body)) throw new AtriumError('unsupported_media_type', 'Send text/csv or application/x-ndjson', 415);
      const { rows, errors } = readUsersFile(body, format, { maxRows: MAX_API_IMPORT_ROWS });
      if (errors.length > 0) return invalidRows(ctx, errors);
      const leave = deps.directory.imports.enter(tenant.id);
      try {
        // Hashed behind sign-ins (directory.importing): an import never gets them refused.
        const result = await importUsers(deps.directory.importing, tenant.id, rows, { parallelism: 2 });
        if (result.errors.length > 0) return invalidRows(ctx, result.errors);
        // What was written is audited, also when the import stopped halfway.
        for (const event of importEvents(tenant.id, result.report!, result.failure)) await record(deps, ctx, principal, event);
        if (result.failure !== undefined) throw result.failure;
        return { rows: rows.length, created: result.report!.created, updated: result.report!.updated };
      } finally {
        leave();
      }
    },
  },
  {
    method: 'get',
    path: '/tenants/{tenantId}/users/{userId}',
    summary: 'Get a user',
    async handle(call) {
      return publicUser((await scopedUser(call)).user);
    },
  },
  {
    method: 'patch',
    path: '/tenants/{tenantId}/users/{userId}',
    summary: 'Change a user’s name, e-mail, mobile or role',
    body: userChangesSchema,
    async handle(call) {
      const { tenant, user } = await scopedUser(call);
      const changes = parseInput(userChangesSchema, call.body);
      if (changes.role !== undefined && changes.role !== 'admin') notOwnAccount(call.principal, user, 'demote');
      // Audited against the version this change replaced (another admin may have changed it since it was read).
      const { before, after } = await call.deps.directory.users.change(user.id, changes);
      await record(call.deps, call.ctx, call.principal, { type: 'admin.user.update', tenantId: tenant.id, userId: user.id, before: publicUser(before), after: publicUser(after) });
      return publicUser(after);
    },
  },
  {
    method: 'delete',
    path: '/tenants/{tenantId}/users/{userId}',
    summary: 'Delete a user: ends their sessions (with back-channel logout) and stops their tokens',
    status: 204,
    async handle(call) {
      const { tenant, user } = await scopedUser(call);
      notOwnAccount(call.principal, user, 'delete');
      await endAccountSessions(call.deps.provider, call.deps.backchannel, call.deps.store, user.id);
      await call.deps.directory.users.remove(user.id);
      await record(call.deps, call.ctx, call.principal, { type: 'admin.user.delete', tenantId: tenant.id, userId: user.id, before: publicUser(user) });
      return undefined;
    },
  },
  {
    method: 'post',
    path: '/tenants/{tenantId}/users/{userId}/disable',
    summary: 'Disable a user: ends their sessions (with back-channel logout) and stops their tokens',
    async handle(call) {
      const { user } = await scopedUser(call);
      notOwnAccount(call.principal, user, 'disable');
      const { user: after, sessionsEnded } = await disableUser(call.deps, user.id, { by: call.principal.userId, ip: call.ctx.ip });
      return { ...publicUser(after), sessions_ended: sessionsEnded };
    },
  },
  {
    method: 'post',
    path: '/tenants/{tenantId}/users/{userId}/enable',
    summary: 'Enable a disabled user',
    async handle(call) {
      const { tenant, user } = await scopedUser(call);
      const { before, after } = await call.deps.directory.users.change(user.id, { status: 'active' });
      await record(call.deps, call.ctx, call.principal, { type: 'admin.user.enable', tenantId: tenant.id, userId: user.id, before: before.status, after: after.status });
      return publicUser(after);
    },
  },
  {
    method: 'post',
    path: '/tenants/{tenantId}/users/{userId}/unlock',
    summary: 'Lift a sign-in lock after too many failed attempts',
    async handle(call) {
      const { tenant, user } = await scopedUser(call);
      await call.deps.directory.throttle.unlock(tenant.code, user.username);
      await record(call.deps, call.ctx, call.principal, { type: 'admin.user.unlock', tenantId: tenant.id, userId: user.id });
      return { unlocked: true };
    },
  },
  {
    method: 'post',
    path: '/tenants/{tenantId}/users/{userId}/reset-password',
    summary: 'Set a new password (the password policy applies)',
    body: z.object({ password: z.string() }),
    async handle(call) {
      const { tenant, user } = await scopedUser(call);
      await call.deps.directory.users.resetPassword(user.id, (call.body as { password?: unknown } | undefined)?.password);
      // Never the password itself, nor its hash, in the audit trail.
      await record(call.deps, call.ctx, call.principal, { type: 'admin.user.reset_password', tenantId: tenant.id, userId: user.id });
      return { reset: true };
    },
  },
  {
    method: 'get',
    path: '/tenants/{tenantId}/users/{userId}/sessions',
    summary: 'A user’s live sessions',
    query: LIST_QUERY,
    async handle(call) {
      const { user } = await scopedUser(call);
      return paginate(await listAccountSessions(call.deps.provider, call.deps.store, user.id), call.ctx.query, (s) => s.uid, (s) => s.apps);
    },
  },
  {
    method: 'delete',
    path: '/tenants/{tenantId}/users/{userId}/sessions',
    summary: 'End all of a user’s sessions (with back-channel logout)',
    async handle(call) {
      const { tenant, user } = await scopedUser(call);
      const ended = await endAccountSessions(call.deps.provider, call.deps.backchannel, call.deps.store, user.id);
      await record(call.deps, call.ctx, call.principal, { type: 'admin.user.end_sessions', tenantId: tenant.id, userId: user.id, after: { ended } });
      return { sessions_ended: ended };
    },
  },
  // Audit
  {
    method: 'get',
    path: '/tenants/{tenantId}/audit',
    summary: `Audit events of a tenant, by time (at most ${MAX_AUDIT_RANGE_DAYS} days; default: the last 24 hours), type and user`,
    query: { from: 'ISO-8601 start (default: a day before to)', to: `ISO-8601 end (default: now), at most ${MAX_AUDIT_RANGE_DAYS} days after from: a longer range is refused (400)`, type: 'Event type, e.g. signin.failure', userId: 'A user id', ...LIST_QUERY },
    async handle({ ctx, principal, params, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const { from, to, type, userId } = parseInput(auditQuery, ctx.query);
      const end = to ? new Date(to) : new Date();
      const start = from ? new Date(from) : new Date(end.getTime() - 86_400_000);
      const events = await deps.directory.audit.query(tenant.id, { from: start, to: end, type, userId });
      return paginate(events, { limit: ctx.query.limit, cursor: ctx.query.cursor, q: ctx.query.q }, (e) => e.id, (e) => [e.type, e.userId ?? '', e.clientId ?? '']);
    },
  },
  {
    method: 'get',
    path: '/tenants/{tenantId}/audit/counts',
    summary: 'Counts of tokens issued (by grant type) and revoked, for one UTC day (default today)',
    query: { day: 'YYYY-MM-DD' },
    async handle({ ctx, principal, params, deps }) {
      const tenant = await deps.auth.tenant(principal, params.tenantId!);
      const { day } = parseInput(z.object({ day: z.iso.date().optional() }), ctx.query);
      const date = day ?? new Date().toISOString().slice(0, 10);
      return { day: date, counts: await deps.directory.audit.counts(tenant.id, date) };
    },
  },
];

/**
 * Runs one route of the table for another caller (the admin pages), with the same authorization
 * rules as the API. Throws the route's own errors.
 */
export async function callAdminRoute(
  deps: AdminDeps,
  ctx: Context,
  principal: Principal,
  method: AdminRoute['method'],
  path: string,
  params: Record<string, string> = {},
): Promise<unknown> {
  const route = ADMIN_ROUTES.find((r) => r.method === method && r.path === path);
  if (!route) throw new Error(`no admin route ${method} ${path}`);
  if (route.platformOnly) deps.auth.requirePlatform(principal);
  return route.handle({ ctx, principal, params, body: undefined, deps });
}

/**
 * The audit page's rows: an event as an administrator reads it — when, what, by whom, on which user
 * or app, from where, and what changed as `field: old → new` lines. (The trail keeps an admin
 * change's before and after as JSON; it never holds secrets or passwords, see directory/audit.ts.)
 */
import type { AuditEvent } from '../directory/audit.js';

export interface AuditRow {
  id: string;
  at: string;
  /** `YYYY-MM-DD HH:MM:SS UTC` */
  time: string;
  type: string;
  actor: string;
  target: string[];
  ip: string;
  changes: Change[];
}

/**
 * One line: `from → to` for a changed field; `to` alone for a field of a record created or removed
 * whole, or a detail of the event; `from` alone for a field that a change took away.
 */
export interface Change {
  field: string;
  from?: string;
  to?: string;
}

/** Display names of the users and apps an event may name, by id (what the page could look up). */
export interface Names {
  users: ReadonlyMap<string, string>;
  apps: ReadonlyMap<string, string>;
  /**
   * For a tenant's admin: the users of other tenants (the platform's admins), whose names the page
   * says as a role and whose addresses it does not show; and the command line without the account
   * of the machine it ran on. Absent for the platform admin, who sees them.
   */
  outsiders?: ReadonlySet<string>;
}

/** Fields that must never be shown, at any depth (none is ever recorded); counts of them may be. */
const SECRET = /password(?!s_?reset)|secret(?!_?expires)|hash/i;
/** …and fields that say nothing to a reader. */
const HIDDEN = new RegExp(`^(created_?at|updated_?at|id|tenant_?id|client_?id)$|${SECRET.source}`, 'i');

export const utcTime = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');

/** The user ids an event names, so that the page can look their usernames up. */
export function namedUserIds(events: readonly AuditEvent[]): string[] {
  const ids = new Set<string>();
  for (const e of events) {
    if (e.userId) ids.add(e.userId);
    const by = e.detail?.by;
    if (typeof by === 'string' && /^[0-9a-f]{32}$/.test(by)) ids.add(by);
    for (const side of [e.detail?.before, e.detail?.after]) {
      const value = parse(side);
      if (isRecord(value) && Array.isArray(value.userIds)) for (const id of value.userIds) ids.add(String(id));
    }
  }
  return [...ids];
}

export function auditRows(events: readonly AuditEvent[], names: Names): AuditRow[] {
  // A deleted user's name is in the deletion's own record.
  const deleted = new Map<string, string>();
  for (const e of events) {
    const from = parse(e.detail?.before);
    if (e.type === 'admin.user.delete' && isRecord(from) && typeof from.id === 'string' && typeof from.username === 'string') deleted.set(from.id, `${from.username} (deleted)`);
  }
  const user = (id: string): string => names.users.get(id) ?? deleted.get(id) ?? `unknown user ${id.slice(0, 8)}…`;
  const app = (id: string): string => names.apps.get(id) ?? `app ${id.slice(0, 8)}…`;
  return events.map((e) => {
    const { by, before, after, ...rest } = e.detail ?? {};
    const admin = typeof by === 'string';
    const from = parse(before);
    const to = parse(after);
    const targetUser = e.userId ? user(e.userId) : undefined;
    return {
      id: e.id,
      at: e.at,
      time: utcTime(e.at),
      type: e.type,
      actor: admin ? actorName(by, user, app, names.outsiders !== undefined) : targetUser ?? '—',
      target: [...(admin && targetUser ? [targetUser] : []), ...(e.clientId ? [app(e.clientId)] : []), ...(e.type.startsWith('admin.tenant.') ? tenantOf(to, from) : [])],
      ip: admin && names.outsiders?.has(by) ? '' : e.ip ?? '',
      changes: [...diff(from, to, user), ...Object.entries(rest).filter(([field]) => !HIDDEN.test(field)).map(([field, value]) => ({ field, to: show(value, field, user) }))],
    };
  });
}

/** The tenant a tenant's event is about, from its record: `Name (code)`, the name as it is after the change. */
function tenantOf(...records: unknown[]): string[] {
  const record = records.find((r): r is Record<string, unknown> => isRecord(r) && typeof r.name === 'string' && typeof r.code === 'string');
  return record ? [`${String(record.name)} (${String(record.code)})`] : [];
}

/** `by` of an admin event: a user id, `app:{client id}` (a management app) or `cli:{system user}`. */
function actorName(by: string, user: (id: string) => string, app: (id: string) => string, forTenant: boolean): string {
  if (by.startsWith('app:')) return `${app(by.slice(4))} (management app)`;
  if (by.startsWith('cli:')) return forTenant ? 'command line' : `command line (${by.slice(4)})`;
  return user(by);
}

function diff(from: unknown, to: unknown, user: (id: string) => string): Change[] {
  if (from === null && to === null) return [];
  if (!isRecord(from) && !isRecord(to)) return [{ field: 'status', ...(from === null ? {} : { from: show(from, '', user) }), ...(to === null ? {} : { to: show(to, '', user) }) }];
  // A record created or removed as a whole: its fields as they were (the event's type says which).
  if (from === null || to === null) {
    const record = isRecord(from) ? from : to;
    if (!isRecord(record)) return [{ field: 'status', to: show(record, '', user) }];
    return Object.entries(record)
      .filter(([field, value]) => !HIDDEN.test(field) && value !== '' && !(Array.isArray(value) && value.length === 0))
      .map(([field, value]) => ({ field, to: show(value, field, user) }));
  }
  const a = isRecord(from) ? from : {};
  const b = isRecord(to) ? to : {};
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((field) => !HIDDEN.test(field));
  const changes: Change[] = [];
  for (const field of fields) {
    if (JSON.stringify(a[field]) === JSON.stringify(b[field])) continue;
    // An assignment without userIds is open to every user of the tenant.
    const side = (record: Record<string, unknown>, present: boolean): string | undefined =>
      field in record ? show(record[field], field, user) : field === 'userIds' && present ? 'every user' : undefined;
    const old = side(a, isRecord(from));
    const next = side(b, isRecord(to));
    changes.push({ field, ...(old === undefined ? {} : { from: old }), ...(next === undefined ? {} : { to: next }) });
  }
  return changes;
}

function show(value: unknown, field: string, user: (id: string) => string): string {
  if (value === null || value === undefined) return '—';
  if (value === '') return '(empty)';
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map((v) => (field === 'userIds' ? user(String(v)) : show(v, '', user))).join(', ');
  if (typeof value === 'object') return JSON.stringify(value, (key, inner: unknown) => (key && SECRET.test(key) ? undefined : inner));
  return String(value);
}

function parse(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value; // a plain string (a disabling records the status as it is)
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

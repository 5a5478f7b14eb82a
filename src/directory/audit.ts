/**
 * The audit trail: events by tenant and day, kept for the retention period. Each day of a tenant is
 * one hash (`audit:{tenantId}:{YYYY-MM-DD}`), field = the time of day and a random suffix (the event
 * id without its day), value = the rest of the event as a JSON array `[type, userId, clientId, ip,
 * detail]` (null where absent, trailing nulls left out): what the key and field already say (id,
 * time and tenant) and the field names are not stored, to keep a busy tenant's trail small. Events
 * written as JSON objects by earlier versions read back as well. Events never hold secrets or
 * passwords: callers pass identifiers and outcomes only.
 */
import { randomBytes } from 'node:crypto';
import { invalidInput } from '../errors.js';
import type { Store } from '../store/store.js';

export interface AuditEvent {
  id: string;
  at: string;
  type: string;
  tenantId: string;
  userId?: string;
  clientId?: string;
  ip?: string;
  detail?: Record<string, string | number | boolean | null>;
}

/** A change an administrator made, as the trail keeps it (see adminEvent). */
export interface AdminEvent {
  type: string;
  tenantId: string;
  userId?: string;
  clientId?: string;
  before?: unknown;
  after?: unknown;
  detail?: Record<string, string | number>;
}

/**
 * An admin change as an audit event: who (`by`: a user id, `app:{client id}` or `cli:{system user}`),
 * what, before and after (as JSON; callers pass public views, never a secret), from which address.
 */
export function adminEvent(event: AdminEvent, actor: { by: string; ip?: string }): Omit<AuditEvent, 'id' | 'at'> {
  return {
    type: event.type,
    tenantId: event.tenantId,
    ...(event.userId ? { userId: event.userId } : {}),
    ...(event.clientId ? { clientId: event.clientId } : {}),
    ...(actor.ip ? { ip: actor.ip } : {}),
    detail: { by: actor.by, before: JSON.stringify(event.before ?? null), after: JSON.stringify(event.after ?? null), ...event.detail },
  };
}

/** An event id is its ISO timestamp, '-' and 8 hex digits: `2026-11-29T04:56:43.672Z-11cd85d7`. */
const DAY = 'YYYY-MM-DD'.length;
const TIMESTAMP = 'YYYY-MM-DDTHH:MM:SS.mmmZ'.length;

const dayKey = (tenantId: string, day: string): string => `audit:${tenantId}:${day}`;
const countKey = (tenantId: string, day: string, type: string): string => `audit-count:${tenantId}:${day}:${type}`;

/** The longest span one query reads. */
export const MAX_AUDIT_RANGE_DAYS = 31;

/** Frequent events are counted per tenant and day instead of recorded one by one. */
export const COUNTED = ['token.authorization_code', 'token.refresh_token', 'token.client_credentials', 'token.revoked'] as const;
export type CountedEvent = (typeof COUNTED)[number];

export type Audit = ReturnType<typeof createAudit>;

type Stored = Omit<AuditEvent, 'id' | 'at' | 'tenantId'>;
const POSITIONS = ['type', 'userId', 'clientId', 'ip', 'detail'] as const;

function encodeEvent(event: Stored): string {
  const values: unknown[] = POSITIONS.map((name) => event[name] ?? null);
  while (values.length > 1 && values[values.length - 1] === null) values.pop();
  return JSON.stringify(values);
}

function decodeEvent(value: string): Stored {
  const parsed = JSON.parse(value) as unknown;
  if (!Array.isArray(parsed)) return parsed as Stored; // an event stored as an object
  const event: Record<string, unknown> = {};
  POSITIONS.forEach((name, i) => {
    if (parsed[i] !== null && parsed[i] !== undefined) event[name] = parsed[i];
  });
  return event as unknown as Stored;
}

/** How long token counts gather in memory before they are added to the store. */
const COUNT_FLUSH_MS = 1000;

export function createAudit(store: Store, options: { retentionDays: number }) {
  const ttl = options.retentionDays * 86_400;
  // Token counts are added up in memory and written once a second (and at close), one INCRBY per
  // tenant, day and type, instead of one store write per token. As before, counting never fails a
  // request: a batch the store refuses is dropped (never written twice), and a process killed
  // outright loses at most its last second of counts. Flushes run one after another, so awaiting
  // `flush` also awaits the one the timer started.
  const pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let flushed: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = [...pending];
    pending.clear();
    flushed = flushed.then(async () => {
      await Promise.all(batch.map(([key, by]) => store.incr(key, { by, ttl }).catch(() => undefined)));
    });
    return flushed;
  };
  return {
    async record(event: Omit<AuditEvent, 'id' | 'at'>): Promise<AuditEvent> {
      const at = new Date().toISOString();
      const full: AuditEvent = { id: `${at}-${randomBytes(4).toString('hex')}`, at, ...event };
      const { tenantId, ...rest } = event;
      await store.hset(dayKey(tenantId, at.slice(0, 10)), { [full.id.slice(DAY)]: encodeEvent(rest) }, { ttl });
      return full;
    },

    /** Counts one token event (written within a second; see `flush`). */
    count(tenantId: string, type: CountedEvent): void {
      const key = countKey(tenantId, new Date().toISOString().slice(0, 10), type);
      pending.set(key, (pending.get(key) ?? 0) + 1);
      timer ??= setTimeout(() => void flush(), COUNT_FLUSH_MS).unref();
    },

    /** Writes the counts gathered so far. */
    flush,

    /** A tenant's counts of one UTC day (this process's latest included). */
    async counts(tenantId: string, day: string): Promise<Record<CountedEvent, number>> {
      await flush();
      const values = await store.getMany(COUNTED.map((type) => countKey(tenantId, day, type)));
      return Object.fromEntries(COUNTED.map((type, i) => [type, Number(values[i] ?? 0)])) as Record<CountedEvent, number>;
    },

    /**
     * A tenant's events between two instants, filtered, oldest first. A range longer than
     * MAX_AUDIT_RANGE_DAYS (a day hash read for each of its days) or backwards is refused, naming the field.
     */
    async query(tenantId: string, filter: { from: Date; to: Date; type?: string; userId?: string }): Promise<AuditEvent[]> {
      if (filter.from > filter.to) throw invalidInput('from: must not be after to');
      if (filter.to.getTime() - filter.from.getTime() > MAX_AUDIT_RANGE_DAYS * 86_400_000) throw invalidInput(`to: at most ${MAX_AUDIT_RANGE_DAYS} days after from`);
      const days: string[] = [];
      for (let day = new Date(filter.from.toISOString().slice(0, 10)); day <= filter.to; day = new Date(day.getTime() + 86_400_000)) {
        days.push(day.toISOString().slice(0, 10));
      }
      const events = (await Promise.all(days.map((day) => this.ofDay(tenantId, day)))).flat();
      const from = filter.from.toISOString();
      const to = filter.to.toISOString();
      return events.filter(
        (e) => e.at >= from && e.at <= to && (!filter.type || e.type === filter.type) && (!filter.userId || e.userId === filter.userId),
      );
    },

    /** A tenant's events of one UTC day (YYYY-MM-DD), oldest first. */
    async ofDay(tenantId: string, day: string): Promise<AuditEvent[]> {
      const fields = (await store.hgetall(dayKey(tenantId, day))) ?? {};
      return Object.keys(fields)
        .sort()
        .map((field) => {
          // Events written before the compact layout carry their whole id as the field and all of it in the value.
          const id = field.startsWith('T') ? `${day}${field}` : field;
          return { id, at: id.slice(0, TIMESTAMP), tenantId, ...decodeEvent(fields[field]!) } as AuditEvent;
        });
    },
  };
}

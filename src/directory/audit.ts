/**
 * The audit trail: events by tenant and day, kept for the retention period. Each day of a tenant is
 * one hash (`audit:{tenantId}:{YYYY-MM-DD}`), field = time-ordered event id, value = the event.
 * Events never hold secrets or passwords: callers pass identifiers and outcomes only.
 */
import { randomBytes } from 'node:crypto';
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

const dayKey = (tenantId: string, day: string): string => `audit:${tenantId}:${day}`;

export type Audit = ReturnType<typeof createAudit>;

export function createAudit(store: Store, options: { retentionDays: number }) {
  const ttl = options.retentionDays * 86_400;
  return {
    async record(event: Omit<AuditEvent, 'id' | 'at'>): Promise<AuditEvent> {
      const at = new Date().toISOString();
      const full: AuditEvent = { id: `${at}-${randomBytes(4).toString('hex')}`, at, ...event };
      await store.hset(dayKey(event.tenantId, at.slice(0, 10)), { [full.id]: JSON.stringify(full) }, { ttl });
      return full;
    },

    /** A tenant's events of one UTC day (YYYY-MM-DD), oldest first. */
    async ofDay(tenantId: string, day: string): Promise<AuditEvent[]> {
      const fields = (await store.hgetall(dayKey(tenantId, day))) ?? {};
      return Object.keys(fields)
        .sort()
        .map((id) => JSON.parse(fields[id]!) as AuditEvent);
    },
  };
}

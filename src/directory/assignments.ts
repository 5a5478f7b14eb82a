/**
 * Assignments: a tenant's subscription to an app, optionally until `expiresAt`, optionally for
 * listed users only. Only an assigned, unexpired app may obtain codes for a user.
 */
import { z } from 'zod';
import type { Store } from '../store/store.js';
import { now, readRecord, readRecordFresh, readRecords, removeRecord, rewriteRecord, writeRecord } from './records.js';
import { isoDate, parseInput } from './validation.js';

export interface Assignment {
  tenantId: string;
  clientId: string;
  expiresAt?: string;
  /** When present, only these users (ids) of the tenant may use the app. */
  userIds?: string[];
  createdAt: string;
  updatedAt: string;
}

export type AccessDecision = 'granted' | 'unassigned' | 'expired' | 'not_listed';

const assignSchema = z.object({
  tenantId: z.string().regex(/^[0-9a-f]{32}$/),
  clientId: z.string().regex(/^[0-9a-f]{32}$/),
  expiresAt: isoDate.optional(),
  userIds: z.array(z.string().regex(/^[0-9a-f]{32}$/)).min(1).optional(),
});

const key = (tenantId: string, clientId: string): string => `assignment:${tenantId}:${clientId}`;
const tenantKey = (tenantId: string): string => `tenant-apps:${tenantId}`;

export type Assignments = ReturnType<typeof createAssignments>;

export function createAssignments(store: Store) {
  const get = (tenantId: string, clientId: string): Promise<Assignment | undefined> =>
    readRecord<Assignment>(store, key(tenantId, clientId));

  return {
    get,

    /** Creates or replaces the assignment of an app to a tenant. */
    async assign(input: unknown): Promise<Assignment> {
      const data = parseInput(assignSchema, input);
      const existing = await readRecordFresh<Assignment>(store, key(data.tenantId, data.clientId));
      const at = now();
      const assignment: Assignment = {
        tenantId: data.tenantId,
        clientId: data.clientId,
        ...(data.expiresAt ? { expiresAt: new Date(data.expiresAt).toISOString() } : {}),
        ...(data.userIds ? { userIds: [...new Set(data.userIds)] } : {}),
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      };
      await writeRecord(store, key(data.tenantId, data.clientId), assignment);
      await store.sadd(tenantKey(data.tenantId), [data.clientId]);
      return assignment;
    },

    /**
     * Which of the tenant's users see the app (none listed: all), changing nothing else and only an
     * assignment that still exists as it was read (a tenant admin's choice never brings back or
     * extends a subscription that the platform ended or shortened meanwhile): undefined when none.
     */
    async setUsers(tenantId: string, clientId: string, userIds: readonly string[]): Promise<{ before: Assignment; after: Assignment } | undefined> {
      const ids = parseInput(assignSchema.shape.userIds, userIds.length > 0 ? userIds : undefined);
      return rewriteRecord<Assignment>(store, key(tenantId, clientId), (current) => {
        const next: Assignment = { ...current, updatedAt: now() };
        if (ids) next.userIds = [...new Set(ids)];
        else delete next.userIds;
        return next;
      });
    },

    /** Ends a tenant's subscription to an app; false when there was none. */
    async unassign(tenantId: string, clientId: string): Promise<boolean> {
      const removed = await removeRecord(store, key(tenantId, clientId));
      await store.srem(tenantKey(tenantId), clientId);
      return removed;
    },

    async listForTenant(tenantId: string): Promise<Assignment[]> {
      const clientIds = await store.smembers(tenantKey(tenantId));
      return readRecords<Assignment>(store, clientIds.map((clientId) => key(tenantId, clientId)));
    },

    /** May this user of this tenant use this app now? */
    async decide(user: { id: string; tenantId: string }, clientId: string, at = new Date()): Promise<AccessDecision> {
      const assignment = await get(user.tenantId, clientId);
      return decideAccess(assignment, user.id, at);
    },
  };
}

export function decideAccess(assignment: Assignment | undefined, userId: string, at: Date): AccessDecision {
  if (!assignment) return 'unassigned';
  if (assignment.expiresAt && new Date(assignment.expiresAt) <= at) return 'expired';
  if (assignment.userIds && !assignment.userIds.includes(userId)) return 'not_listed';
  return 'granted';
}

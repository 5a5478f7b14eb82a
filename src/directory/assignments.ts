/**
 * Assignments: a tenant's subscription to an app, optionally until `expiresAt`, optionally for
 * listed users only. Only an assigned, unexpired app may obtain codes for a user.
 */
import { z } from 'zod';
import type { Store } from '../store/store.js';
import { conflict, invalidInput } from '../errors.js';
import { createRecord, now, readRecord, readRecords, removeRecord, rewriteRecord } from './records.js';
import { isoDate, parseInput, recordId } from './validation.js';

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
  tenantId: recordId,
  clientId: recordId,
  expiresAt: isoDate.optional(),
  userIds: z.array(recordId).optional(),
});

const key = (tenantId: string, clientId: string): string => `assignment:${tenantId}:${clientId}`;
const tenantKey = (tenantId: string): string => `tenant-apps:${tenantId}`;

export type Assignments = ReturnType<typeof createAssignments>;

export function createAssignments(store: Store) {
  const get = (tenantId: string, clientId: string): Promise<Assignment | undefined> =>
    readRecord<Assignment>(store, key(tenantId, clientId));

  return {
    get,

    /**
     * Subscribes a tenant to an app, or changes its subscription: until `expiresAt` (none: no end),
     * for `userIds` (absent: the users chosen so far stay, so that renewing a subscription keeps the
     * tenant admin's choice; empty: every user of the tenant). Made from the latest version, so that
     * a choice of users made meanwhile is not lost. The version it replaced, if any, and the new one.
     */
    async assign(input: unknown, options: { allowPastExpiry?: boolean } = {}): Promise<{ before?: Assignment; after: Assignment }> {
      const data = parseInput(assignSchema, input);
      // An end already past cuts the tenant off at once: an admin's mistake (unassigning is how to
      // end a subscription now). Allowed only where one is made on purpose (the demo, tests).
      if (data.expiresAt && Date.parse(data.expiresAt) <= Date.now() && !options.allowPastExpiry) {
        throw invalidInput('expiresAt: must be in the future (to end a subscription now, unassign the app)');
      }
      const at = now();
      const next = (current: Assignment | undefined): Assignment => {
        const userIds = data.userIds === undefined ? current?.userIds : data.userIds.length > 0 ? [...new Set(data.userIds)] : undefined;
        return {
          tenantId: data.tenantId,
          clientId: data.clientId,
          ...(data.expiresAt ? { expiresAt: new Date(data.expiresAt).toISOString() } : {}),
          ...(userIds ? { userIds } : {}),
          createdAt: current?.createdAt ?? at,
          updatedAt: at,
        };
      };
      const recordKey = key(data.tenantId, data.clientId);
      // Changed if there is one, else created; one ended or made meanwhile is tried again.
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const fresh = next(undefined);
        const result = (await rewriteRecord<Assignment>(store, recordKey, next)) ?? ((await createRecord(store, recordKey, fresh)) ? { after: fresh } : undefined);
        if (result) {
          await store.sadd(tenantKey(data.tenantId), [data.clientId]);
          return result;
        }
      }
      throw conflict('the assignment was changed by other requests meanwhile; try again');
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

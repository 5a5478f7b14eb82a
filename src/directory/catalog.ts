/**
 * What a user's workbench shows: the apps assigned to their tenant that they may see, with their
 * state: available ones first, recently launched first among them, then by name; expired ones last.
 * Launches are remembered per user for 90 days.
 */
import type { Store } from '../store/store.js';
import type { App, Apps } from './apps.js';
import { decideAccess, type Assignments } from './assignments.js';

export interface CatalogEntry {
  app: App;
  state: 'available' | 'expired';
  expiresAt?: string;
  lastLaunchedAt?: number;
}

const RECENT_TTL = 90 * 86_400;
const recentKey = (userId: string): string => `recent-launches:${userId}`;

export type Catalog = ReturnType<typeof createCatalog>;

export function createCatalog(store: Store, apps: Apps, assignments: Assignments) {
  return {
    /** The user's apps: available and expired ones; apps limited to other users never appear. */
    async forUser(user: { id: string; tenantId: string }, at = new Date()): Promise<CatalogEntry[]> {
      const [list, recent] = await Promise.all([assignments.listForTenant(user.tenantId), store.hgetall(recentKey(user.id))]);
      const entries = await Promise.all(
        list.map(async (assignment): Promise<CatalogEntry | undefined> => {
          const decision = decideAccess(assignment, user.id, at);
          if (decision !== 'granted' && decision !== 'expired') return undefined;
          const app = await apps.byId(assignment.clientId);
          if (!app) return undefined;
          const launched = recent?.[app.clientId];
          return {
            app,
            state: decision === 'granted' ? 'available' : 'expired',
            ...(assignment.expiresAt ? { expiresAt: assignment.expiresAt } : {}),
            ...(launched ? { lastLaunchedAt: Number(launched) } : {}),
          };
        }),
      );
      return entries
        .filter((e): e is CatalogEntry => e !== undefined)
        .sort(
          (a, b) =>
            Number(a.state === 'expired') - Number(b.state === 'expired') ||
            (b.lastLaunchedAt ?? 0) - (a.lastLaunchedAt ?? 0) ||
            a.app.name.localeCompare(b.app.name),
        );
    },

    async recordLaunch(userId: string, clientId: string): Promise<void> {
      await store.hset(recentKey(userId), { [clientId]: String(Date.now()) }, { ttl: RECENT_TTL });
      await store.expire(recentKey(userId), RECENT_TTL);
    },
  };
}

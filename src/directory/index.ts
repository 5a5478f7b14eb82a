/** The directory: tenants, users, apps and assignments, and password sign-in. No HTTP here. */
import type { Store } from '../store/store.js';
import { createApps } from './apps.js';
import { createAssignments } from './assignments.js';
import { createAudit } from './audit.js';
import { createCatalog } from './catalog.js';
import { createAuthentication } from './authentication.js';
import { createPasswordHasher, type PasswordCost } from './passwords.js';
import { createTenants } from './tenants.js';
import { createUsers } from './users.js';
import { createThrottle, type ThrottleLimits } from './throttle.js';
import { createWorkQueue } from './work-queue.js';
import { createImportGate } from './import.js';

export type { App, PublicApp } from './apps.js';
export type { Assignment, AccessDecision } from './assignments.js';
export type { AuditEvent } from './audit.js';
export type { CatalogEntry } from './catalog.js';
export type { Tenant } from './tenants.js';
export type { User, PublicUser } from './users.js';

export type Directory = ReturnType<typeof createDirectory>;

export interface DirectoryOptions {
  password: PasswordCost;
  /** Bounds on argon2 work; unbounded when absent (CLI, tests). */
  hashing?: { concurrency: number; maxQueue: number };
  /** Sign-in throttling; none when absent (CLI). */
  throttle?: ThrottleLimits;
  auditRetentionDays?: number;
}

export function createDirectory(store: Store, options: DirectoryOptions) {
  const hasher = createPasswordHasher(options.password, options.hashing ? createWorkQueue(options.hashing) : undefined);
  const throttle = createThrottle(store, options.throttle ?? { accountFailuresPerHour: Infinity, ipFailuresPerHour: Infinity });
  const tenants = createTenants(store);
  const users = createUsers(store, hasher);
  // The same users for imports, whose hashing waits behind sign-ins (see createWorkQueue).
  const importing = createUsers(store, hasher.background());
  const apps = createApps(store, tenants);
  const assignments = createAssignments(store);
  return {
    tenants,
    users,
    importing,
    imports: createImportGate(),
    apps,
    assignments,
    catalog: createCatalog(store, apps, assignments),
    audit: createAudit(store, { retentionDays: options.auditRetentionDays ?? 180 }),
    throttle,
    hashingDepth: () => hasher.depth(),
    authenticate: createAuthentication(tenants, users, hasher, options.throttle ? throttle : undefined),
  };
}

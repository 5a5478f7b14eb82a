/** The directory: tenants, users, apps and assignments, and password sign-in. No HTTP here. */
import type { Store } from '../store/store.js';
import { createApps } from './apps.js';
import { createAssignments } from './assignments.js';
import { createAuthentication } from './authentication.js';
import { createPasswordHasher, type PasswordCost } from './passwords.js';
import { createTenants } from './tenants.js';
import { createUsers } from './users.js';

export type { App, PublicApp } from './apps.js';
export type { Assignment, AccessDecision } from './assignments.js';
export type { Tenant } from './tenants.js';
export type { User, PublicUser } from './users.js';

export type Directory = ReturnType<typeof createDirectory>;

export function createDirectory(store: Store, options: { password: PasswordCost }) {
  const hasher = createPasswordHasher(options.password);
  const tenants = createTenants(store);
  const users = createUsers(store, hasher);
  return {
    tenants,
    users,
    apps: createApps(store),
    assignments: createAssignments(store),
    authenticate: createAuthentication(tenants, users, hasher),
  };
}

/** Tenants: enterprises, each with an opaque id and a unique short code typed at login. */
import { z } from 'zod';
import { conflict, invalidInput, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
import { newId } from './ids.js';
import { createNamedRecord, dropUnnamed, listNewId, namePointsAt, now, readIndexEntry, readRecord, readRecords, updateStatusRecord } from './records.js';
import { displayName, parseInput, tenantCode } from './validation.js';

export interface Tenant {
  id: string;
  code: string;
  name: string;
  status: 'active' | 'disabled';
  /** The tenant of the platform admins (code `platform`), created at bootstrap. */
  platform?: boolean;
  /** Its users' sessions and tokens issued before this (epoch seconds) are void: set when disabled. */
  tokensRevokedAt?: number;
  createdAt: string;
  updatedAt: string;
}

export const PLATFORM_TENANT_CODE = 'platform';

const createSchema = z.object({ code: tenantCode, name: displayName });

const key = (id: string): string => `tenant:${id}`;
const codeKey = (code: string): string => `tenant-code:${code}`;
const ALL = 'tenants';

export type Tenants = ReturnType<typeof createTenants>;

export function createTenants(store: Store) {
  const byId = (id: string): Promise<Tenant | undefined> =>
    /^[0-9a-f]{32}$/.test(id) ? readRecord<Tenant>(store, key(id)) : Promise.resolve(undefined);

  return {
    byId,

    async byCode(code: string): Promise<Tenant | undefined> {
      const id = await readIndexEntry(store, codeKey(code.trim().toLowerCase()));
      return id === undefined ? undefined : byId(id);
    },

    async require(code: string): Promise<Tenant> {
      const tenant = await this.byCode(code);
      if (!tenant) throw notFound(`tenant ${code} not found`);
      return tenant;
    },

    async create(input: unknown, options: { platform?: boolean } = {}): Promise<Tenant> {
      const { code, name } = parseInput(createSchema, input);
      // Bootstrap looks the platform tenant up by its code: another tenant holding it would leave
      // the installation without platform admins.
      if (code === PLATFORM_TENANT_CODE && !options.platform) throw invalidInput(`code: ${PLATFORM_TENANT_CODE} is reserved for the platform's own tenant`);
      const at = now();
      const tenant: Tenant = { id: newId(), code, name, status: 'active', createdAt: at, updatedAt: at };
      if (options.platform) tenant.platform = true;
      // The code is claimed atomically: two creations of one code cannot both win.
      // (Listed first, as a user: see listNewId.)
      if (!(await listNewId(store, ALL, tenant.id, () => namePointsAt(store, codeKey(code), tenant.id), () => createNamedRecord(store, { indexKey: codeKey(code), recordKey: key }, tenant.id, tenant)))) {
        throw conflict(`tenant code ${code} is taken`);
      }
      return tenant;
    },

    async setStatus(id: string, status: Tenant['status']): Promise<Tenant> {
      return this.update(id, { status });
    },

    async update(id: string, input: unknown): Promise<Tenant> {
      return (await this.change(id, input)).after;
    },

    /** As `update`, with the version the change replaced (what was true when it landed). */
    async change(id: string, input: unknown): Promise<{ before: Tenant; after: Tenant }> {
      const changes = parseInput(z.object({ name: displayName, status: z.enum(['active', 'disabled']) }).partial().strict(), input);
      // Disabling the platform's own tenant would sign every platform admin out for good (and only
      // a platform admin may enable a tenant): refused. (Whether a tenant is the platform's never changes.)
      if (changes.status === 'disabled' && (await this.byId(id))?.platform) throw invalidInput("status: the platform's own tenant cannot be disabled");
      return updateStatusRecord<Tenant>(store, /^[0-9a-f]{32}$/.test(id) ? key(id) : undefined, 'tenant', changes);
    },

    async list(): Promise<Tenant[]> {
      const ids = await store.smembers(ALL);
      const tenants = await readRecords<Tenant>(store, ids.map(key));
      return (await dropUnnamed(store, tenants, (t) => codeKey(t.code))).sort((a, b) => a.code.localeCompare(b.code));
    },
  };
}

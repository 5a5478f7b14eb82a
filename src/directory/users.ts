/** Users: each belongs to one tenant; usernames are unique within it, compared case-insensitively. */
import { z } from 'zod';
import { conflict, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
import { newId } from './ids.js';
import type { PasswordHasher } from './passwords.js';
import { createNamedRecord, dropUnnamed, listNewId, namePointsAt, now, readIndexEntry, readRecord, readRecords, removeRecord, updateStatusRecord } from './records.js';
import { displayName, parseInput, password, username } from './validation.js';

export interface User {
  id: string;
  tenantId: string;
  username: string;
  name: string;
  email: string;
  mobile: string;
  role: 'user' | 'admin';
  status: 'active' | 'disabled';
  passwordHash: string;
  /** Sessions and tokens issued before this (epoch seconds) are void: set when disabled. */
  tokensRevokedAt?: number;
  createdAt: string;
  updatedAt: string;
}

/** A user as shown outside the directory: never the password hash. */
export type PublicUser = Omit<User, 'passwordHash'>;
export const toPublicUser = ({ passwordHash: _hash, ...user }: User): PublicUser => user;

export const userChangesSchema = z
  .object({
    name: displayName,
    email: z.union([z.email().max(254), z.literal('')]),
    mobile: z.union([z.string().trim().regex(/^\+?[0-9 ()-]{3,32}$/, 'must be a phone number'), z.literal('')]),
    role: z.enum(['user', 'admin']),
  })
  .partial()
  .strict();

const createSchema = z.object({
  username,
  password,
  name: displayName.optional(),
  email: z.email().max(254).optional(),
  mobile: z.string().trim().regex(/^\+?[0-9 ()-]{3,32}$/, 'must be a phone number').optional(),
  role: z.enum(['user', 'admin']).default('user'),
});

const key = (id: string): string => `user:${id}`;
/** Case-insensitive: the index holds the lower-cased, NFKC-normalised name. */
const nameKey = (tenantId: string, name: string): string => `username:${tenantId}:${name.normalize('NFKC').toLowerCase()}`;
const tenantKey = (tenantId: string): string => `tenant-users:${tenantId}`;

export type Users = ReturnType<typeof createUsers>;

type UserChanges = Partial<Pick<User, 'name' | 'email' | 'mobile' | 'role' | 'status' | 'passwordHash'>>;

export function createUsers(store: Store, hasher: PasswordHasher) {
  const byId = (id: string): Promise<User | undefined> =>
    /^[0-9a-f]{32}$/.test(id) ? readRecord<User>(store, key(id)) : Promise.resolve(undefined);

  return {
    byId,

    async byUsername(tenantId: string, name: string): Promise<User | undefined> {
      const id = await readIndexEntry(store, nameKey(tenantId, name.trim()));
      return id === undefined ? undefined : byId(id);
    },

    async create(tenantId: string, input: unknown): Promise<User> {
      const data = parseInput(createSchema, input);
      const at = now();
      const user: User = {
        id: newId(),
        tenantId,
        username: data.username,
        name: data.name ?? data.username,
        email: data.email ?? '',
        mobile: data.mobile ?? '',
        role: data.role,
        status: 'active',
        passwordHash: await hasher.hash(data.password),
        createdAt: at,
        updatedAt: at,
      };
      // Listed first (see listNewId): a creation that fails after its record and name were written
      // still leaves the user in the tenant's list.
      if (!(await listNewId(store, tenantKey(tenantId), user.id, () => namePointsAt(store, nameKey(tenantId, user.username), user.id), () => createNamedRecord(store, { indexKey: nameKey(tenantId, user.username), recordKey: key }, user.id, user)))) {
        throw conflict(`username ${user.username} is taken in this tenant`);
      }
      return user;
    },

    async update(id: string, changes: UserChanges): Promise<User> {
      return (await this.change(id, changes)).after;
    },

    /** As `update`, with the version the change replaced (what was true when it landed). */
    async change(id: string, changes: UserChanges): Promise<{ before: User; after: User }> {
      return updateStatusRecord<User>(store, /^[0-9a-f]{32}$/.test(id) ? key(id) : undefined, 'user', changes);
    },

    /** Sets a new password (policy applies) and returns the user. */
    async resetPassword(id: string, newPassword: unknown): Promise<User> {
      const { password: checked } = parseInput(z.object({ password }), { password: newPassword });
      return this.update(id, { passwordHash: await hasher.hash(checked) });
    },

    async remove(id: string): Promise<User> {
      const user = await byId(id);
      if (!user) throw notFound('user not found');
      // The index first: its change is then followed by the version move of removeRecord, as every
      // index change is (cached index entries rely on it, see readIndexEntry).
      await store.deleteIfEquals(nameKey(user.tenantId, user.username), id);
      await removeRecord(store, key(id));
      await store.srem(tenantKey(user.tenantId), id);
      return user;
    },

    /** The ids of a tenant's users, in no order (without reading their records). */
    async ids(tenantId: string): Promise<string[]> {
      return store.smembers(tenantKey(tenantId));
    },

    async list(tenantId: string): Promise<User[]> {
      const users = await readRecords<User>(store, (await store.smembers(tenantKey(tenantId))).map(key));
      return (await dropUnnamed(store, users, (u) => nameKey(tenantId, u.username))).sort((a, b) => a.username.localeCompare(b.username));
    },
  };
}

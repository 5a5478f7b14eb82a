/**
 * Sign-in throttling against brute force and credential stuffing, in the store so that every
 * process shares it. Failures are counted in fixed one-hour windows per account (tenant + username,
 * known or not, so throttling reveals nothing) and per client IP. At the limit the account or IP is
 * locked until its window ends; a tenant admin can unlock an account earlier.
 */
import type { Store } from '../store/store.js';

const WINDOW_SECONDS = 3600;

const accountKey = (tenantCode: string, username: string): string =>
  `throttle:account:${tenantCode.trim().toLowerCase()}:${username.trim().normalize('NFKC').toLowerCase()}`;
const ipKey = (ip: string): string => `throttle:ip:${ip}`;

export interface ThrottleLimits {
  accountFailuresPerHour: number;
  ipFailuresPerHour: number;
}

export type Throttle = ReturnType<typeof createThrottle>;

export function createThrottle(store: Store, limits: ThrottleLimits) {
  const count = async (key: string): Promise<number> => Number((await store.get(key)) ?? 0);
  return {
    /** Is this attempt refused before any password check? */
    async isLocked(tenantCode: string, username: string, ip: string | undefined): Promise<boolean> {
      const [account, address] = await Promise.all([count(accountKey(tenantCode, username)), ip ? count(ipKey(ip)) : Promise.resolve(0)]);
      return account >= limits.accountFailuresPerHour || address >= limits.ipFailuresPerHour;
    },

    async recordFailure(tenantCode: string, username: string, ip: string | undefined): Promise<void> {
      await Promise.all([
        store.incr(accountKey(tenantCode, username), { ttl: WINDOW_SECONDS }),
        ip ? store.incr(ipKey(ip), { ttl: WINDOW_SECONDS }) : Promise.resolve(0),
      ]);
    },

    /** Lifts an account's lock (tenant admin). */
    async unlock(tenantCode: string, username: string): Promise<void> {
      await store.del(accountKey(tenantCode, username));
    },

    async failures(tenantCode: string, username: string): Promise<number> {
      return count(accountKey(tenantCode, username));
    },
  };
}

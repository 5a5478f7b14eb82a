/**
 * Sign-in throttling against brute force and credential stuffing, in the store so that every
 * process shares it. Failures are counted in fixed one-hour windows per account (tenant + username,
 * known or not, so throttling reveals nothing) and per client address (IPv6: per /64). At the limit
 * the account or address is locked until its window ends; a tenant admin can unlock an account
 * earlier. An attempt is counted when it starts and taken back if it succeeds, so that parallel
 * guesses cannot all get in.
 */
import { isIPv6 } from 'node:net';
import type { Store } from '../store/store.js';

const WINDOW_SECONDS = 3600;

const accountKey = (tenantCode: string, username: string): string =>
  `throttle:account:${tenantCode.trim().toLowerCase()}:${username.trim().normalize('NFKC').toLowerCase()}`;
const ipKey = (ip: string): string => `throttle:ip:${throttleAddress(ip)}`;

/**
 * The address failures are counted for: an IPv4 address (also IPv4-mapped IPv6) whole, an IPv6
 * address by its /64, which one host or customer usually has to itself: it could otherwise take a
 * new address from its /64 for every few guesses.
 */
export function throttleAddress(ip: string): string {
  const bare = ip.split('%')[0]!;
  if (!isIPv6(bare)) return bare;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  const groups = (part: string): string[] =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])); // an embedded IPv4 is two groups
  const [head = '', tail] = bare.split('::');
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

export interface ThrottleLimits {
  accountFailuresPerHour: number;
  ipFailuresPerHour: number;
}

export type Throttle = ReturnType<typeof createThrottle>;

/** A sign-in attempt, counted as a failure from its start (see `attempt`). */
export interface Attempt {
  /** Refused before any password check: the account or the address is locked. */
  locked: boolean;
  /** Takes the attempt back out of the counts: it succeeded, or was never decided. */
  release(): Promise<void>;
}

export function createThrottle(store: Store, limits: ThrottleLimits) {
  const count = async (key: string): Promise<number> => Number((await store.get(key)) ?? 0);
  return {
    /**
     * Counts an attempt as a failure before its password is checked, and tells whether it is over
     * the limit: parallel attempts each take a count of their own, so a burst of guesses cannot all
     * pass a check made before any of them failed. Release it if it succeeds.
     */
    async attempt(tenantCode: string, username: string, ip: string | undefined): Promise<Attempt> {
      const keys = [accountKey(tenantCode, username), ...(ip ? [ipKey(ip)] : [])];
      const [account = 0, address = 0] = await Promise.all(keys.map((key) => store.incr(key, { ttl: WINDOW_SECONDS })));
      return {
        locked: account > limits.accountFailuresPerHour || address > limits.ipFailuresPerHour,
        // A count back at zero (or below: its window ended meanwhile) is deleted in the same step:
        // a success leaves nothing behind in the store.
        release: async () => {
          await Promise.all(keys.map((key) => store.incr(key, { by: -1, ttl: WINDOW_SECONDS, deleteAtZero: true })));
        },
      };
    },

    /** Lifts an account's lock (tenant admin). */
    async unlock(tenantCode: string, username: string): Promise<void> {
      await store.del(accountKey(tenantCode, username));
    },

    async failures(tenantCode: string, username: string): Promise<number> {
      return count(accountKey(tenantCode, username));
    },

    /** Which of a tenant's accounts are locked now: their next attempt would be refused. */
    async locked(tenantCode: string, usernames: readonly string[]): Promise<boolean[]> {
      if (usernames.length === 0) return [];
      const counts = await store.getMany(usernames.map((username) => accountKey(tenantCode, username)));
      return counts.map((value) => Number(value ?? 0) >= limits.accountFailuresPerHour);
    },
  };
}

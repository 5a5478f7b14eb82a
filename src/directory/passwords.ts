/**
 * Password hashing with argon2id. The cost is configuration; hashes made at another cost are
 * re-hashed at the next successful login. Verifying for an unknown user goes through a dummy hash of
 * the same cost, so the answer takes as long as for a known user.
 */
import argon2 from 'argon2';
import { createWorkQueue, type WorkQueue } from './work-queue.js';

export interface PasswordCost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** `ok` when the password matches; `rehash` when the stored hash was made at another cost. */
  verify(hash: string | undefined, password: string): Promise<{ ok: boolean; rehash: boolean }>;
  /** Hashing jobs running and waiting. */
  depth(): number;
}

/**
 * `queue` bounds the argon2 work in flight (default: unbounded, for the CLI and tests); the server
 * passes its configured queue so that overflow is answered with 503.
 */
export function createPasswordHasher(cost: PasswordCost, queue: WorkQueue = createWorkQueue({ concurrency: 64, maxQueue: Infinity })): PasswordHasher {
  // argon2's typings narrow `type` to its three constants.
  const options = { type: argon2.argon2id as 2, ...cost };
  let dummy: Promise<string> | undefined;
  const dummyHash = (): Promise<string> => (dummy ??= argon2.hash('atrium-dummy-password', options));

  return {
    hash: (password) => queue.run(() => argon2.hash(password, options)),
    async verify(hash, password) {
      if (!hash) {
        const against = await dummyHash();
        await queue.run(() => argon2.verify(against, password));
        return { ok: false, rehash: false };
      }
      const ok = await queue.run(async () => {
        try {
          return await argon2.verify(hash, password);
        } catch {
          return false; // a malformed stored hash is a failed login, not a server error
        }
      });
      return { ok, rehash: ok && argon2.needsRehash(hash, options) };
    },
    depth: () => queue.depth(),
  };
}

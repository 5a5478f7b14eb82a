/**
 * Password hashing with argon2id (@node-rs/argon2: prebuilt, and about 1.5x faster here than the
 * `argon2` package at the same cost; both read and write the standard PHC string). The cost is configuration; hashes made at another cost are
 * re-hashed at the next successful login. Verifying for an unknown user goes through a dummy hash of
 * the same cost, so the answer takes as long as for a known user.
 */
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Algorithm, type Options } from '@node-rs/argon2';
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
  /** The same hasher, its jobs in the queue's background lane (behind sign-ins, never refusing them). */
  background(): PasswordHasher;
}

/** True when a stored hash was made with another algorithm or cost than `options`. */
export function needsRehash(hash: string, options: Options): boolean {
  const used = parseOptions(hash);
  return (
    used.algorithm !== options.algorithm ||
    used.memoryCost !== options.memoryCost ||
    used.timeCost !== options.timeCost ||
    used.parallelism !== options.parallelism
  );
}

/**
 * `queue` bounds the argon2 work in flight (default: unbounded, for the CLI and tests); the server
 * passes its configured queue so that overflow is answered with 503.
 */
export function createPasswordHasher(cost: PasswordCost, queue: WorkQueue = createWorkQueue({ concurrency: 64, maxQueue: Infinity })): PasswordHasher {
  // Algorithm is a const enum in the typings, which isolated modules cannot read: 2 is argon2id.
  const options: Options = { algorithm: 2 as Algorithm, ...cost };
  let dummy: Promise<string> | undefined;
  const dummyHash = (): Promise<string> => (dummy ??= argon2Hash('atrium-dummy-password', options));

  const inLane = (lane: { background: boolean }): PasswordHasher => ({
    hash: (password) => queue.run(() => argon2Hash(password, options), lane),
    async verify(hash, password) {
      if (!hash) {
        const against = await dummyHash();
        await queue.run(() => argon2Verify(against, password), lane);
        return { ok: false, rehash: false };
      }
      const ok = await queue.run(async () => {
        try {
          return await argon2Verify(hash, password);
        } catch {
          return false; // a malformed stored hash is a failed login, not a server error
        }
      }, lane);
      return { ok, rehash: ok && needsRehash(hash, options) };
    },
    depth: () => queue.depth(),
    background: () => background,
  });
  const background = inLane({ background: true });
  return inLane({ background: false });
}

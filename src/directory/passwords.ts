/**
 * Password hashing with argon2id. The cost is configuration; hashes made at another cost are
 * re-hashed at the next successful login. Verifying for an unknown user goes through a dummy hash of
 * the same cost, so the answer takes as long as for a known user.
 */
import argon2 from 'argon2';

export interface PasswordCost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** `ok` when the password matches; `rehash` when the stored hash was made at another cost. */
  verify(hash: string | undefined, password: string): Promise<{ ok: boolean; rehash: boolean }>;
}

export function createPasswordHasher(cost: PasswordCost): PasswordHasher {
  const options = { type: argon2.argon2id as 2, ...cost };
  let dummy: Promise<string> | undefined;
  const dummyHash = (): Promise<string> => (dummy ??= argon2.hash('atrium-dummy-password', options));

  return {
    hash: (password) => argon2.hash(password, options),
    async verify(hash, password) {
      if (!hash) {
        await argon2.verify(await dummyHash(), password);
        return { ok: false, rehash: false };
      }
      let ok = false;
      try {
        ok = await argon2.verify(hash, password);
      } catch {
        ok = false; // a malformed stored hash is a failed login, not a server error
      }
      return { ok, rehash: ok && argon2.needsRehash(hash, options) };
    },
  };
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A stable opaque identifier: 32 lowercase hex characters (128 random bits). */
export const newId = (): string => randomBytes(16).toString('hex');

/** A client secret: 256 random bits, base64url. Shown once, stored only as its SHA-256. */
export const newSecret = (): string => randomBytes(32).toString('base64url');

export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

/** Compares a presented secret with a stored SHA-256 hex digest in constant time. */
export function secretMatches(presented: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * Sealed refresh token ids: a refresh token's id ends in a seal, its expiry and a MAC over its
 * grant, its random part and that expiry, so that a spent refresh token needs no record at all.
 *
 * Refresh tokens rotate on every use, and a replay of a spent one must revoke its grant (RFC 9700
 * §4.14.2) for as long as that token would have been valid (30 days by default). Keeping a marker
 * for every spent token made a grant grow by one marker per refresh, without bound for a client
 * that refreshes in a loop. With the seal, a spent token's field simply leaves its grant: a token
 * that is not there, whose seal is Atrium's own and whose expiry has not come, while its grant
 * still is, can only be one that was spent, and its replay revokes the grant as before. A forged
 * id (no valid seal) is only not found: it cannot make Atrium revoke anyone's grant.
 *
 * The MAC key is derived from the cookie keys (generated once and shared through the store, or the
 * operator's); a seal made with any of them is accepted, so that rotating them keeps recognising
 * the tokens already out.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** 4 bytes of expiry (epoch seconds) and 12 bytes of MAC: 16 bytes, 22 base64url characters. */
const SEAL_BYTES = 16;
const MAC_BYTES = 12;
export const SEAL_LENGTH = 22;
/** The latest expiry a seal can carry (2106): a token living longer gets an id without one. */
export const MAX_SEALED_EXPIRY = 0xffffffff;

export interface RefreshSeal {
  /** The seal to append to `random` (the provider's id) of a refresh token of `grantId` expiring at `exp`. */
  seal(grantId: string, random: string, exp: number): string;
  /** The expiry a sealed id `n` of `grantId` carries, or undefined when it is not sealed by Atrium. */
  open(grantId: string, n: string): number | undefined;
}

export function createRefreshSeal(secrets: readonly string[]): RefreshSeal {
  if (secrets.length === 0) throw new Error('refresh token seals need a key');
  const keys = secrets.map((secret) => createHmac('sha256', secret).update('atrium refresh token seal v1').digest());
  const mac = (key: Buffer, grantId: string, random: string, exp: number): Buffer =>
    createHmac('sha256', key).update(`${grantId}.${random}.${exp}`).digest().subarray(0, MAC_BYTES);
  return {
    seal(grantId, random, exp) {
      if (!Number.isSafeInteger(exp) || exp <= 0 || exp > MAX_SEALED_EXPIRY) throw new RangeError(`refresh token expiry out of range: ${exp}`);
      const seal = Buffer.alloc(SEAL_BYTES);
      seal.writeUInt32BE(exp, 0);
      mac(keys[0]!, grantId, random, exp).copy(seal, 4);
      return seal.toString('base64url');
    },
    open(grantId, n) {
      if (n.length <= SEAL_LENGTH) return undefined;
      const seal = Buffer.from(n.slice(-SEAL_LENGTH), 'base64url');
      // Decoding skips what is not base64url: only a seal that re-encodes to itself is one.
      if (seal.length !== SEAL_BYTES || seal.toString('base64url') !== n.slice(-SEAL_LENGTH)) return undefined;
      const exp = seal.readUInt32BE(0);
      const given = seal.subarray(4);
      const random = n.slice(0, -SEAL_LENGTH);
      return keys.some((key) => timingSafeEqual(mac(key, grantId, random, exp), given)) ? exp : undefined;
    },
  };
}

/**
 * Signing keys and cookie keys, generated on first start and kept in the store so that every
 * process of an installation shares them.
 *
 * Signing keys: a set of one RSA (RS256) and one P-256 (ES256) key per generation, newest first (the
 * provider signs with the first key of an algorithm). `rotate` puts a new generation in front and
 * gives the older ones a retirement date, after the longest-lived token they may have signed
 * expired; retired keys leave the JWKS.
 */
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import type { Store } from '../store/store.js';

export interface StoredKey {
  jwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
  createdAt: string;
  /** Once set, the key no longer signs and leaves the JWKS after this date. */
  retireAt?: string;
}

const SIGNING_KEYS = 'oidc-keys:signing';
const COOKIE_KEYS = 'oidc-keys:cookies';

function generateGeneration(): StoredKey[] {
  const createdAt = new Date().toISOString();
  const kid = (suffix: string): string => `${createdAt.slice(0, 10)}-${randomBytes(6).toString('base64url')}-${suffix}`;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { jwk: { ...rsa, kid: kid('rs'), alg: 'RS256', use: 'sig' }, createdAt },
    { jwk: { ...ec, kid: kid('es'), alg: 'ES256', use: 'sig' }, createdAt },
  ];
}

const parse = (raw: string | undefined): StoredKey[] => (raw ? (JSON.parse(raw) as StoredKey[]) : []);

const live = (keys: StoredKey[], now: Date): StoredKey[] =>
  keys.filter((k) => !k.retireAt || new Date(k.retireAt) > now);

/** The signing keys in force, creating the first generation when there is none. */
export async function loadSigningKeys(store: Store): Promise<StoredKey[]> {
  const existing = parse(await store.get(SIGNING_KEYS));
  if (existing.length > 0) return live(existing, new Date());
  // Two processes starting at once: only one generation is kept, both use it.
  await store.set(SIGNING_KEYS, JSON.stringify(generateGeneration()), { ifAbsent: true });
  return parse(await store.get(SIGNING_KEYS));
}

/**
 * Adds a new generation of signing keys in front of the others. The previous ones keep verifying
 * for `retireAfterSeconds` (the longest lifetime of a token they signed), then leave the JWKS.
 */
export async function rotateSigningKeys(store: Store, retireAfterSeconds: number): Promise<StoredKey[]> {
  const now = new Date();
  const retireAt = new Date(now.getTime() + retireAfterSeconds * 1000).toISOString();
  const previous = live(parse(await store.get(SIGNING_KEYS)), now).map((k) => ({ ...k, retireAt: k.retireAt ?? retireAt }));
  const keys = [...generateGeneration(), ...previous];
  await store.set(SIGNING_KEYS, JSON.stringify(keys));
  return keys;
}

/** The JWKS the provider gets: private keys, newest first. */
export const toProviderJwks = (keys: StoredKey[]): { keys: StoredKey['jwk'][] } => ({ keys: keys.map((k) => k.jwk) });

/** Cookie signing keys: the operator's when configured, else generated once and stored. */
export async function loadCookieKeys(store: Store, configured: string[] | undefined): Promise<string[]> {
  if (configured) return configured;
  await store.set(COOKIE_KEYS, JSON.stringify([randomBytes(32).toString('base64url')]), { ifAbsent: true });
  return JSON.parse((await store.get(COOKIE_KEYS)) ?? '[]') as string[];
}

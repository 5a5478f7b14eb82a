/**
 * Signing keys and cookie keys, generated on first start and kept in the store so that every
 * process of an installation shares them.
 *
 * Signing keys: a set of one RSA (RS256) and one P-256 (ES256) key per generation, newest first (the
 * provider signs with the first key of an algorithm). `rotate` puts a new generation in front, to be
 * published at once and to sign from its activation time on, and gives the older ones a retirement
 * date, after the longest-lived token they may have signed (until that activation) expired; retired
 * keys leave the JWKS. Running servers re-read the keys every few seconds (`watchSigningKeys`), so a
 * rotation needs no restart: with an activation delay longer than that period, every process
 * publishes a new key before any process signs with it.
 */
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import type Provider from 'oidc-provider';
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import { conflict } from '../errors.js';
import type { Store } from '../store/store.js';

export interface StoredKey {
  jwk: JsonWebKey & { kid: string; alg: string; use: 'sig' };
  createdAt: string;
  /** Until this date the key is published but does not sign (absent: it signs from its creation). */
  activateAt?: string;
  /** Once set, the key signs no more once a newer one is active, and leaves the JWKS after this date. */
  retireAt?: string;
}

const SIGNING_KEYS = 'oidc-keys:signing';
const ROTATION_LOCK = 'oidc-keys:rotating';
const COOKIE_KEYS = 'oidc-keys:cookies';

function generateGeneration(activateAt?: string): StoredKey[] {
  const createdAt = new Date().toISOString();
  const kid = (suffix: string): string => `${createdAt.slice(0, 10)}-${randomBytes(6).toString('base64url')}-${suffix}`;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { jwk: { ...rsa, kid: kid('rs'), alg: 'RS256', use: 'sig' }, createdAt, ...(activateAt && { activateAt }) },
    { jwk: { ...ec, kid: kid('es'), alg: 'ES256', use: 'sig' }, createdAt, ...(activateAt && { activateAt }) },
  ];
}

const parse = (raw: string | undefined): StoredKey[] => (raw ? (JSON.parse(raw) as StoredKey[]) : []);

const live = (keys: StoredKey[], now: Date): StoredKey[] =>
  keys.filter((k) => !k.retireAt || new Date(k.retireAt) > now);

const active = (key: StoredKey, now: Date): boolean => !key.activateAt || new Date(key.activateAt) <= now;

/**
 * The keys a server has at `now`, in the order the provider picks from: every published key, those
 * already active first (newest first, so the newest active generation signs), then those not active
 * yet, which only verify.
 */
export function keysInForce(keys: StoredKey[], now: Date): StoredKey[] {
  const published = live(keys, now);
  return [...published.filter((k) => active(k, now)), ...published.filter((k) => !active(k, now))];
}

/** What a key does at a time: signs (the first active one of its algorithm), only verifies, waits for its activation (published), or is out of the JWKS. */
export type KeyState = 'signing' | 'verifying' | 'pending' | 'retired';

/** Every stored signing key with what it does at `now`, in the order of `keysInForce`, the retired last. */
export async function describeSigningKeys(store: Store, now: Date): Promise<(StoredKey & { state: KeyState })[]> {
  const stored = parse(await store.get(SIGNING_KEYS));
  const inForce = keysInForce(stored, now);
  const signing = new Set<string>();
  const described = inForce.map((key) => {
    let state: KeyState = 'verifying';
    if (!active(key, now)) state = 'pending';
    else if (!signing.has(key.jwk.alg)) {
      signing.add(key.jwk.alg);
      state = 'signing';
    }
    return { ...key, state };
  });
  return [...described, ...stored.filter((k) => !inForce.includes(k)).map((key) => ({ ...key, state: 'retired' as const }))];
}

/** The signing keys in force, creating the first generation when there is none. */
export async function loadSigningKeys(store: Store): Promise<StoredKey[]> {
  const existing = parse(await store.get(SIGNING_KEYS));
  if (existing.length > 0) return keysInForce(existing, new Date());
  // Two processes starting at once: only one generation is kept, both use it.
  await store.set(SIGNING_KEYS, JSON.stringify(generateGeneration()), { ifAbsent: true });
  return parse(await store.get(SIGNING_KEYS));
}

/**
 * How long a rotated-out key keeps verifying after the new one's activation: servers sign with it
 * until their first read after that time, and what it signed may be presented for as long as it
 * is used: an ID token until it expires, and as an ID token hint at sign-out (checked whatever its
 * expiry) for as long as the session it was issued in lasts.
 */
export const retirementDelay = (options: { idTokenSeconds: number; sessionSeconds: number; reloadSeconds: number }): number =>
  Math.max(options.idTokenSeconds, options.sessionSeconds) + 2 * options.reloadSeconds + 300;

/**
 * Adds a new generation of signing keys in front of the others, published at once and signing from
 * `activateAfterSeconds` on. The previous ones keep signing until then, and verifying for
 * `retireAfterSeconds` more, then leave the JWKS. One rotation at a time: another one under way
 * (anywhere) makes this one fail with 409 rather than lose either generation; so do keys written
 * meanwhile by something that did not hold the lock (a first start, a rotation that outlived it).
 */
export async function rotateSigningKeys(store: Store, options: { retireAfterSeconds: number; activateAfterSeconds: number }): Promise<StoredKey[]> {
  const lock = randomBytes(16).toString('base64url');
  if (!(await store.set(ROTATION_LOCK, lock, { ttl: 60, ifAbsent: true }))) {
    throw conflict('another signing key rotation is under way; try again once it is done');
  }
  try {
    const now = Date.now();
    const activateAt = now + options.activateAfterSeconds * 1000;
    const retireAt = new Date(activateAt + options.retireAfterSeconds * 1000).toISOString();
    const stored = await store.get(SIGNING_KEYS);
    const previous = live(parse(stored), new Date(now)).map((k) => ({ ...k, retireAt: k.retireAt ?? retireAt }));
    // With no key before it (a rotation before the first start), it signs at once: nothing else can.
    const pending = options.activateAfterSeconds > 0 && previous.length > 0;
    const keys = [...generateGeneration(pending ? new Date(activateAt).toISOString() : undefined), ...previous];
    const written = stored === undefined
      ? await store.set(SIGNING_KEYS, JSON.stringify(keys), { ifAbsent: true })
      : await store.replaceIfEquals(SIGNING_KEYS, stored, JSON.stringify(keys));
    if (!written) throw conflict('the signing keys changed while this rotation ran; nothing was rotated, try again');
    return keys;
  } finally {
    // Only while it is still ours: it may have expired and been taken by another rotation meanwhile.
    await store.deleteIfEquals(ROTATION_LOCK, lock);
  }
}

/** The JWKS the provider gets: private keys, in the order of `keysInForce`. */
export const toProviderJwks = (keys: StoredKey[]): { keys: StoredKey['jwk'][] } => ({ keys: keys.map((k) => k.jwk) });

const fingerprint = (keys: StoredKey[]): string => keys.map((k) => k.jwk.kid).join(' ');

/**
 * Keeps a running provider's signing keys those of the store: every `intervalMs` it reads them
 * (one read) and, when the keys in force changed (a rotation, an activation or a retirement that
 * came due), gives the provider the new set, which its JWKS and its next signature use. A failed
 * read, no keys at all or keys the provider refuses leave the current ones in place (`onError`
 * hears of it). oidc-provider takes its keys only at construction: the set is replaced with its own
 * initialisation (an internal module, see src/types/oidc-provider-internal.d.ts).
 */
export function watchSigningKeys(
  provider: Provider,
  store: Store,
  initial: StoredKey[],
  options: { intervalMs: number; onChange?: (kids: string[]) => void; onError: (err: unknown) => void },
): { refresh(): Promise<void>; stop(): Promise<void> } {
  let current = fingerprint(initial);
  let running: Promise<void> | undefined;
  let stopped = false;
  const read = async (): Promise<void> => {
    const keys = keysInForce(parse(await store.get(SIGNING_KEYS)), new Date());
    const next = fingerprint(keys);
    if (stopped || keys.length === 0 || next === current) return;
    initializeKeystore.call(provider, toProviderJwks(keys));
    current = next;
    options.onChange?.(keys.map((k) => k.jwk.kid));
  };
  const refresh = (): Promise<void> => (running ??= read().finally(() => (running = undefined)));
  const timer = setInterval(() => {
    if (!stopped) refresh().catch(options.onError);
  }, options.intervalMs);
  timer.unref();
  return {
    refresh,
    /** No more reads; resolves once the one under way, if any, is done (before the store closes). */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

/** Cookie signing keys: the operator's when configured, else generated once and stored. */
export async function loadCookieKeys(store: Store, configured: string[] | undefined): Promise<string[]> {
  if (configured) return configured;
  await store.set(COOKIE_KEYS, JSON.stringify([randomBytes(32).toString('base64url')]), { ifAbsent: true });
  return JSON.parse((await store.get(COOKIE_KEYS)) ?? '[]') as string[];
}

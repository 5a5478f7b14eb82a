/**
 * Atrium sessions on top of the provider's: idle and absolute timeouts, and ending sessions —
 * one browser's, or every session of an account ("sign out everywhere", a disabled user). Ending a
 * session revokes the grants it held and sends back-channel logout to the apps it signed into.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Context } from 'koa';
import type { Store } from '../store/store.js';
import { accountSessionUids, oidcKeys } from './adapter.js';
import type { Backchannel, BackchannelClient } from './backchannel.js';
import { revokeGrant } from './logout.js';

export interface SessionLimits {
  idleSeconds: number;
  absoluteSeconds: number;
}

type ProviderSession = Awaited<ReturnType<Provider['Session']['get']>>;

/** Seconds a session may still live: the idle timeout, capped by the absolute one since sign-in. */
export function sessionTtl(limits: SessionLimits) {
  return (_ctx: KoaContextWithOIDC | undefined, session: { loginTs?: number }): number => {
    const now = Math.floor(Date.now() / 1000);
    const left = (session.loginTs ?? now) + limits.absoluteSeconds - now;
    return Math.max(1, Math.min(limits.idleSeconds, left));
  };
}

/**
 * Whether a session still signs its account in: not once its absolute timeout has passed. The
 * provider saves a session on every request it handles, for at least a second (sessionTtl), so a
 * browser that keeps calling keeps the record alive past that limit: wherever a session's account is
 * loaded, the limit itself is checked.
 */
export function withinAbsoluteLimit(limits: SessionLimits, session: { loginTs?: number }): boolean {
  return typeof session.loginTs === 'number' && Date.now() / 1000 < session.loginTs + limits.absoluteSeconds;
}

/**
 * Activity on Atrium's own pages extends the idle timeout, with a granularity of a minute: a session
 * saved less than a minute ago is not saved again (a workbench view then writes nothing).
 */
export const TOUCH_GRANULARITY_SECONDS = 60;

/** Activity on Atrium's own pages counts against the idle timeout, as the provider's do. */
export async function touchSession(provider: Provider, ctx: Context, session: ProviderSession, limits: SessionLimits): Promise<void> {
  const ttl = sessionTtl(limits)(undefined, session);
  const exp = (session as unknown as { exp?: number }).exp;
  if (exp !== undefined && exp - Math.floor(Date.now() / 1000) > ttl - TOUCH_GRANULARITY_SECONDS) return;
  await session.save(ttl);
  ctx.cookies.set(provider.cookieName('session'), (session as unknown as { jti: string }).jti, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    overwrite: true,
    expires: new Date(Date.now() + ttl * 1000),
  });
}

/** Revokes what a session handed out, notifies its apps, destroys it. */
export async function endSession(provider: Provider, backchannel: Backchannel, session: ProviderSession): Promise<void> {
  const accountId = session.accountId;
  await Promise.all(
    Object.entries(session.authorizations ?? {}).map(async ([clientId, { grantId }]) => {
      if (grantId) await revokeGrant(provider, grantId);
      const client = (await provider.Client.find(clientId)) as BackchannelClient | undefined;
      if (client && accountId) backchannel.notify(client, accountId, session.sidFor(clientId));
    }),
  );
  await session.destroy();
}

/** Ends this browser's session and clears its cookie; returns who was signed in. */
export async function endBrowserSession(provider: Provider, backchannel: Backchannel, ctx: Context): Promise<string | undefined> {
  const session = await provider.Session.get(ctx);
  const accountId = session.accountId;
  await endSession(provider, backchannel, session);
  ctx.cookies.set(provider.cookieName('session'), null, { path: '/' });
  return accountId;
}

/**
 * Ends every session of an account, wherever it is signed in. Returns how many ended. Only the
 * entries it read leave the account's index: a sign-in that completes meanwhile keeps its own.
 */
export async function endAccountSessions(provider: Provider, backchannel: Backchannel, store: Store, accountId: string): Promise<number> {
  const uids = await accountSessionUids(store, accountId);
  let ended = 0;
  const otherAccounts: string[] = [];
  for (const uid of uids) {
    const session = await provider.Session.findByUid(uid);
    if (session?.accountId === accountId) {
      await endSession(provider, backchannel, session);
      ended += 1;
    } else if (session) {
      // Signed in as someone else since (in the same browser).
      otherAccounts.push(uid);
    }
  }
  if (otherAccounts.length > 0) await store.hdel(oidcKeys.accountSessions(accountId), ...otherAccounts);
  await dropEndedSessions(store, accountId, uids.filter((uid) => !otherAccounts.includes(uid)));
  return ended;
}

/**
 * Takes sessions that ended out of the account's index: of `uids`, those without a uid index. A
 * session looked up while its id changed (a sign-in writes its new id after destroying the old one)
 * seems ended for a moment; its uid index comes back with the new id, before its account entry, so
 * an entry dropped meanwhile is put back, as pruneEndedSessions (adapter.ts) does.
 */
async function dropEndedSessions(store: Store, accountId: string, uids: string[]): Promise<void> {
  const key = oidcKeys.accountSessions(accountId);
  const unindexed = async (candidates: string[]) => {
    const ids = candidates.length > 0 ? await store.getMany(candidates.map(oidcKeys.sessionUid)) : [];
    return candidates.filter((_uid, i) => ids[i] === undefined);
  };
  const ended = await unindexed(uids);
  if (ended.length === 0) return;
  await store.hdel(key, ...ended);
  const stillEnded = new Set(await unindexed(ended));
  for (const uid of ended.filter((uid) => !stillEnded.has(uid))) {
    // For as long as its session lives (the uid index lives as long).
    const ttl = await store.ttl(oidcKeys.sessionUid(uid));
    if (ttl !== -2) await store.hset(key, { [uid]: '' }, { ttl: ttl === -1 ? undefined : ttl, extend: true });
  }
}

export interface SessionSummary {
  uid: string;
  signedInAt: string | undefined;
  expiresAt: string | undefined;
  apps: string[];
}

/** The live sessions of an account, for admins. Those that ended on their own leave the account's index. */
export async function listAccountSessions(provider: Provider, store: Store, accountId: string): Promise<SessionSummary[]> {
  const uids = await accountSessionUids(store, accountId);
  const sessions = await Promise.all(uids.map((uid) => provider.Session.findByUid(uid)));
  await dropEndedSessions(store, accountId, uids.filter((_uid, i) => sessions[i] === undefined));
  return sessions
    .filter((s): s is NonNullable<typeof s> => s?.accountId === accountId)
    .map((s) => ({
      uid: s.uid,
      signedInAt: s.loginTs ? new Date(s.loginTs * 1000).toISOString() : undefined,
      expiresAt: s.exp ? new Date(s.exp * 1000).toISOString() : undefined,
      apps: Object.keys(s.authorizations ?? {}),
    }));
}

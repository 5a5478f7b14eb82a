/**
 * The workbench: the signed-in user's apps at `/`, one-click launch, and sign-out. Signing in goes
 * through the same login interaction as every app, as the built-in workbench client.
 */
import { randomBytes, createHash } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Directory } from '../directory/index.js';
import { assertCsrf, csrfToken, CSRF_FIELD } from '../http/csrf.js';
import type { Render } from '../http/pages.js';
import { TENANT_COOKIE } from '../interactions/routes.js';
import { loadSessionAccount, type AtriumAccount } from '../oidc/accounts.js';
import type { Backchannel } from '../oidc/backchannel.js';
import type { LaunchTickets } from '../oidc/launch-ticket.js';
import { endAccountSessions, endBrowserSession, touchSession, type SessionLimits } from '../oidc/sessions.js';
import type { Store } from '../store/store.js';
import { decideAccess, WORKBENCH_CALLBACK_PATH, WORKBENCH_CLIENT_ID } from '../oidc/provider.js';
import { isCrossSite, launchTarget } from './launch.js';

/** A local path to come back to after signing in: one leading slash, nothing that leaves the site. */
const safeReturnPath = (value: unknown): string =>
  typeof value === 'string' && /^\/(?![/\\])[^\s]*$/.test(value) && value.length <= 512 ? value : '/';

const encodeState = (returnTo: string): string => Buffer.from(JSON.stringify({ r: returnTo, n: randomBytes(8).toString('hex') })).toString('base64url');
const decodeState = (state: unknown): string => {
  try {
    return safeReturnPath((JSON.parse(Buffer.from(String(state), 'base64url').toString('utf8')) as { r?: unknown }).r);
  } catch {
    return '/';
  }
};

export function createWorkbenchRoutes(options: {
  provider: Provider;
  directory: Directory;
  backchannel: Backchannel;
  store: Store;
  render: Render;
  launchTickets: LaunchTickets;
  issuer: string;
  session: SessionLimits;
}) {
  const { provider, directory, backchannel, store, render, launchTickets, issuer } = options;
  const issuerOrigin = new URL(issuer).origin;
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb', encoding: 'utf-8' });

  /**
   * The signed-in user of this browser, when the session and the account are both alive. Using the
   * workbench is activity: it extends the session's idle timeout.
   */
  const currentAccount = async (ctx: Context): Promise<(AtriumAccount & { sessionUid: string }) | undefined> => {
    const session = await provider.Session.get(ctx);
    const account = await loadSessionAccount(directory, session, options.session);
    if (!account) return undefined;
    await touchSession(provider, ctx, session, options.session);
    return { ...account, sessionUid: session.uid };
  };

  /** Sends the browser through the login interaction, then back to `returnTo`. */
  const signIn = (ctx: Context, returnTo: string): void => {
    // The workbench client is public, so PKCE is required; the code is never exchanged.
    const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
    const query = new URLSearchParams({
      client_id: WORKBENCH_CLIENT_ID,
      redirect_uri: `${issuer}${WORKBENCH_CALLBACK_PATH}`,
      response_type: 'code',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: encodeState(returnTo),
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(`/auth?${query}`);
  };

  router.get('/', async (ctx) => {
    const account = await currentAccount(ctx);
    if (!account) return signIn(ctx, '/');
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().slice(0, 100) : '';
    const entries = await directory.catalog.forUser(account.user);
    const needle = q.toLowerCase();
    const shown = needle
      ? entries.filter((e) => `${e.app.name} ${e.app.description}`.toLowerCase().includes(needle))
      : entries;
    render(ctx, 'workbench', {
      user: account.user,
      tenant: account.tenant,
      entries: shown,
      total: entries.length,
      q,
      csrf: csrfToken(ctx),
      csrfField: CSRF_FIELD,
    });
  });

  // Sign in (again) and come back to a page of this site, e.g. the admin pages.
  router.get('/signin', async (ctx) => {
    const returnTo = safeReturnPath(ctx.query.return_to);
    if (await currentAccount(ctx)) {
      ctx.status = 303;
      ctx.redirect(returnTo);
      return;
    }
    signIn(ctx, returnTo);
  });

  // An entry URL per tenant: pre-selects the organisation on the login page.
  router.get('/t/:code', async (ctx) => {
    const code = ctx.params.code!.toLowerCase();
    if (/^[a-z0-9][a-z0-9-]{1,31}$/.test(code)) {
      ctx.cookies.set(TENANT_COOKIE, code, { httpOnly: true, sameSite: 'lax', maxAge: 365 * 86_400_000, path: '/', overwrite: true });
    }
    ctx.status = 303;
    ctx.redirect('/');
  });

  router.get(WORKBENCH_CALLBACK_PATH, async (ctx) => {
    if (ctx.query.error) {
      render(ctx, 'error', { headingKey: 'error.signIn', messageKey: 'error.cancelled' }, 400);
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(decodeState(ctx.query.state));
  });

  router.get('/launch/:clientId', async (ctx) => {
    const account = await currentAccount(ctx);
    const crossSite = isCrossSite({ get: (name) => ctx.get(name) }, issuerOrigin);
    // Sent by another site to a browser not signed in: after the sign-in (whose steps are all
    // same-site) the launch still asks first.
    if (!account) return signIn(ctx, crossSite || ctx.query.confirm !== undefined ? `${ctx.path}?confirm=1` : ctx.path);
    const { user, tenant, sessionUid } = account;
    const clientId = ctx.params.clientId!;
    const app = await directory.apps.byId(clientId);
    const decision = app ? await decideAccess(directory, user, clientId) : 'unassigned';
    if (!app || (decision !== 'granted' && decision !== 'expired')) {
      render(ctx, 'error', { headingKey: 'error.404', messageKey: 'launch.unavailable' }, 404);
      return;
    }
    if (decision === 'expired') {
      const assignment = await directory.assignments.get(tenant.id, clientId);
      render(ctx, 'error', { headingKey: 'error.403', messageKey: 'launch.expired', expiresAt: assignment?.expiresAt }, 403);
      return;
    }
    if (crossSite || ctx.query.confirm !== undefined) {
      render(ctx, 'launch-confirm', { app, href: ctx.path });
      return;
    }
    const target = launchTarget(app, { issuer, loginHint: `${user.username}@${tenant.code}`, ticket: (redirectUri) => launchTickets.mint({ clientId: app.clientId, redirectUri, sessionUid }) });
    if (target.kind === 'not_launchable') {
      render(ctx, 'error', { headingKey: 'error.409', messageKey: 'launch.notLaunchable' }, 409);
      return;
    }
    await Promise.all([
      directory.audit.record({ type: 'app.launch', tenantId: tenant.id, userId: user.id, clientId, ip: ctx.ip }),
      directory.catalog.recordLaunch(user.id, clientId),
    ]);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(target.url);
  });

  router.post('/signout', form, async (ctx) => {
    assertCsrf(ctx, (ctx.request.body as Record<string, unknown> | undefined)?.[CSRF_FIELD]);
    const everywhere = (ctx.request.body as Record<string, unknown> | undefined)?.everywhere === 'yes';
    const accountId = await endBrowserSession(provider, backchannel, ctx);
    // "Sign out everywhere" ends this account's sessions in every other browser too.
    if (accountId && everywhere) await endAccountSessions(provider, backchannel, store, accountId);
    const user = accountId ? await directory.users.byId(accountId) : undefined;
    if (user) {
      await directory.audit.record({ type: everywhere ? 'user.signout_everywhere' : 'user.signout', tenantId: user.tenantId, userId: user.id, ip: ctx.ip });
    }
    render(ctx, 'logout-done', {});
  });

  return router;
}

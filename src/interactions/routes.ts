/**
 * The sign-in interaction, in the shape of node-oidc-provider's example: interactionDetails →
 * render → interactionResult. Routes live under the interactions path, where the provider's
 * `_interaction` cookie is scoped.
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import type { Context } from 'koa';
import type { Directory } from '../directory/index.js';
import { AtriumError } from '../errors.js';
import { assertCsrf, csrfMatches, csrfToken, CSRF_FIELD } from '../http/csrf.js';
import { SignInExpired } from '../http/errors.js';
import type { MessageKey } from '../http/i18n.js';
import type { Render } from '../http/pages.js';
import { decideAccess, grantForAssignedApp, INTERACTION_PATH } from '../oidc/provider.js';
import { loadSessionAccount } from '../oidc/accounts.js';
import type { SessionLimits } from '../oidc/sessions.js';
import { parseLoginHint } from './login-hint.js';

/** Remembers the last tenant used in this browser, to pre-fill the next sign-in. */
export const TENANT_COOKIE = 'atrium_tenant';
const NOT_AVAILABLE = 'This app is not available to your account';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const field = (body: unknown, name: string): string => {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

export function createInteractionRoutes(options: {
  provider: Provider;
  directory: Directory;
  render: Render;
  onSignIn?: (result: 'success' | 'invalid' | 'locked') => void;
  session: SessionLimits;
}) {
  const { provider, directory, render, onSignIn } = options;
  const router = new Router({ prefix: INTERACTION_PATH });
  // Login bodies are small: anything over 8 KB is refused with 413 before any work is done.
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb', encoding: 'utf-8' });

  const details = async (ctx: Context): Promise<Details> => {
    const found = await provider.interactionDetails(ctx.req, ctx.res);
    if (found.uid !== ctx.params.uid) {
      throw new SignInExpired();
    }
    return found;
  };

  /**
   * provider.interactionResult without its second read of the interaction: the result goes on the
   * interaction this request found, saved back (only while it still exists: see the adapter's upsert).
   */
  const finish = async (ctx: Context, interaction: Details, result: InteractionResults): Promise<void> => {
    interaction.result = result;
    await interaction.persist();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(interaction.returnTo);
  };

  const renderLogin = async (ctx: Context, interaction: Details, values: { tenant: string; username: string; error?: MessageKey }, status = 200) => {
    const clientId = String(interaction.params.client_id ?? '');
    const app = await directory.apps.byId(clientId);
    render(ctx, 'login', {
      langBase: `${INTERACTION_PATH}/${interaction.uid}`,
      action: `${INTERACTION_PATH}/${interaction.uid}/login`,
      // Only an app has somewhere to go back to; the workbench's own sign-in has not.
      abortUrl: app ? `${INTERACTION_PATH}/${interaction.uid}/abort` : undefined,
      clientName: app?.name,
      csrf: csrfToken(ctx),
      csrfField: CSRF_FIELD,
      ...values,
    }, status);
  };

  router.get('/:uid', async (ctx) => {
    const interaction = await details(ctx).catch(async (err: unknown) => {
      // A sign-in page reached again once it is over (the back button after signing in): a browser
      // that is signed in goes to its workbench; any other is told the page has expired.
      if (!(err instanceof SignInExpired || err instanceof errors.SessionNotFound)) throw err;
      if (!(await loadSessionAccount(directory, await provider.Session.get(ctx), options.session))) throw err;
      return undefined;
    });
    if (!interaction) {
      ctx.set('Cache-Control', 'no-store');
      ctx.status = 303;
      ctx.redirect('/');
      return;
    }
    const { prompt, params, session } = interaction;

    if (prompt.name === 'login') {
      const hint = parseLoginHint(typeof params.login_hint === 'string' ? params.login_hint : '');
      await renderLogin(ctx, interaction, {
        tenant: hint.tenant || ctx.cookies.get(TENANT_COOKIE) || '',
        username: hint.username,
      });
      return;
    }

    if (prompt.name === 'consent' && session?.accountId) {
      // Assigned apps are first-party and need no consent page; every other app is refused.
      const clientId = String(params.client_id);
      const user = await directory.users.byId(session.accountId);
      const decision = user ? await decideAccess(directory, user, clientId) : 'unassigned';
      const client = decision === 'granted' ? await provider.Client.find(clientId) : undefined;
      if (!client) {
        await finish(ctx, interaction, { error: 'access_denied', error_description: NOT_AVAILABLE });
        return;
      }
      const grant = await grantForAssignedApp(provider, {
        accountId: session.accountId,
        client,
        scope: typeof params.scope === 'string' ? params.scope : '',
        grantId: interaction.grantId,
      });
      await finish(ctx, interaction, { consent: { grantId: grant.jti } });
      return;
    }

    throw new AtriumError('invalid_request', 'This sign-in step is not supported', 400);
  });

  router.post('/:uid/login', form, async (ctx) => {
    const body = ctx.request.body;
    const checked = details(ctx).then((interaction) => {
      if (interaction.prompt.name !== 'login') throw new AtriumError('invalid_request', 'This sign-in page has already been used', 400);
      assertCsrf(ctx, field(body, CSRF_FIELD));
      return interaction;
    });
    // Awaited below on every path that goes on; marked handled here so that a request that stops
    // first (the store failing in authenticate) leaves no unhandled rejection behind.
    checked.catch(() => undefined);
    // A form that carries its browser's CSRF token is checked (its interaction) as the account's
    // lock and records are read, in the same round trips, and its password is hashed only once the
    // check has passed. Any other is refused as before, having made no read of the account.
    if (!csrfMatches(ctx, field(body, CSRF_FIELD))) await checked;
    const tenant = field(body, 'tenant').trim();
    const username = field(body, 'username').trim();
    const result = await directory.authenticate({ tenant, username, password: field(body, 'password'), ip: ctx.ip }, checked);
    const interaction = await checked;
    onSignIn?.(result.ok ? 'success' : result.reason);
    if (!result.ok) {
      if (result.tenant) {
        await directory.audit.record({
          type: 'signin.failure',
          tenantId: result.tenant.id,
          ...(result.user ? { userId: result.user.id } : {}),
          ip: ctx.ip,
          detail: { reason: result.reason, username: username.slice(0, 64) },
        });
      }
      await renderLogin(ctx, interaction, { tenant, username, error: 'login.failed' }, 401);
      return;
    }
    await directory.audit.record({ type: 'signin.success', tenantId: result.tenant.id, userId: result.user.id, clientId: String(interaction.params.client_id ?? ''), ip: ctx.ip });

    ctx.cookies.set(TENANT_COOKIE, result.tenant.code, {
      httpOnly: true,
      sameSite: 'lax',
      maxAge: 365 * 24 * 3600 * 1000,
      path: '/',
      overwrite: true,
    });
    await finish(ctx, interaction, { login: { accountId: result.user.id, amr: ['pwd'] } });
  });

  router.get('/:uid/abort', async (ctx) => {
    await finish(ctx, await details(ctx), { error: 'access_denied', error_description: 'The user cancelled the sign-in' });
  });

  return router;
}

/**
 * The Huawei Cloud KooGallery joint-operation login dialect (../shared/huawei-joint-operation.md),
 * mapped onto the same provider: authorize and token are the standard endpoints with the dialect's
 * defaults and answer shapes; userinfo and logout are Atrium's own, over the same tokens and
 * sessions. A token from either dialect works at both userinfo endpoints.
 *
 * Scope: the dialect's default scope is `get_user_info`; `openid` makes the request OIDC (adds an
 * ID token). Every request through the dialect's authorize is sent on with `get_user_info`, whatever
 * scope the app sent (apps send `scope=openid` and then read the user at the dialect's userinfo), and
 * with `openid`, which the standard userinfo endpoint needs (the workbench's launches ask for
 * `openid get_user_info` too). The dialect's token answer shows such a grant as the dialect knows it,
 * without `openid` and without an ID token, unless the app asked for `openid` itself: that request
 * carries the scope OPENID_REQUESTED as well, which no answer shows, and with it the app gets its
 * ID token (with its own nonce, if it sent one).
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Directory } from '../directory/index.js';
import type { Backchannel } from '../oidc/backchannel.js';
import { settleWrites } from '../oidc/adapter.js';
import { endBrowserSession } from '../oidc/sessions.js';
import { OPENID_REQUESTED } from '../oidc/accounts.js';
import { accountForAccessToken, redirectUriOfCode } from '../oidc/tokens.js';

export const JOINT_PREFIX = '/api/v1';
export const DEFAULT_SCOPE = 'get_user_info';

const UNAUTHORIZED = { error: 'unauthorized', error_description: 'Full authentication is required to access this resource' };

type Form = Record<string, unknown>;
const text = (form: Form | undefined, name: string): string => {
  const value = form?.[name];
  return typeof value === 'string' ? value : '';
};

/** Rewrites the request to a standard endpoint of the provider, which then handles it. */
const rewrite = (ctx: Context, path: string, query?: URLSearchParams): void => {
  ctx.path = path;
  if (query) ctx.querystring = query.toString();
};

export function createJointOperationRoutes(options: { provider: Provider; directory: Directory; backchannel: Backchannel; loginPage: string }): Middleware {
  const { provider, directory, backchannel, loginPage } = options;
  const router = new Router({ prefix: JOINT_PREFIX });
  // The provider's own limit for token requests; the form is parsed here to fill in redirect_uri.
  const form = bodyParser({ enableTypes: ['form'], formLimit: '56kb', encoding: 'utf-8' });

  router.get('/oauth2/authorize', async (ctx, next: Next) => {
    const incoming = new URLSearchParams(ctx.querystring);
    const query = new URLSearchParams();
    // The documented parameters, PKCE for apps that can send it, and what an OIDC request may add.
    for (const name of ['client_id', 'redirect_uri', 'response_type', 'state', 'login_hint', 'prompt', 'code_challenge', 'code_challenge_method', 'nonce', 'max_age', 'ui_locales']) {
      const value = incoming.get(name);
      if (value !== null) query.set(name, value);
    }
    const requested = (incoming.get('scope') ?? '').split(' ').filter((s) => s && s !== OPENID_REQUESTED);
    const marked = requested.includes('openid') ? [OPENID_REQUESTED] : [];
    query.set('scope', [...new Set(['openid', ...requested, DEFAULT_SCOPE, ...marked])].join(' '));
    rewrite(ctx, '/auth', query);
    await next();
  });

  router.post('/oauth2/token', form, async (ctx, next: Next) => {
    const body = ctx.request.body as Form | undefined;
    const grantType = text(body, 'grant_type');
    if (body && grantType === 'authorization_code' && !text(body, 'redirect_uri')) {
      // redirect_uri is optional in this dialect: the one the code was issued for is implied.
      const redirectUri = await redirectUriOfCode(provider, text(body, 'code'));
      if (redirectUri) body.redirect_uri = redirectUri;
    }
    rewrite(ctx, '/token');
    await next();
    // The tokens are written before the answer is reshaped, so that a write refused now (another
    // request spent the refresh token first) gets the dialect's error too.
    try {
      await settleWrites(ctx.status < 400);
    } catch (err) {
      if (!(err instanceof errors.InvalidGrant)) throw err;
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant' };
    }

    const answer = (ctx.body ?? {}) as Record<string, unknown>;
    if (ctx.status === 200) {
      const granted = String(answer.scope ?? '').split(' ').filter(Boolean);
      const implicitOpenid = granted.includes(DEFAULT_SCOPE) && !granted.includes(OPENID_REQUESTED);
      const scope = granted.filter((s) => s !== OPENID_REQUESTED && !(implicitOpenid && s === 'openid')).join(' ');
      ctx.body = {
        access_token: answer.access_token,
        token_type: 'Bearer',
        expires_in: answer.expires_in,
        scope,
        ...(answer.refresh_token ? { refresh_token: answer.refresh_token } : {}),
        ...(answer.id_token && !implicitOpenid ? { id_token: answer.id_token } : {}),
      };
      return;
    }
    if (answer.error === 'invalid_grant') {
      const what = grantType === 'refresh_token' ? 'Invalid refresh token' : 'Invalid authorization code';
      ctx.body = { error: 'invalid_grant', error_description: what };
    } else if (answer.error === 'invalid_client') {
      ctx.body = { error: 'invalid_client', error_description: 'Bad client credentials' };
      // The dialect answers 400; RFC 6749 (5.2) keeps 401 and its challenge for HTTP Basic.
      if (!ctx.get('authorization')) {
        ctx.status = 400;
        ctx.remove('WWW-Authenticate');
      }
    } else if (answer.error === 'unsupported_grant_type') {
      ctx.body = { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${grantType || '(none)'}` };
    }
  });

  router.get('/oauth2/userinfo', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const [scheme, value] = (ctx.get('authorization') || '').split(' ');
    const account = scheme?.toLowerCase() === 'bearer' && value ? await accountForAccessToken(provider, directory, value) : undefined;
    if (!account) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = UNAUTHORIZED;
      return;
    }
    const { user, tenant, scopes } = account;
    // Every field for get_user_info; for a token of the standard dialect, what its scopes allow
    // there (openid: who and which tenant; profile: names and role; email; phone), the rest empty.
    const all = scopes.has(DEFAULT_SCOPE);
    const profile = all || scopes.has('profile');
    const shown = (allowed: boolean, value: string): string => (allowed ? value : '');
    ctx.body = {
      id: user.id,
      userName: shown(profile, user.username),
      name: shown(profile, user.name),
      email: shown(all || scopes.has('email'), user.email),
      mobile: shown(all || scopes.has('phone'), user.mobile),
      role: shown(profile, user.role),
      // Atrium has no departments: the user's organisation is their tenant.
      organizationName: tenant.name,
      organizationCode: tenant.code,
      userId: user.id,
      projectName: tenant.name,
      tenant: tenant.id,
      accName: shown(profile, user.username),
      loginName: shown(profile, user.username),
    };
  });

  router.get('/logout', async (ctx) => {
    const accountId = await endBrowserSession(provider, backchannel, ctx);
    const user = accountId ? await directory.users.byId(accountId) : undefined;
    if (user) await directory.audit.record({ type: 'user.signout', tenantId: user.tenantId, userId: user.id, ip: ctx.ip, detail: { via: 'joint-operation' } });
    const target = ctx.query.redirect_url;
    const allowed = typeof target === 'string' && target !== '' && (await directory.apps.isPostLogoutRedirectUri(target));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 302;
    ctx.redirect(allowed ? target : loginPage);
    ctx.body = ''; // the dialect documents no body
  });

  const routes = router.routes();
  return async function jointOperation(ctx, next) {
    if (!ctx.path.startsWith(`${JOINT_PREFIX}/`)) return next();
    return routes(ctx as never, next);
  };
}

/**
 * A demo SaaS app: a real OpenID Connect relying party (openid-client) that shows what it received
 * from Atrium — the code and tenant on its callback, the ID token's claims, userinfo — and can
 * refresh its token and sign out. It accepts both ways in: a code Atrium sent unasked (the
 * workbench's direct launch) and its own request started from `initiate_login_uri`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import * as oidc from 'openid-client';

export interface DemoAppOptions {
  name: string;
  colour: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Where this app is served, e.g. http://localhost:3001 */
  baseUrl: string;
  /** How it signs out: the standard RP-initiated logout, or the joint-operation dialect's. */
  logout: 'standard' | 'joint-operation';
}

interface Received {
  via: string;
  code: string;
  tenant: string | null;
  claims: Record<string, unknown>;
  userinfo: Record<string, unknown>;
  accessTokenExpiresIn?: number;
  refreshToken?: string;
  idToken?: string;
  refreshedAt?: string;
}

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
}

const escape = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export async function startDemoApp(options: DemoAppOptions, port: number, host = '127.0.0.1'): Promise<Server> {
  const config = await oidc.discovery(new URL(options.issuer), options.clientId, options.clientSecret, undefined, {
    execute: options.issuer.startsWith('http:') ? [oidc.allowInsecureRequests] : [],
  });
  const callbackUrl = `${options.baseUrl}/callback`;
  const cookie = `demo_${new URL(options.baseUrl).port || 'app'}`;
  const sessions = new Map<string, { pending?: Pending; received?: Received; error?: string }>();

  const app = new Koa();
  const router = new Router();
  const sessionOf = (ctx: Koa.Context) => {
    let id = ctx.cookies.get(cookie);
    if (!id || !sessions.has(id)) {
      id = randomBytes(16).toString('hex');
      sessions.set(id, {});
      ctx.cookies.set(cookie, id, { httpOnly: true, sameSite: 'lax' });
    }
    return sessions.get(id)!;
  };

  const page = (body: string): string => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(options.name)}</title>
<style>body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1f2430}header{background:${options.colour};color:#fff;padding:1rem 1.5rem;font-weight:700}
main{max-width:56rem;margin:1.5rem auto;padding:0 1rem}section{background:#fff;border:1px solid #dde;border-radius:10px;padding:1rem 1.25rem;margin-bottom:1rem}
pre{white-space:pre-wrap;word-break:break-all;background:#f3f4f7;padding:.75rem;border-radius:6px}button,.button{font:inherit;padding:.5rem .9rem;border-radius:6px;border:1px solid #ccd;background:#fff;cursor:pointer;text-decoration:none;color:inherit}
form{display:inline}dt{font-weight:600}dd{margin:0 0 .5rem}</style></head>
<body><header>${escape(options.name)} <small>— a demo app signed in through Atrium</small></header><main>${body}</main></body></html>`;

  router.get('/', (ctx) => {
    const session = sessionOf(ctx);
    const r = session.received;
    if (!r) {
      ctx.body = page(`<section><h1>Not signed in</h1>${session.error ? `<p role="alert">${escape(session.error)}</p>` : ''}
<p>Open this app from your Atrium workbench, or <a class="button" href="/login">sign in with Atrium</a>.</p></section>`);
      return;
    }
    ctx.body = page(`<section><h1 id="signed-in">Signed in as ${escape(r.userinfo.name ?? r.claims.sub)}</h1>
<dl><dt>Arrived by</dt><dd id="via">${escape(r.via)}</dd>
<dt>Authorization code</dt><dd><code id="code">${escape(r.code)}</code></dd>
<dt>Tenant on the callback</dt><dd><code id="tenant">${escape(r.tenant ?? '(none)')}</code></dd>
<dt>tenant_id in the ID token</dt><dd><code id="tenant-claim">${escape(r.claims.tenant_id)}</code></dd>
<dt>Access token</dt><dd>expires in ${escape(r.accessTokenExpiresIn ?? '?')} s${r.refreshedAt ? `, refreshed at <span id="refreshed">${escape(r.refreshedAt)}</span>` : ''}</dd>
<dt>Refresh token</dt><dd>${r.refreshToken ? 'received' : 'none'}</dd></dl>
<form method="post" action="/refresh"><button id="refresh" ${r.refreshToken ? '' : 'disabled'}>Refresh the token</button></form>
<form method="post" action="/logout"><button id="logout">Sign out</button></form></section>
<section><h2>ID token claims</h2><pre id="claims">${escape(JSON.stringify(r.claims, null, 2))}</pre></section>
<section><h2>Userinfo</h2><pre id="userinfo">${escape(JSON.stringify(r.userinfo, null, 2))}</pre></section>`);
  });

  // The app's own sign-in, also the target of Atrium's third-party-initiated login.
  router.get('/login', async (ctx) => {
    const iss = ctx.query.iss;
    if (iss !== undefined && iss !== options.issuer) {
      ctx.status = 400;
      ctx.body = page('<section><h1>Unknown issuer</h1></section>');
      return;
    }
    const pending: Pending = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier() };
    sessionOf(ctx).pending = pending;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl,
      scope: 'openid profile email',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      ...(typeof ctx.query.login_hint === 'string' ? { login_hint: ctx.query.login_hint } : {}),
    });
    ctx.redirect(url.href);
  });

  router.get('/callback', async (ctx) => {
    const session = sessionOf(ctx);
    const current = new URL(ctx.href);
    const pending = session.pending;
    const ours = pending && current.searchParams.get('state') === pending.state;
    try {
      // A code with our state answers our own request; a code without state was sent by the
      // workbench's launch (Atrium started that request for us).
      const tokens = await oidc.authorizationCodeGrant(
        config,
        current,
        ours
          ? { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce }
          : { expectedState: oidc.skipStateCheck },
      );
      const claims: Record<string, unknown> = tokens.claims() ?? {};
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
      session.pending = undefined;
      session.error = undefined;
      session.received = {
        via: ours ? 'its own sign-in request (initiate_login_uri)' : 'a workbench launch (code and tenant sent by Atrium)',
        code: current.searchParams.get('code') ?? '',
        tenant: current.searchParams.get('tenant'),
        claims,
        userinfo,
        accessTokenExpiresIn: tokens.expires_in,
        refreshToken: tokens.refresh_token,
        idToken: tokens.id_token,
      };
    } catch (err) {
      session.error = `Sign-in failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    ctx.redirect('/');
  });

  router.post('/refresh', async (ctx) => {
    const session = sessionOf(ctx);
    const r = session.received;
    if (r?.refreshToken) {
      const tokens = await oidc.refreshTokenGrant(config, r.refreshToken);
      r.refreshToken = tokens.refresh_token ?? r.refreshToken;
      r.accessTokenExpiresIn = tokens.expires_in;
      r.refreshedAt = new Date().toISOString();
      r.userinfo = await oidc.fetchUserInfo(config, tokens.access_token, String(r.claims.sub));
    }
    ctx.redirect('/');
  });

  router.post('/logout', (ctx) => {
    const session = sessionOf(ctx);
    const idToken = session.received?.idToken;
    session.received = undefined;
    const back = `${options.baseUrl}/`;
    ctx.redirect(
      options.logout === 'standard' && idToken
        ? oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: back }).href
        : `${options.issuer}/api/v1/logout?redirect_url=${encodeURIComponent(back)}`,
    );
  });

  app.use(router.routes());
  const server = createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

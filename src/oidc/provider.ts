/**
 * The oidc-provider instance: Atrium's policy written as the library's public configuration.
 * Pages (errors, logout) are rendered by functions the composition root passes in.
 */
import Provider, { interactionPolicy, type AdapterPayload, type Client, type Configuration, type KoaContextWithOIDC, type Grant } from 'oidc-provider';
import type { Config } from '../config/index.js';
import type { AccessDecision, App, Directory } from '../directory/index.js';
import type { Store } from '../store/store.js';
import { GrantRevoked, MAX_GRANT_SECONDS, createAdapterFactory, grantTokenIds } from './adapter.js';
import { CLAIMS, createFindAccount, loadAccount, type AtriumAccount } from './accounts.js';
import { compareHashedClientSecrets } from './client-auth.js';
import { ACCESS_TOKEN_TTL, APP_SCOPES, clientMetadata, MANAGEMENT_SCOPES, PKCE_OPTIONAL, PREVIOUS_SECRET, PREVIOUS_SECRET_UNTIL, REFRESH_TOKEN_TTL, toClientMetadata } from './clients.js';
import { createLaunchTickets, LAUNCH_PARAM, type LaunchTickets } from './launch-ticket.js';
import { sessionTtl } from './sessions.js';
import { createRefreshSeal } from './refresh-seal.js';
import { loadCookieKeys, loadSigningKeys, toProviderJwks, watchSigningKeys } from './keys.js';

export const INTERACTION_PATH = '/interaction';

/**
 * The workbench signs its users in as a client of its own: a built-in public client whose callback
 * only sends the browser on (the code is never exchanged). It is always granted.
 */
export const WORKBENCH_CLIENT_ID = 'atrium-workbench';
export const WORKBENCH_CALLBACK_PATH = '/workbench/callback';

/** May this user use this client now? Assignments decide, except for the workbench itself. */
export async function decideAccess(directory: Directory, user: { id: string; tenantId: string }, clientId: string): Promise<AccessDecision> {
  if (clientId === WORKBENCH_CLIENT_ID) return 'granted';
  return directory.assignments.decide(user, clientId);
}

/** Pages the provider renders through Atrium's views. */
export interface ProviderPages {
  error(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): Promise<void>;
  logout(ctx: KoaContextWithOIDC, form: string): Promise<void>;
  logoutDone(ctx: KoaContextWithOIDC): Promise<void>;
}

const SIGNING_ALGS = ['RS256', 'ES256'];

const perApp = (client: { metadata(): Record<string, unknown> }, name: string): number | undefined => {
  const value = clientMetadata(client)[name];
  return typeof value === 'number' ? value : undefined;
};

type TtlContext = { oidc?: { entities?: { Grant?: { exp?: number } } } } | undefined;

/**
 * A token never outlives its grant (which holds it): its lifetime is cut to what is left of the
 * grant's, so that its `expires_in` and introspected `exp` are when it really stops working.
 */
const withinGrant = (ctx: TtlContext, ttl: number): number => {
  const exp = ctx?.oidc?.entities?.Grant?.exp;
  return typeof exp === 'number' ? Math.max(1, Math.min(ttl, exp - Math.floor(Date.now() / 1000))) : ttl;
};

/**
 * An app's client metadata, made once per app record: a record read from the directory's cache is
 * the same frozen object until the app changes, so its metadata is too (frozen as well: the provider
 * only reads it).
 */
const metadataByApp = new WeakMap<App, AdapterPayload>();
function clientMetadataOf(app: App): AdapterPayload {
  let metadata = metadataByApp.get(app);
  if (!metadata) metadataByApp.set(app, (metadata = Object.freeze(toClientMetadata(app))));
  return metadata;
}

export async function createProvider(options: {
  config: Config;
  store: Store;
  directory: Directory;
  pages: ProviderPages;
  /** Told when the signing keys changed while running, or could not be re-read. */
  keyEvents: { changed(kids: string[]): void; failed(err: unknown): void };
}): Promise<{ provider: Provider; launchTickets: LaunchTickets; stop(): Promise<void> }> {
  const { config, store, directory, pages, keyEvents } = options;
  const [signingKeys, cookieKeys] = await Promise.all([loadSigningKeys(store), loadCookieKeys(store, config.cookieKeys)]);
  const launchTickets = createLaunchTickets(cookieKeys[0]!);
  const refreshSeal = createRefreshSeal(cookieKeys);

  const configuration: Configuration = {
    adapter: createAdapterFactory(store, async (clientId) => {
      const app = await directory.apps.byId(clientId);
      return app ? clientMetadataOf(app) : undefined;
    }, refreshSeal),
    clients: [
      {
        client_id: WORKBENCH_CLIENT_ID,
        client_name: 'Atrium',
        scope: 'openid',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${config.issuer}${WORKBENCH_CALLBACK_PATH}`],
      },
    ],
    jwks: toProviderJwks(signingKeys) as Configuration['jwks'],
    // Over https the session cookie has the `__Host-` prefix (see the CSRF cookie's): no sibling
    // subdomain can sign a browser in here as someone else by planting its own session cookie.
    cookies: { keys: cookieKeys, ...(config.issuer.startsWith('https:') ? { names: { session: '__Host-session' } } : {}) },
    findAccount: createFindAccount(directory, async (user, clientId) => (await decideAccess(directory, user, clientId)) === 'granted', config.session),
    claims: CLAIMS,
    scopes: [...APP_SCOPES.split(' '), ...MANAGEMENT_SCOPES],
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: config.signingAlg,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      idTokenSigningAlgValues: SIGNING_ALGS as never,
      userinfoSigningAlgValues: SIGNING_ALGS as never,
      introspectionSigningAlgValues: SIGNING_ALGS as never,
      authorizationSigningAlgValues: SIGNING_ALGS as never,
      requestObjectSigningAlgValues: SIGNING_ALGS as never,
      clientAuthSigningAlgValues: SIGNING_ALGS as never,
    },
    // PKCE for every request an app starts itself (S256 only), unless the app is a legacy one that
    // cannot send it; the workbench's own launches carry a launch ticket instead.
    pkce: {
      required: (ctx, client) =>
        client.clientAuthMethod === 'none' ||
        (clientMetadata(client)[PKCE_OPTIONAL] !== true &&
          !launchTickets.verify(ctx.oidc.params?.[LAUNCH_PARAM], {
            clientId: client.clientId,
            redirectUri: typeof ctx.oidc.params?.redirect_uri === 'string' ? ctx.oidc.params.redirect_uri : undefined,
            sessionUid: ctx.oidc.session?.uid,
          })),
    },
    extraParams: [LAUNCH_PARAM],
    // Browsers may call the token, userinfo, introspection and revocation endpoints only from the
    // origins of the app's own redirect URIs.
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
    // Outgoing calls (back-channel logout) refuse private addresses unless development allows them.
    fetch: (url, init) => {
      if (config.allowPrivateFetch) delete (init as { dispatcher?: unknown }).dispatcher;
      return globalThis.fetch(url, init);
    },
    extraClientMetadata: { properties: [ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, PKCE_OPTIONAL, PREVIOUS_SECRET, PREVIOUS_SECRET_UNTIL] },
    ttl: {
      AccessToken: (ctx, _token, client) => withinGrant(ctx as TtlContext, perApp(client, ACCESS_TOKEN_TTL) ?? config.ttl.accessToken),
      AuthorizationCode: config.ttl.authorizationCode,
      RefreshToken: (ctx, _token, client) => withinGrant(ctx as TtlContext, perApp(client, REFRESH_TOKEN_TTL) ?? config.ttl.refreshToken),
      IdToken: config.ttl.idToken,
      Session: sessionTtl(config.session),
      Interaction: config.ttl.interaction,
      // A grant made at sign-in outlives the first refresh token of its code (issued within the
      // code's lifetime), and rotating refresh tokens does not extend it: an app's refresh token
      // lifetime is counted from the sign-in, and the tokens it rotates in are cut to the grant's.
      Grant: (_ctx, _grant, client?: Client) => {
        const refresh = client?.grantTypeAllowed('refresh_token') ? (perApp(client, REFRESH_TOKEN_TTL) ?? config.ttl.refreshToken) : 0;
        return Math.min(MAX_GRANT_SECONDS, Math.max(config.ttl.grant, refresh + config.ttl.authorizationCode));
      },
      ClientCredentials: 600,
    },
    // Refresh tokens: for every app allowed the grant (not only with offline_access), rotated on each
    // use; the provider revokes the whole grant when a rotated-away token comes back.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Revoking any token of a grant at the revocation endpoint revokes the grant (the provider's
    // default keeps it when the token is an access token, while still revoking all of its tokens).
    // A grant never lives on without the refresh tokens it issued: one of those missing from its
    // live grant is taken as spent, and its replay revokes the grant (refresh-seal.ts).
    revokeGrantPolicy: () => true,
    // Token lifetimes are their own (2 h, 30 days); signing out revokes them explicitly instead.
    expiresWithSession: async () => false,
    extraTokenClaims: async (ctx, token) => {
      const accountId = (token as { accountId?: string }).accountId;
      if (!accountId) return undefined;
      // The token endpoint has just loaded (and checked) this account: no second read.
      const loaded = (ctx as { oidc?: { account?: Partial<AtriumAccount> } } | undefined)?.oidc?.account;
      if (loaded?.accountId === accountId && loaded.tenantId) return { tenant_id: loaded.tenantId };
      const user = await directory.users.byId(accountId);
      return user ? { tenant_id: user.tenantId } : undefined;
    },
    loadExistingGrant: createLoadExistingGrant(directory),
    // Grant ids are names, not credentials (every token adds 256 random bits of its own, see
    // grantTokenIds): 128 bits keep them unique and unguessable, and every key and index shorter.
    formats: { bitsOfOpaqueRandomness: (_ctx, token) => (token.kind === 'Grant' ? 128 : 256) },
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`, policy: interactionsPolicy() },
    renderError: (ctx, out) => pages.error(ctx, out),
    features: {
      devInteractions: { enabled: false },
      introspection: {
        enabled: true,
        // Only the app a token was issued to may introspect it: no peeking across apps or tenants.
        // A user's token is active only while it would work: its account alive and not disabled
        // since the token was issued, and the app still assigned to the user.
        allowedPolicy: async (_ctx, client, token) => {
          // Nor a public app, whose id anyone may present (RFC 7662 §2.1: the caller authenticates).
          if (token.clientId !== client.clientId || client.clientAuthMethod === 'none') return false;
          const accountId = (token as { accountId?: string }).accountId;
          if (!accountId) return true;
          const account = await loadAccount(directory, accountId, token.iat);
          return account !== undefined && (await decideAccess(directory, account.user, client.clientId)) === 'granted';
        },
      },
      revocation: {
        enabled: true,
        // An app may revoke only its own tokens; for another's token the answer is the same 200.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logout(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.logoutDone(ctx),
      },
      claimsParameter: { enabled: false },
      // Only management apps (admin API automation) are allowed the client_credentials grant.
      clientCredentials: { enabled: true },
      resourceIndicators: { enabled: false },
    },
    discovery: { service_documentation: undefined },
  };

  const provider = new Provider(config.issuer, configuration);
  compareHashedClientSecrets(provider);
  grantTokenIds(provider, refreshSeal);

  // Every authorization response with a code also names the user's tenant (the joint-operation
  // callback contract: callback?code=…&tenant=…). The listener runs before the response is sent.
  provider.on('authorization.success', (ctx, out) => {
    const account = ctx.oidc.account as AtriumAccount | undefined;
    if (out?.code && account?.tenantId) out.tenant = account.tenantId;
  });

  const keys = watchSigningKeys(provider, store, signingKeys, {
    intervalMs: config.keys.reloadSeconds * 1000,
    onChange: keyEvents.changed,
    onError: keyEvents.failed,
  });
  return { provider, launchTickets, stop: keys.stop };
}

/**
 * The provider's prompts, and one more reason to sign in: a session whose account is gone (its user
 * or tenant disabled or deleted, or disabled since the session began) or that is past its absolute
 * timeout (see createFindAccount) signs in again, instead of going on as signed in without an
 * account. With prompt=none the answer is login_required, as for no session (a check added to a
 * prompt after its creation does not get the prompt's error by itself).
 */
function interactionsPolicy(): interactionPolicy.DefaultPolicy {
  const { Check } = interactionPolicy;
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new Check('account_unavailable', 'End-User authentication is required', 'login_required', (ctx) =>
      ctx.oidc.session?.accountId && !ctx.oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
  );
  return policy;
}

/**
 * The grant of an assigned (first-party) app: the existing one of this session when it matches,
 * else a new one, holding the scopes the app asked for.
 */
export async function grantForAssignedApp(
  provider: Provider,
  request: { accountId: string; client: Client; scope: string; grantId: string | undefined },
): Promise<Grant> {
  const { accountId, client, scope, grantId } = request;
  const existing = grantId ? await provider.Grant.find(grantId) : undefined;
  // A new grant knows its app: its lifetime depends on the app's (ttl.Grant).
  const grant =
    existing && existing.accountId === accountId && existing.clientId === client.clientId
      ? existing
      : new provider.Grant({ accountId, client } as ConstructorParameters<typeof provider.Grant>[0]);
  if (scope) grant.addOIDCScope(scope);
  try {
    await grant.save();
  } catch (err) {
    if (!(err instanceof GrantRevoked) || grant !== existing) throw err;
    // Revoked while this authorization ran (sign-out elsewhere, app or user changes): a new grant,
    // never the revoked one back.
    const fresh = new provider.Grant({ accountId, client } as ConstructorParameters<typeof provider.Grant>[0]);
    if (scope) fresh.addOIDCScope(scope);
    await fresh.save();
    return fresh;
  }
  return grant;
}

/**
 * Apps assigned to the user's tenant are first-party: their grant is made here, without a consent
 * page. For any other app no grant is returned, so the consent prompt follows, and the consent
 * interaction answers the app with access_denied.
 */
function createLoadExistingGrant(directory: Directory) {
  return async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const account = ctx.oidc.account as AtriumAccount | undefined;
    const client = ctx.oidc.client;
    const session = ctx.oidc.session;
    if (!account || !client || !session) return undefined;
    const decision = await decideAccess(directory, { id: account.accountId, tenantId: account.tenantId }, client.clientId);
    if (decision !== 'granted') return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
    return grantForAssignedApp(ctx.oidc.provider, {
      accountId: account.accountId,
      client,
      scope: [...ctx.oidc.requestParamOIDCScopes].join(' '),
      grantId,
    });
  };
}

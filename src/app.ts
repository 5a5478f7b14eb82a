/**
 * The composition root: builds the store, the directory, the provider and the Koa app (the
 * provider's own), and wires Atrium's routes in front of the provider's.
 */
import type { Server } from 'node:http';
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from './config/index.js';
import { createAdminApi, servedRoutes } from './admin/api.js';
import { createAdminAuth } from './admin/auth.js';
import { createAdminPages } from './admin/pages.js';
import { createJointOperationRoutes } from './compat/joint-operation.js';
import { createDirectory, type Directory } from './directory/index.js';
import { withRecordCache } from './directory/records.js';
import { createErrorHandling, PROVIDER_ONLY } from './http/errors.js';
import { createPublicAddress } from './http/forwarded.js';
import { createHealthRoutes } from './http/health.js';
import { createMetrics, createMetricsRoute, createRequestObserver } from './http/observability.js';
import { createRenderer, type Render } from './http/pages.js';
import { createSecurityHeaders } from './http/security-headers.js';
import { createStaticFiles } from './http/static.js';
import { createInteractionRoutes } from './interactions/routes.js';
import { createWorkbenchRoutes } from './workbench/routes.js';
import type { Logger } from './logger.js';
import { recordProviderEvents } from './oidc/audit-events.js';
import { createBackchannel, type Backchannel } from './oidc/backchannel.js';
import { revokeGrantsOnSignOut } from './oidc/logout.js';
import { afterWrites, settleWrites } from './oidc/adapter.js';
import { foundAfterAuthorizationGet } from './oidc/redirect-status.js';
import { createProvider, type ProviderPages } from './oidc/provider.js';
import { createStore } from './store/index.js';
import { meteredStore } from './store/metered.js';
import type { Store } from './store/store.js';

export interface Atrium {
  config: Config;
  store: Store;
  directory: Directory;
  provider: Provider;
  /** The request handler, for http.createServer or supertest. */
  callback: ReturnType<Provider['callback']>;
  backchannel: Backchannel;
  /** The admin API's routes as served ("GET /admin/api/v1/tenants", …). */
  adminRoutes: string[];
  close(): Promise<void>;
}


/** Koa middlewares (of any context type: routers add theirs) run one after another as one, as koa-compose does. */
type AnyMiddleware = (ctx: never, next: () => Promise<unknown>) => unknown;
function chain(middlewares: AnyMiddleware[]): Middleware {
  return (ctx, next) => {
    const dispatch = (i: number): Promise<unknown> =>
      i === middlewares.length ? next() : Promise.resolve(middlewares[i]!(ctx as never, () => dispatch(i + 1)));
    return dispatch(0);
  };
}

const providerPages = (render: Render): ProviderPages => ({
  async error(ctx, out) {
    render(ctx, 'error', { headingKey: 'error.signIn', message: out.error_description, code: out.error }, ctx.status);
  },
  async logout(ctx, form) {
    render(ctx, 'logout', { form, clientName: ctx.oidc.client?.clientName });
  },
  async logoutDone(ctx) {
    render(ctx, 'logout-done', { clientName: ctx.oidc.client?.clientName });
  },
});

export async function createAtrium(config: Config, logger: Logger): Promise<Atrium> {
  let hashingDepth = (): number => 0;
  const metrics = createMetrics({ queueDepth: () => hashingDepth() });
  const rawStore = await createStore(config.store);
  const store = meteredStore(rawStore, {
    observe: (operation, seconds) => metrics.storeLatency.observe({ operation }, seconds),
    failed: (operation) => metrics.storeErrors.inc({ operation }),
  });
  const directory = createDirectory(store, {
    password: config.password,
    hashing: config.passwordHashing,
    throttle: config.throttle,
    auditRetentionDays: config.audit.retentionDays,
  });
  hashingDepth = directory.hashingDepth;
  const render = createRenderer();
  const { provider, launchTickets, stop } = await createProvider({
    config,
    store,
    directory,
    pages: providerPages(render),
    keyEvents: {
      changed: (kids) => {
        metrics.keyReloads.inc({ result: 'changed' });
        logger.info({ kids }, 'signing keys changed');
      },
      failed: (err) => {
        metrics.keyReloads.inc({ result: 'failed' });
        logger.warn({ err }, 'could not re-read the signing keys; the current ones stay');
      },
    },
  });
  // Client addresses: only the configured number of proxies may speak for the client; host and
  // scheme are the issuer's (see createPublicAddress, which runs before Koa on every request).
  provider.proxy = true;
  provider.maxIpsCount = config.trustProxyHops;
  const publicAddress = createPublicAddress(config.issuer, config.trustProxyHops);

  recordProviderEvents(provider, directory);
  const backchannel = createBackchannel(directory);
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => backchannel.firstAttemptDone(client as never, accountId, sid));
  provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => backchannel.firstAttemptDone(client as never, accountId, sid, err));

  // Counted once the request's token writes are done (see settleWrites): a request that lost a race
  // for its refresh token at that point issued nothing.
  provider.on('grant.success', (ctx) => {
    const grantType = String(ctx.oidc.params?.grant_type ?? 'unknown');
    afterWrites(() => metrics.tokens.inc({ grant_type: grantType }));
  });
  // Everything Atrium does around every request, as one middleware (each layer of middleware costs
  // promises and stack depth on every request): the request runs as the current request (directory
  // records then come from a cache checked against the directory version), gets an id, security
  // headers, errors rendered, the authorization endpoint's redirects to a GET answered with 302, a
  // sign-out's grants revoked, the token writes the adapter held back done before the answer leaves
  // (dropped when it failed), and is counted and logged.
  const observer = createRequestObserver(logger, metrics);
  const securityHeaders = createSecurityHeaders(PROVIDER_ONLY);
  const errors = createErrorHandling(render, logger);
  provider.use((ctx, next) =>
    withRecordCache(async () => {
      const started = observer.start(ctx);
      securityHeaders(ctx);
      try {
        await next();
        foundAfterAuthorizationGet(ctx);
        await revokeGrantsOnSignOut(provider, ctx);
        await settleWrites(ctx.status < 400);
        errors.check(ctx);
      } catch (thrown) {
        await settleWrites(false);
        errors.render(ctx, thrown);
      } finally {
        observer.finish(ctx, started);
      }
    }, ctx),
  );
  const interactions = createInteractionRoutes({ provider, directory, render, onSignIn: (result) => metrics.signIns.inc({ result }), session: config.session });
  const workbench = createWorkbenchRoutes({ provider, directory, backchannel, store, render, launchTickets, issuer: config.issuer, session: config.session });
  const adminDeps = { provider, directory, backchannel, store, auth: createAdminAuth(provider, directory, config.session) };
  const admin = createAdminApi(adminDeps, config.issuer);
  const routes = chain([
    createStaticFiles(),
    createHealthRoutes(store),
    createMetricsRoute(metrics, { token: config.metricsToken, open: !config.production }),
    interactions.routes(),
    interactions.allowedMethods(),
    createJointOperationRoutes({ provider, directory, backchannel, loginPage: '/' }),
    workbench.routes(),
    workbench.allowedMethods(),
    admin.routes(),
    admin.allowedMethods(),
    createAdminPages(adminDeps, render).routes(),
  ]);
  // Token, userinfo and the other endpoints only the provider answers go straight to it.
  provider.use((ctx, next) => (PROVIDER_ONLY.has(ctx.path) ? next() : routes(ctx, next)));

  // A store outage inside the provider is rendered by it as 503 (see UnavailableError); anything
  // else it calls a server error is a bug worth a log line.
  provider.on('server_error', (ctx, err) => logger.error({ err, path: ctx.path }, 'provider error'));
  const handle = provider.callback(); // (after the last provider.use: Koa composes them here)
  if (config.production && config.metricsToken === undefined) logger.warn('/metrics is off: set ATRIUM_METRICS_TOKEN for a scraper to send as its bearer token');

  return {
    config,
    store,
    directory,
    provider,
    callback: (req, res) => {
      publicAddress(req);
      return handle(req, res);
    },
    backchannel,
    adminRoutes: servedRoutes(admin),
    async close() {
      await stop();
      await backchannel.settle();
      await directory.audit.flush();
      await store.close();
    },
  };
}

/** Closes a listening server: stops accepting, lets in-flight requests finish within `graceMs`. */
export function closeServer(server: Server, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Request logs and Prometheus metrics. Every request gets an id (the caller's X-Request-Id when it
 * is a plain token, else a new one), echoed in the answer and in its one log line. Logs carry the
 * path, never the query string or bodies, so codes, tokens, secrets and passwords stay out of them.
 */
import cluster from 'node:cluster';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { storeUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: { queueDepth: () => number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'atrium_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'atrium_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const signIns = new Counter({ name: 'atrium_signins_total', help: 'Password sign-ins by result', labelNames: ['result'], registers: [registry] });
  const tokens = new Counter({ name: 'atrium_tokens_issued_total', help: 'Token endpoint successes by grant type', labelNames: ['grant_type'], registers: [registry] });
  const storeLatency = new Histogram({
    name: 'atrium_store_operation_duration_seconds',
    help: 'Store operation latency by operation',
    labelNames: ['operation'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
    registers: [registry],
  });
  const storeErrors = new Counter({ name: 'atrium_store_errors_total', help: 'Store operations that failed, by operation', labelNames: ['operation'], registers: [registry] });
  const keyReloads = new Counter({
    name: 'atrium_signing_key_reloads_total',
    help: 'Re-reads of the signing keys that changed them (a rotation, activation or retirement) or failed (the keys in force stay)',
    labelNames: ['result'],
    registers: [registry],
  });
  new Gauge({
    name: 'atrium_argon2_queue_depth',
    help: 'Password hashing jobs running and waiting',
    registers: [registry],
    collect() {
      this.set(options.queueDepth());
    },
  });
  if (cluster.isWorker) {
    // Under `--workers N`, the primary collects every worker's registry for /metrics.
    AggregatorRegistry.setRegistries([registry]);
    new AggregatorRegistry();
  }
  return { registry, requests, latency, signIns, tokens, storeLatency, storeErrors, keyReloads };
}

const METRICS_REQUEST = 'atrium:metrics-request';
const METRICS_REPLY = 'atrium:metrics-reply';
interface MetricsReply {
  type: typeof METRICS_REPLY;
  id: string;
  text?: string;
}

/** In the primary of `--workers N`: answers a worker's request for the whole server's metrics. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: string }) => {
    const id = message?.id;
    if (message?.type !== METRICS_REQUEST || typeof id !== 'string') return;
    const reply = (text?: string) => worker.send({ type: METRICS_REPLY, id, ...(text === undefined ? {} : { text }) } satisfies MetricsReply);
    aggregator.clusterMetrics().then(reply, () => reply());
  });
}

/** In a worker: every worker's metrics, summed by the primary. */
function clusterMetrics(): Promise<string> {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const done = (message: MetricsReply) => {
      if (message?.type !== METRICS_REPLY || message.id !== id) return;
      clearTimeout(timer);
      process.off('message', done);
      if (message.text === undefined) reject(storeUnavailable(new Error('a worker did not report its metrics')));
      else resolve(message.text);
    };
    const timer = setTimeout(() => {
      process.off('message', done);
      reject(storeUnavailable(new Error('the primary did not answer for metrics')));
    }, 5000);
    process.on('message', done);
    process.send?.({ type: METRICS_REQUEST, id });
  });
}

/** A low-cardinality name for the route a request took. */
function routeOf(ctx: Context): string {
  const oidcRoute = (ctx as unknown as { oidc?: { route?: string } }).oidc?.route;
  if (oidcRoute) return oidcRoute;
  const matched = (ctx as unknown as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (matched) return String(matched);
  return ctx.path.startsWith('/static/') ? 'static' : ctx.status === 404 ? 'not_found' : 'other';
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Around each request (see app.ts): `start` before it runs, `finish` once its answer is set. */
export interface RequestObserver {
  /** Gives the request its id (echoed in X-Request-Id); returns when it started. */
  start(ctx: Context): bigint;
  /** Counts the request and writes its log line. */
  finish(ctx: Context, started: bigint): void;
}

export function createRequestObserver(logger: Logger, metrics: Metrics): RequestObserver {
  return {
    start(ctx) {
      const given = ctx.get('x-request-id');
      const id = REQUEST_ID.test(given) ? given : randomUUID();
      ctx.state.requestId = id;
      ctx.res.setHeader('X-Request-Id', id);
      return process.hrtime.bigint();
    },
    finish(ctx, started) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(ctx);
      metrics.requests.inc({ route, method: ctx.method, status: String(ctx.status) });
      metrics.latency.observe({ route }, seconds);
      logger.info({ reqId: ctx.state.requestId, method: ctx.method, path: ctx.path, route, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request');
    },
  };
}

/**
 * GET /metrics. With a token, only for a bearer of it (401 otherwise); without one, for anyone when
 * `open` (development) and not at all otherwise (404, as any unknown path).
 */
export function createMetricsRoute(metrics: Metrics, access: { token: string | undefined; open: boolean }): Middleware {
  const expected = access.token === undefined ? undefined : digest(access.token);
  return async function metricsRoute(ctx, next) {
    if (ctx.path !== '/metrics' || ctx.method !== 'GET' || (expected === undefined && !access.open)) return next();
    if (expected !== undefined) {
      const [scheme, presented] = ctx.get('authorization').split(' ');
      if (scheme?.toLowerCase() !== 'bearer' || !presented || !timingSafeEqual(digest(presented), expected)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'unauthorized', error_description: 'the metrics token is required' };
        return;
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = cluster.isWorker ? await clusterMetrics() : await metrics.registry.metrics();
  };
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

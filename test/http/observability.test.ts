/** /metrics and the request log: a whole flow's log output never holds a token, code, secret or password. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { closeServer, createAtrium, type Atrium } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, PASSWORD, seedDirectory, type Seed } from '../helpers/fixtures.js';
import { testStoreConfig } from '../helpers/stores.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';

describe('observability', () => {
  let atrium: Atrium;
  let server: Server;
  let issuer: string;
  let seed: Seed;
  let cleanup: () => Promise<void>;
  const lines: string[] = [];

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const store = testStoreConfig('redis');
    cleanup = store.cleanup;
    const config = loadConfig({ ATRIUM_ISSUER: issuer });
    config.store = store.config;
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    atrium = await createAtrium(config, createLogger('trace', sink));
    server.on('request', atrium.callback);
    seed = await seedDirectory(atrium.directory);
  });
  afterAll(async () => {
    await closeServer(server, 500);
    await atrium.close();
    await cleanup();
  });

  it('logs one JSON line per request with a request id, and no secret of a whole flow', async () => {
    const config = await oidc.discovery(new URL(issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 'st', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = new URL((await authorize(new Browser(issuer), url.href, aliceLogin)).location!);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'st' });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await oidc.fetchUserInfo(config, refreshed.access_token, seed.alice.id);
    await fetch(`${issuer}/api/v1/oauth2/userinfo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    const res = await fetch(`${issuer}/healthz`, { headers: { 'x-request-id': 'trace-me-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-me-123');

    const log = lines.join('');
    const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(8);
    expect(requests.every((r) => typeof r.reqId === 'string' && typeof r.status === 'number')).toBe(true);
    expect(requests.some((r) => r.reqId === 'trace-me-123')).toBe(true);
    const secrets = [
      callback.searchParams.get('code')!,
      tokens.access_token,
      tokens.refresh_token!,
      tokens.id_token!,
      refreshed.access_token,
      refreshed.refresh_token!,
      seed.crm.clientSecret!,
      PASSWORD,
      verifier,
    ];
    for (const secret of secrets) expect(log.includes(secret), `a secret in the log: ${secret.slice(0, 6)}…`).toBe(false);
  });

  it('serves Prometheus metrics: requests, latency, sign-ins, tokens, store operations, argon2 queue', async () => {
    const text = await (await fetch(`${issuer}/metrics`)).text();
    expect(text).toMatch(/atrium_http_requests_total\{route="token",method="POST",status="200"\} \d+/);
    expect(text).toContain('atrium_http_request_duration_seconds_bucket');
    expect(text).toMatch(/atrium_signins_total\{result="success"\} \d+/);
    expect(text).toMatch(/atrium_tokens_issued_total\{grant_type="authorization_code"\} 1/);
    expect(text).toMatch(/atrium_tokens_issued_total\{grant_type="refresh_token"\} 1/);
    expect(text).toMatch(/atrium_store_operation_duration_seconds_count\{operation="hsetRecords"\} \d+/);
    expect(text).toMatch(/atrium_argon2_queue_depth 0/);
  });
});

describe('who may read /metrics', () => {
  const TOKEN = 'a-metrics-token-of-some-length';
  const serve = async (adjust: (config: Config) => void) => {
    const t = await startAtrium('sqlite', adjust);
    servers.push(t);
    return (headers: Record<string, string> = {}) => fetch(`${t.issuer}/metrics`, { headers });
  };
  const servers: TestServer[] = [];
  afterAll(() => Promise.all(servers.map((t) => t.close())));

  it('asks for the token when one is set, in development too', async () => {
    const metrics = await serve((c) => {
      c.metricsToken = TOKEN;
    });
    const wrong: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }];
    for (const headers of wrong) {
      const refused = await metrics(headers);
      expect(refused.status, JSON.stringify(headers)).toBe(401);
      expect(await refused.text()).not.toContain('atrium_');
    }
    const allowed = await metrics({ authorization: `Bearer ${TOKEN}` });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('atrium_http_requests_total');
  });

  it('serves no metrics in production without a token, and with one only to its bearer', async () => {
    const off = await serve((c) => {
      c.production = true;
    });
    expect((await off()).status).toBe(404);
    const on = await serve((c) => {
      c.production = true;
      c.metricsToken = TOKEN;
    });
    expect((await on()).status).toBe(401);
    expect((await on({ authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });
});

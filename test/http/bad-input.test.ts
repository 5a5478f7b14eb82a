/** Clients' mistakes get clear 4xx answers: OAuth error JSON on OAuth endpoints, pages in browsers. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { seedDirectory, type Seed } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS } from '../helpers/stores.js';

const NO_STACK = /node_modules|\n\s+at |Error: /;

describe.each(DRIVERS)('bad input on the %s store', (driver) => {
  let t: TestServer;
  let seed: Seed;
  let basic: string;

  beforeAll(async () => {
    t = await startAtrium(driver);
    seed = await seedDirectory(t.atrium.directory);
    basic = `Basic ${Buffer.from(`${seed.crm.app.clientId}:${seed.crm.clientSecret}`).toString('base64')}`;
  });
  afterAll(() => t.close());

  const token = () => request(t.server).post('/token');

  it('refuses an unknown client at the token endpoint with invalid_client', async () => {
    const res = await token().type('form').send({ grant_type: 'authorization_code', code: 'x', client_id: 'nobody', client_secret: 'x' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const res = await token()
      .auth(seed.crm.app.clientId, 'wrong-secret')
      .type('form')
      .send({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://crm.test/callback' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('accepts the secret in the body too (client_secret_post)', async () => {
    const res = await token().type('form').send({ grant_type: 'authorization_code', code: 'unknown', redirect_uri: 'https://crm.test/callback', client_id: seed.crm.app.clientId, client_secret: seed.crm.clientSecret });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('answers a wrong method at the provider’s endpoints with a JSON error, whatever the Accept header', async () => {
    for (const res of [await request(t.server).get('/token'), await request(t.server).put('/me').set('accept', 'text/html'), await request(t.server).delete('/jwks')]) {
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.error).toBe('not_found');
      expect(res.text).not.toMatch(NO_STACK);
    }
  });

  it('refuses a JSON body at the token endpoint', async () => {
    const res = await token().set('authorization', basic).set('content-type', 'application/json').send('{"grant_type":"refresh_token"}');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('refuses a form body in an unknown charset', async () => {
    const res = await token().set('authorization', basic).set('content-type', 'application/x-www-form-urlencoded; charset=bogus').send('grant_type=refresh_token');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('refuses an oversized token request', async () => {
    const res = await token().set('authorization', basic).type('form').send({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(70_000) });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('answers a missing grant_type and an unsupported one', async () => {
    const missing = await token().set('authorization', basic).type('form').send({});
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_request');
    const unsupported = await token().set('authorization', basic).type('form').send({ grant_type: 'password', username: 'a', password: 'b' });
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.error).toBe('unsupported_grant_type');
  });

  it('refuses a bad Authorization header', async () => {
    const res = await token().set('authorization', 'Basic !!!').type('form').send({ grant_type: 'refresh_token', refresh_token: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('answers userinfo without or with a bad token with 401', async () => {
    expect((await request(t.server).get('/me')).status).toBe(401);
    const bad = await request(t.server).get('/me').set('authorization', 'Bearer nope');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('invalid_token');
  });

  it('shows an error page, not a redirect, for an unknown client in the browser', async () => {
    const res = await request(t.server).get('/auth').query({ client_id: 'nobody', response_type: 'code', redirect_uri: 'https://evil.test/cb' }).set('accept', 'text/html');
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.type).toBe('text/html');
    expect(res.text).toContain('client is invalid');
    expect(res.text).not.toMatch(NO_STACK);
  });

  it('answers an unsupported response type at the app’s callback, and ignores unknown parameters', async () => {
    const res = await request(t.server)
      .get('/auth')
      .query({ client_id: seed.crm.app.clientId, response_type: 'token', redirect_uri: 'https://crm.test/callback', scope: 'openid', bogus: 'x' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.location!);
    // An implicit-style response type is answered in the fragment, where the app would look for it.
    expect(new URLSearchParams(location.hash.slice(1)).get('error')).toBe('unsupported_response_type');
    expect(location.origin + location.pathname).toBe('https://crm.test/callback');
  });

  it('answers unknown paths with 404: a page for browsers, JSON for APIs', async () => {
    const page = await request(t.server).get('/no/such/page').set('accept', 'text/html');
    expect(page.status).toBe(404);
    expect(page.text).toContain('Page not found');
    const api = await request(t.server).get('/api/v1/nothing').set('accept', 'application/json');
    expect(api.status).toBe(404);
    expect(api.body).toEqual({ error: 'not_found', error_description: 'There is nothing at this address' });
  });

  it('refuses a sign-in form posted as JSON or with another method', async () => {
    const json = await request(t.server).post('/interaction/abc/login').set('content-type', 'application/json').send('{"password":1}');
    expect(json.status).toBe(400);
    expect(json.text).not.toMatch(NO_STACK);
    const put = await request(t.server).put('/interaction/abc/login').set('accept', 'text/html');
    expect(put.status).toBe(405);
  });

  it('serves health and readiness', async () => {
    expect((await request(t.server).get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await request(t.server).get('/readyz')).body).toEqual({ status: 'ready', store: driver });
  });
});

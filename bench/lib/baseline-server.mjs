/**
 * The baseline: a bare oidc-provider server, configured as the honest minimal equivalent of Atrium's
 * provider — its default in-memory adapter (with room for the bench's pools: its store holds 1000
 * entries by default and would evict live codes and tokens), the same key types (RSA 2048 for RS256, which signs ID
 * tokens, and P-256), opaque access tokens, client_secret_basic, PKCE required (S256), refresh tokens
 * for clients allowed the grant, rotated on every use, client credentials, the same token lifetimes —
 * and none of Atrium's own work (directory, assignments, tenant claims, audit, metrics, headers).
 */
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import { serveParent } from './child.mjs';
import { createMinter } from './util.mjs';

const SCOPE = 'openid profile email';
const signingAlg = process.env.BENCH_SIGNING_ALG ?? 'RS256';

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
server.keepAliveTimeout = 60_000;

// oidc-provider's own memory adapter and store, with room for 10 million entries instead of 1000.
const storage = new LRU({ maxSize: 10_000_000 });

const key = (type, options, alg) => ({ ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }), kid: randomBytes(6).toString('base64url'), alg, use: 'sig' });
const keys = [key('rsa', { modulusLength: 2048 }, 'RS256'), key('ec', { namedCurve: 'P-256' }, 'ES256')];

const accounts = new Map(
  Array.from({ length: 20 }, (_, i) => {
    const id = randomBytes(16).toString('hex');
    const claims = { sub: id, name: `Bench user ${i}`, preferred_username: `user${i}`, email: `user${i}@bench.test`, updated_at: Math.floor(Date.now() / 1000) };
    return [id, { accountId: id, claims: () => claims }];
  }),
);

const crm = { clientId: 'crm', secret: randomBytes(32).toString('base64url'), redirectUri: 'https://crm.bench.test/callback' };
const robot = { clientId: 'robot', secret: randomBytes(32).toString('base64url'), scope: 'atrium:admin' };

const provider = new Provider(issuer, {
  adapter: (model) => new MemoryAdapter(model, storage),
  clients: [
    {
      client_id: crm.clientId,
      client_secret: crm.secret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [crm.redirectUri],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: signingAlg,
    },
    {
      client_id: robot.clientId,
      client_secret: robot.secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: `openid ${robot.scope}`,
    },
  ],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount: async (_ctx, sub) => accounts.get(sub),
  claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'updated_at'], email: ['email'] },
  scopes: ['openid', 'offline_access', 'profile', 'email', robot.scope],
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  expiresWithSession: async () => false,
  ttl: { AccessToken: 7200, AuthorizationCode: 60, RefreshToken: 2_592_000, IdToken: 3600, Interaction: 600, Grant: 2_592_000, ClientCredentials: 600, Session: 1800 },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    clientCredentials: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
});
server.on('request', provider.callback());

const minter = createMinter(provider, { clientId: crm.clientId, redirectUri: crm.redirectUri, scope: SCOPE, accountIds: [...accounts.keys()] });

serveParent(
  {
    mintCodes: ({ count }) => minter.codes(count),
    mintRefreshTokens: ({ count }) => minter.refreshTokens(count),
    memoryUsage: () => process.memoryUsage(),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      setImmediate(() => process.exit(0));
    },
  },
  { issuer, driver: 'memory', scope: SCOPE, crm, robot },
);

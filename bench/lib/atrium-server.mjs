/**
 * One Atrium process for the bench (no workers), on the store its environment configures
 * (ATRIUM_REDIS_URL + ATRIUM_REDIS_PREFIX, or ATRIUM_DATA_DIR), built from ../../dist. Seeds a
 * directory, listens on a free loopback port and tells the parent what it needs over IPC.
 *
 * Environment besides Atrium's own: BENCH_USERS (sign-in users, default 20), BENCH_SESSIONS (users
 * of a separate tenant for the memory-per-session measurement; 0 = none).
 */
import { createServer } from 'node:http';
import { closeServer, createAtrium } from '../../dist/app.js';
import { loadConfig } from '../../dist/config/index.js';
import { createLogger } from '../../dist/logger.js';
import { serveParent } from './child.mjs';
import { createMinter, mapLimit } from './util.mjs';

const PASSWORD = 'bench password: violet kettle harbour 42';
const SCOPE = 'openid profile email';

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;
const config = loadConfig({ ...process.env, ATRIUM_ISSUER: issuer, PORT: String(port) });
const atrium = await createAtrium(config, createLogger(config.logLevel));
server.on('request', atrium.callback);
// As many keep-alive connections as the load generator opens, without the default 5 s idle cut.
server.keepAliveTimeout = 60_000;

const { directory, provider } = atrium;

/** Users of one tenant, `prefix0`…, created a few at a time (each is an argon2 hash at the configured cost). */
const createUsers = (tenantId, prefix, count) =>
  mapLimit(count, config.passwordHashing.concurrency, (i) =>
    directory.users.create(tenantId, { username: `${prefix}${i}`, password: PASSWORD, name: `Bench user ${i}`, email: `${prefix}${i}@bench.test` }),
  );

const app = async (name, extra = {}) => {
  const host = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const { app: created, clientSecret } = await directory.apps.create({
    name,
    description: `${name} for the bench`,
    redirectUris: [`https://${host}.bench.test/callback`],
    ...extra,
  });
  return { clientId: created.clientId, secret: clientSecret, redirectUri: created.redirectUris[0] };
};

const tenant = await directory.tenants.create({ code: 'bench', name: 'Bench Corp' });
const users = await createUsers(tenant.id, 'user', Number(process.env.BENCH_USERS ?? 20));
const crm = await app('CRM');
const robot = await app('Robot', { management: { role: 'platform' } });
await directory.assignments.assign({ tenantId: tenant.id, clientId: crm.clientId });
// A workbench with a few tiles, as a user of a real tenant would see.
for (const name of ['Mail', 'Documents', 'HR portal', 'Wiki']) {
  await directory.assignments.assign({ tenantId: tenant.id, clientId: (await app(name)).clientId });
}

// A separate tenant and app for the memory-per-session measurement, so that every key its sessions
// make is new (the parent diffs the key space before and after).
let memory;
const sessions = Number(process.env.BENCH_SESSIONS ?? 0);
if (sessions > 0) {
  const memTenant = await directory.tenants.create({ code: 'memory', name: 'Memory Corp' });
  const memUsers = await createUsers(memTenant.id, 'm', sessions);
  const memApp = await app('Memory app');
  await directory.assignments.assign({ tenantId: memTenant.id, clientId: memApp.clientId });
  memory = { tenant: memTenant.code, usernames: memUsers.map((u) => u.username), app: memApp };
}

const minter = createMinter(provider, { clientId: crm.clientId, redirectUri: crm.redirectUri, scope: SCOPE, accountIds: users.map((u) => u.id) });

serveParent(
  {
    mintCodes: ({ count }) => minter.codes(count),
    mintRefreshTokens: ({ count }) => minter.refreshTokens(count),
    memoryUsage: () => process.memoryUsage(),
    async close() {
      await closeServer(server, 1000);
      await atrium.close();
      setImmediate(() => process.exit(0));
    },
  },
  {
    issuer,
    driver: config.store.driver,
    keyPrefix: config.store.driver === 'redis' ? config.store.keyPrefix : undefined,
    password: PASSWORD,
    passwordCost: config.password,
    hashing: config.passwordHashing,
    tenant: tenant.code,
    usernames: users.map((u) => u.username),
    scope: SCOPE,
    crm,
    robot: { ...robot, scope: 'atrium:admin' },
    memory,
  },
);

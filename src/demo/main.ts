/**
 * `npm run demo`: Atrium on a fresh embedded store, seeded with tenant `acme`, a user and a tenant
 * admin, and two demo SaaS apps served on their own ports — one launched directly (code and tenant
 * on its callback), one through `initiate_login_uri`. `startDemo` is also what the browser tests run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { closeServer, createAtrium, type Atrium } from '../app.js';
import { loadConfig } from '../config/index.js';
import { ensurePlatformAdmin } from '../directory/bootstrap.js';
import { createLogger } from '../logger.js';
import { startDemoApp } from './relying-party.js';

export const DEMO_PASSWORD = 'atrium-demo-2026';

export interface Demo {
  atrium: Atrium;
  urls: { atrium: string; crm: string; notes: string };
  credentials: { tenant: string; user: string; admin: string; password: string };
  ids: { tenantId: string; crm: string; notes: string; erp: string };
  close(): Promise<void>;
}

const listen = (server: Server, port: number, host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

/**
 * Starts the demo. Ports 0 pick free ports (tests); `host` is where everything listens and what the
 * URLs use.
 */
export async function startDemo(options: { dataDir: string; host?: string; ports?: [number, number, number]; quiet?: boolean }): Promise<Demo> {
  const host = options.host ?? 'localhost';
  const [atriumPort, crmPort, notesPort] = options.ports ?? [0, 0, 0];
  const bindHost = host === 'localhost' ? '127.0.0.1' : host;

  // Listen first, so the issuer and the apps' URLs carry the real ports.
  const atriumServer = createServer();
  const port = await listen(atriumServer, atriumPort, bindHost);
  const issuer = `http://${host}:${port}`;
  const crmUrl = `http://${host}:${crmPort || (await freePort(bindHost))}`;
  const notesUrl = `http://${host}:${notesPort || (await freePort(bindHost))}`;

  rmSync(options.dataDir, { recursive: true, force: true });
  const config = loadConfig({ ATRIUM_ISSUER: issuer, PORT: String(port), ATRIUM_DATA_DIR: options.dataDir, ATRIUM_ADMIN_PASSWORD: DEMO_PASSWORD });
  const atrium = await createAtrium(config, createLogger(options.quiet ? 'silent' : 'warn'));
  atriumServer.on('request', atrium.callback);
  const { directory } = atrium;

  await ensurePlatformAdmin(directory, DEMO_PASSWORD);
  const tenant = await directory.tenants.create({ code: 'acme', name: 'Acme Corp' });
  await directory.users.create(tenant.id, { username: 'alice', password: DEMO_PASSWORD, name: 'Alice Chen', email: 'alice@acme.example', mobile: '+86 138 0013 8000' });
  await directory.users.create(tenant.id, { username: 'admin', password: DEMO_PASSWORD, name: 'Acme Admin', role: 'admin' });
  const crm = await directory.apps.create({
    name: 'Acme CRM',
    description: 'Customers and deals — launched directly: the code and tenant land on its callback',
    redirectUris: [`${crmUrl}/callback`],
    postLogoutRedirectUris: [`${crmUrl}/`],
  });
  const notes = await directory.apps.create({
    name: 'Team Notes',
    description: 'Shared notes — starts its own sign-in through initiate_login_uri',
    redirectUris: [`${notesUrl}/callback`],
    initiateLoginUri: `${notesUrl}/login`,
    postLogoutRedirectUris: [`${notesUrl}/`],
  });
  const erp = await directory.apps.create({ name: 'Legacy ERP', description: 'A subscription that has run out', redirectUris: ['https://erp.example/callback'] });
  await directory.assignments.assign({ tenantId: tenant.id, clientId: crm.app.clientId });
  await directory.assignments.assign({ tenantId: tenant.id, clientId: notes.app.clientId });
  await directory.assignments.assign({ tenantId: tenant.id, clientId: erp.app.clientId, expiresAt: '2026-01-31T00:00:00Z' }, { allowPastExpiry: true });

  const crmServer = await startDemoApp(
    { name: 'Acme CRM', colour: '#b0451b', issuer, clientId: crm.app.clientId, clientSecret: crm.clientSecret!, baseUrl: crmUrl, logout: 'joint-operation' },
    Number(new URL(crmUrl).port),
    bindHost,
  );
  const notesServer = await startDemoApp(
    { name: 'Team Notes', colour: '#0f7b6c', issuer, clientId: notes.app.clientId, clientSecret: notes.clientSecret!, baseUrl: notesUrl, logout: 'standard' },
    Number(new URL(notesUrl).port),
    bindHost,
  );

  return {
    atrium,
    urls: { atrium: issuer, crm: crmUrl, notes: notesUrl },
    credentials: { tenant: 'acme', user: 'alice', admin: 'admin', password: DEMO_PASSWORD },
    ids: { tenantId: tenant.id, crm: crm.app.clientId, notes: notes.app.clientId, erp: erp.app.clientId },
    async close() {
      await Promise.all([closeServer(atriumServer, 500), closeServer(crmServer, 500), closeServer(notesServer, 500)]);
      await atrium.close();
    },
  };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

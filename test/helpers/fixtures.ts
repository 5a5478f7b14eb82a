/** A small directory for flow tests: two tenants, their users, and apps in every assignment state. */
import type { Directory } from '../../src/directory/index.js';

export const PASSWORD = 'correct horse battery staple';

export async function seedDirectory(directory: Directory) {
  const acme = await directory.tenants.create({ code: 'acme', name: 'Acme Corp' });
  const globex = await directory.tenants.create({ code: 'globex', name: 'Globex' });
  const alice = await directory.users.create(acme.id, { username: 'alice', password: PASSWORD, name: 'Alice Liddell', email: 'alice@acme.test', mobile: '+86 138 0000 0000' });
  const carol = await directory.users.create(acme.id, { username: 'carol', password: PASSWORD, name: 'Carol' });
  const bob = await directory.users.create(globex.id, { username: 'bob', password: PASSWORD, name: 'Bob' });

  const crm = await directory.apps.create({
    name: 'CRM',
    description: 'Customers',
    redirectUris: ['https://crm.test/callback'],
    postLogoutRedirectUris: ['https://crm.test/signed-out'],
  });
  // A joint-operation app of the old kind: confidential, cannot send PKCE.
  const legacy = await directory.apps.create({
    name: 'Legacy CRM',
    redirectUris: ['https://legacy.test/callback'],
    postLogoutRedirectUris: ['https://legacy.test/signed-out'],
    requirePkce: false,
  });
  const spa = await directory.apps.create({ name: 'SPA', type: 'public', redirectUris: ['http://localhost:8080/cb'] });
  const unassigned = await directory.apps.create({ name: 'Unassigned', redirectUris: ['https://unassigned.test/cb'] });
  const expired = await directory.apps.create({ name: 'Expired', redirectUris: ['https://expired.test/cb'] });
  const carolOnly = await directory.apps.create({ name: 'Carol only', redirectUris: ['https://carol.test/cb'] });
  const globexApp = await directory.apps.create({ name: 'Globex app', redirectUris: ['https://globex.test/cb'] });

  await directory.assignments.assign({ tenantId: acme.id, clientId: crm.app.clientId });
  await directory.assignments.assign({ tenantId: acme.id, clientId: spa.app.clientId });
  await directory.assignments.assign({ tenantId: acme.id, clientId: legacy.app.clientId });
  await directory.assignments.assign({ tenantId: acme.id, clientId: expired.app.clientId, expiresAt: '2020-01-01T00:00:00Z' }, { allowPastExpiry: true });
  await directory.assignments.assign({ tenantId: acme.id, clientId: carolOnly.app.clientId, userIds: [carol.id] });
  await directory.assignments.assign({ tenantId: globex.id, clientId: globexApp.app.clientId });

  return { acme, globex, alice, carol, bob, crm, legacy, spa, unassigned, expired, carolOnly, globexApp };
}

export type Seed = Awaited<ReturnType<typeof seedDirectory>>;

export const aliceLogin = { tenant: 'acme', username: 'alice', password: PASSWORD };

/** The audit page's rows, from events as the trail keeps them (directory/audit.ts adminEvent). */
import { describe, expect, it } from 'vitest';
import { auditRows, namedUserIds, utcTime, type Names } from '../../src/admin/audit-rows.js';
import { adminEvent, type AuditEvent } from '../../src/directory/audit.js';

const TENANT = 'a'.repeat(32);
const ADMIN = 'b'.repeat(32);
const ALICE = 'c'.repeat(32);
const GONE = 'd'.repeat(32);
const APP = 'e'.repeat(32);
const names: Names = { users: new Map([[ADMIN, 'boss'], [ALICE, 'alice']]), apps: new Map([[APP, 'CRM']]) };

let n = 0;
const at = (event: Omit<AuditEvent, 'id' | 'at'>): AuditEvent => ({ id: `2026-01-02T03:04:05.678Z-${(n += 1)}`, at: '2026-01-02T03:04:05.678Z', ...event });
const change = (event: Parameters<typeof adminEvent>[0], by = ADMIN): AuditEvent => at(adminEvent(event, { by, ip: '10.0.0.1' }));

describe('audit rows', () => {
  it('names the admin and the target, and lists the fields that changed as old → new, leaving out timestamps and ids', () => {
    const [row] = auditRows(
      [change({ type: 'admin.user.update', tenantId: TENANT, userId: ALICE, before: { id: ALICE, name: 'Alice', role: 'user', updated_at: '1' }, after: { id: ALICE, name: 'Alice L.', role: 'admin', updated_at: '2' } })],
      names,
    );
    expect(row).toMatchObject({ time: '2026-01-02 03:04:05 UTC', type: 'admin.user.update', actor: 'boss', target: ['alice'], ip: '10.0.0.1' });
    expect(row!.changes).toEqual([
      { field: 'name', from: 'Alice', to: 'Alice L.' },
      { field: 'role', from: 'user', to: 'admin' },
    ]);
  });

  it('shows a record created or removed whole as its fields, and a status change as one line with the event’s details', () => {
    const rows = auditRows(
      [
        change({ type: 'admin.app.create', tenantId: TENANT, clientId: APP, after: { clientId: APP, name: 'CRM', description: '', redirectUris: ['https://crm.test/cb', 'https://crm.test/cb2'], postLogoutRedirectUris: [] } }),
        at({ type: 'admin.user.disable', tenantId: TENANT, userId: ALICE, detail: { by: ADMIN, before: 'active', after: 'disabled', sessionsEnded: 2 } }),
      ],
      names,
    );
    expect(rows[0]!.target).toEqual(['CRM']);
    expect(rows[0]!.changes).toEqual([
      { field: 'name', to: 'CRM' },
      { field: 'redirectUris', to: 'https://crm.test/cb, https://crm.test/cb2' },
    ]);
    expect(rows[1]!.changes).toEqual([
      { field: 'status', from: 'active', to: 'disabled' },
      { field: 'sessionsEnded', to: '2' },
    ]);
  });

  it('reads an assignment without userIds as open to every user, and names a deleted user from the deletion on the same page', () => {
    const rows = auditRows(
      [
        change({ type: 'admin.assignment.users', tenantId: TENANT, clientId: APP, before: { clientId: APP }, after: { clientId: APP, userIds: [ALICE, GONE] } }),
        change({ type: 'admin.user.delete', tenantId: TENANT, userId: GONE, before: { id: GONE, username: 'gus' } }),
      ],
      names,
    );
    expect(rows[0]!.changes).toEqual([{ field: 'userIds', from: 'every user', to: 'alice, gus (deleted)' }]);
    expect(rows[1]!.target).toEqual(['gus (deleted)']);
    expect(namedUserIds([change({ type: 'admin.assignment.users', tenantId: TENANT, after: { userIds: [GONE] } })])).toEqual([ADMIN, GONE]);
  });

  it('names a management app or the command line as the actor, and a user’s own event by the user', () => {
    const rows = auditRows(
      [
        change({ type: 'admin.user.unlock', tenantId: TENANT, userId: ALICE }, `app:${APP}`),
        change({ type: 'admin.user.enable', tenantId: TENANT, userId: 'f'.repeat(32) }, 'cli:root'),
        at({ type: 'app.launch', tenantId: TENANT, userId: ALICE, clientId: APP, ip: '10.0.0.2' }),
      ],
      names,
    );
    expect(rows.map((r) => [r.actor, r.target])).toEqual([
      ['CRM (management app)', ['alice']],
      ['command line (root)', ['unknown user ffffffff…']],
      ['alice', ['CRM']],
    ]);
  });

  it('shows a tenant’s admin an outsider (a platform admin) without their address, and the command line without its machine account', () => {
    const outsider = 'f'.repeat(32);
    const forTenant: Names = { ...names, users: new Map([...names.users, [outsider, 'a platform administrator']]), outsiders: new Set([outsider]) };
    const events = [change({ type: 'admin.user.unlock', tenantId: TENANT, userId: ALICE }, outsider), change({ type: 'admin.user.enable', tenantId: TENANT, userId: ALICE }, 'cli:root'), change({ type: 'admin.user.disable', tenantId: TENANT, userId: ALICE })];
    expect(auditRows(events, forTenant).map((r) => [r.actor, r.ip])).toEqual([
      ['a platform administrator', ''],
      ['command line', '10.0.0.1'],
      ['boss', '10.0.0.1'],
    ]);
    expect(auditRows(events, names).map((r) => r.actor)).toEqual(['unknown user ffffffff…', 'command line (root)', 'boss']);
  });

  it('never shows a field named like a secret, a hash or a password, should one ever be recorded', () => {
    const [row] = auditRows([change({ type: 'admin.app.update', tenantId: TENANT, before: { secretHash: 'x', name: 'A' }, after: { secretHash: 'y', password: 'p', name: 'B', previousSecretExpiresAt: 'z' } })], names);
    expect(row!.changes).toEqual([
      { field: 'name', from: 'A', to: 'B' },
      { field: 'previousSecretExpiresAt', to: 'z' },
    ]);
    expect(utcTime('2026-01-02T03:04:05Z')).toBe('2026-01-02 03:04:05 UTC');
    // Nor nested; while a count of password resets is shown.
    const [nested] = auditRows([change({ type: 'admin.user.import', tenantId: TENANT, after: { created: 1, passwordsReset: 2, oauth: { clientSecret: 's3cret', keep: 'k' }, list: [{ passwordHash: 'h' }] } })], names);
    expect(nested!.changes).toEqual([
      { field: 'created', to: '1' },
      { field: 'passwordsReset', to: '2' },
      { field: 'oauth', to: '{"keep":"k"}' },
      { field: 'list', to: '{}' },
    ]);
  });

  it('names the tenant as the target of a tenant’s creation and change, by its name after the change', () => {
    const tenant = (name: string) => ({ id: TENANT, code: 'acme', name, status: 'active' });
    const rows = auditRows(
      [change({ type: 'admin.tenant.create', tenantId: TENANT, after: tenant('Acme') }), change({ type: 'admin.tenant.update', tenantId: TENANT, before: tenant('Acme'), after: tenant('Acme Corp') })],
      names,
    );
    expect(rows.map((r) => r.target)).toEqual([['Acme (acme)'], ['Acme Corp (acme)']]);
  });
});

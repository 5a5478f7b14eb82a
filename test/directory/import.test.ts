import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectory, type Directory } from '../../src/directory/index.js';
import { importUsers, parseCsv, readUsersFile } from '../../src/directory/import.js';
import type { Users } from '../../src/directory/users.js';
import { DRIVERS, openTestStore, type TestStore } from '../helpers/stores.js';

describe('reading import files', () => {
  it('parses RFC 4180 CSV: quotes, doubled quotes, commas and newlines in fields, CRLF', () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",z\n')).toEqual([
      { line: 1, cells: ['a', 'b'] },
      { line: 2, cells: ['x, y', 'say "hi"'] },
      { line: 3, cells: ['multi\nline', 'z'] },
    ]);
  });

  it('validates every row first and reports errors by line', () => {
    const csv = ['username,password,email,role', 'ok,a fine passphrase,ok@x.test,user', 'bad name!,a fine passphrase,,', 'short,abc,,', 'mail,a fine passphrase,not-an-email,', 'OK,a fine passphrase,,', 'role,a fine passphrase,,boss', 'toomany,a,b,c,d'].join('\n');
    const { rows, errors } = readUsersFile(csv, 'csv');
    expect(rows.map((r) => r.username)).toEqual(['ok']);
    expect(errors.map((e) => e.line)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(errors.find((e) => e.line === 4)?.message).toMatch(/^password: /);
    expect(errors.find((e) => e.line === 6)?.message).toContain('already on line 2');
    expect(errors.find((e) => e.line === 8)?.message).toContain('expected 4 fields');
  });

  it('refuses a file that is not UTF-8, naming its first such line, instead of reading it with replacement characters', () => {
    const latin1 = Buffer.from('username,password,name\njose,contraseña segura,José García\n', 'latin1');
    expect(readUsersFile(latin1, 'csv')).toEqual({ rows: [], errors: [{ line: 2, message: 'not UTF-8: save the file as UTF-8 and import it again' }] });
    const utf8 = Buffer.from('username,password,name\njose,contraseña segura,José García\n', 'utf8');
    expect(readUsersFile(utf8, 'csv').rows).toMatchObject([{ username: 'jose', password: 'contraseña segura', name: 'José García' }]);
  });

  it('reads a file that starts with a byte order mark, CSV and JSON lines, as text and as bytes', () => {
    const files = [
      { format: 'csv', text: '\uFEFFusername,password\nann,a fine passphrase\n', line: 2 },
      { format: 'jsonl', text: '\uFEFF{"username":"ann","password":"a fine passphrase"}\n', line: 1 },
    ] as const;
    for (const { format, text, line } of files) {
      for (const file of [text, Buffer.from(text, 'utf8')]) expect(readUsersFile(file, format)).toEqual({ rows: [{ line, username: 'ann', password: 'a fine passphrase' }], errors: [] });
    }
  });

  it('refuses an unknown header, and reads JSON lines', () => {
    expect(readUsersFile('user,pass\nx,y', 'csv').errors[0]?.message).toMatch(/header/);
    const { rows, errors } = readUsersFile('{"username":"a","password":"a fine passphrase"}\n\nnot json\n[1]', 'jsonl');
    expect(rows).toHaveLength(1);
    expect(errors).toEqual([
      { line: 3, message: 'not a JSON object' },
      { line: 4, message: 'not a JSON object' },
    ]);
  });
});

describe.each(DRIVERS)('importing users on the %s store', (driver) => {
  let t: TestStore;
  let directory: Directory;
  beforeAll(async () => {
    t = await openTestStore(driver);
    directory = createDirectory(t.store, { password: { memoryCost: 19456, timeCost: 2, parallelism: 1 } });
  });
  afterAll(() => t.dispose());

  it('creates, then updates on a second run without duplicating', async () => {
    const tenant = await directory.tenants.create({ code: 'imports', name: 'Imports' });
    const csv = 'username,password,name,email\nann,first passphrase 1,Ann,ann@x.test\nben,first passphrase 2,Ben,\n';
    const progress: number[] = [];
    const first = await importUsers(directory.users, tenant.id, readUsersFile(csv, 'csv').rows, { onProgress: (done) => progress.push(done) });
    expect(first.report).toEqual({ created: 2, updated: 0, passwordsReset: 0, adminChanges: [] });
    expect(progress).toEqual([1, 2]);
    const again = await importUsers(directory.users, tenant.id, readUsersFile('username,name\nANN,Ann B.\nben,Ben\n', 'csv').rows);
    expect(again.report).toEqual({ created: 0, updated: 2, passwordsReset: 0, adminChanges: [] });
    const users = await directory.users.list(tenant.id);
    expect(users.map((u) => [u.username, u.name, u.email])).toEqual([['ann', 'Ann B.', 'ann@x.test'], ['ben', 'Ben', '']]);
    expect((await directory.authenticate({ tenant: 'imports', username: 'ann', password: 'first passphrase 1' })).ok).toBe(true);
  });

  it('updates a user created by someone else between its lookup and its write, and completes', async () => {
    const tenant = await directory.tenants.create({ code: 'racing', name: 'Racing' });
    const cat = await directory.users.create(tenant.id, { username: 'cat', password: 'the first passphrase', name: 'Cat' });
    // The import's lookup does not find cat yet; its create then finds the username taken.
    let looked = false;
    const racing: Users = { ...directory.users, byUsername: async (tenantId, name) => (name === 'cat' && !looked ? ((looked = true), undefined) : directory.users.byUsername(tenantId, name)) };
    const csv = 'username,password,name\nann,a fine passphrase,Ann\ncat,the second passphrase,Cat B.\ndan,a fine passphrase,Dan\n';
    const result = await importUsers(racing, tenant.id, readUsersFile(csv, 'csv').rows, { parallelism: 1 });
    expect(result).toMatchObject({ report: { created: 2, updated: 1, passwordsReset: 1 }, errors: [] });
    expect((await directory.users.list(tenant.id)).map((u) => [u.username, u.name])).toEqual([['ann', 'Ann'], ['cat', 'Cat B.'], ['dan', 'Dan']]);
    expect((await directory.users.byId(cat.id))?.name).toBe('Cat B.');
    expect((await directory.authenticate({ tenant: 'racing', username: 'cat', password: 'the second passphrase' })).ok).toBe(true);
  });

  it('makes again a user deleted between its lookup and its write; one it cannot make again stops the import, reporting what was written', async () => {
    const tenant = await directory.tenants.create({ code: 'deleting', name: 'Deleting' });
    const [eve, fay] = [await directory.users.create(tenant.id, { username: 'eve', password: 'the first passphrase' }), await directory.users.create(tenant.id, { username: 'fay', password: 'the first passphrase' })];
    const csv = 'username,password,name\nann,a fine passphrase,Ann\neve,the second passphrase,Eve B.\nfay,,Fay B.\ngus,a fine passphrase,Gus\n';
    // eve and fay are deleted (by another admin, say) after the import looked them up, just before their rows.
    const deleting: Users = {
      ...directory.users,
      change: async (id, changes) => {
        if (id === eve.id || id === fay.id) await directory.users.remove(id);
        return directory.users.change(id, changes);
      },
    };
    const result = await importUsers(deleting, tenant.id, readUsersFile(csv, 'csv').rows, { parallelism: 1 });
    // eve is made again (the row has a password); fay cannot be: the import stops there, gus is not written.
    expect(result.report).toEqual({ created: 2, updated: 0, passwordsReset: 0, adminChanges: [] });
    expect(result.failure).toMatchObject({ status: 409, message: 'line 4: user fay was deleted while the import ran, and the row has no password to make it again (the import stopped after writing 2 of 4 rows; run it again to complete it)' });
    expect((await directory.users.list(tenant.id)).map((u) => [u.username, u.name])).toEqual([['ann', 'Ann'], ['eve', 'Eve B.']]);
    expect((await directory.authenticate({ tenant: 'deleting', username: 'eve', password: 'the second passphrase' })).ok).toBe(true);
  });

  it('reports the rows that made, demoted or set the password of a tenant admin, and counts the passwords set', async () => {
    const tenant = await directory.tenants.create({ code: 'admins', name: 'Admins' });
    const read = (csv: string) => readUsersFile(csv, 'csv').rows;
    const first = await importUsers(directory.users, tenant.id, read('username,password,role\nada,a fine passphrase,admin\nida,a fine passphrase,user\n'));
    const ada = (await directory.users.byUsername(tenant.id, 'ada'))!;
    const ida = (await directory.users.byUsername(tenant.id, 'ida'))!;
    expect(first.report?.adminChanges).toEqual([{ userId: ada.id, username: 'ada', role: 'admin', passwordReset: false }]);
    const second = await importUsers(directory.users, tenant.id, read('username,password,role\nada,a newer passphrase,\nida,,admin\n'));
    expect(second.report).toMatchObject({ passwordsReset: 1 });
    // In the order the rows finished (two at a time).
    expect(second.report?.adminChanges.sort((a, b) => a.username.localeCompare(b.username))).toEqual([
      { userId: ada.id, username: 'ada', roleBefore: 'admin', role: 'admin', passwordReset: true },
      { userId: ida.id, username: 'ida', roleBefore: 'user', role: 'admin', passwordReset: false },
    ]);
    const third = await importUsers(directory.users, tenant.id, read('username,password,role\nida,,user\nada,,\n'));
    expect(third.report?.adminChanges).toEqual([{ userId: ida.id, username: 'ida', roleBefore: 'admin', role: 'user', passwordReset: false }]);
  });

  it('reports a row that undoes a role change made after the import looked its user up', async () => {
    const tenant = await directory.tenants.create({ code: 'undoing', name: 'Undoing' });
    const bob = await directory.users.create(tenant.id, { username: 'bob', password: 'a fine passphrase' });
    // Another admin promotes bob after the import's lookup, before its write: the row demotes him again.
    const promoting: Users = {
      ...directory.users,
      byUsername: async (tenantId, name) => {
        const found = await directory.users.byUsername(tenantId, name);
        if (name === 'bob') await directory.users.update(bob.id, { role: 'admin' });
        return found;
      },
    };
    const result = await importUsers(promoting, tenant.id, readUsersFile('username,role\nbob,user\n', 'csv').rows);
    expect(result.report?.adminChanges).toEqual([{ userId: bob.id, username: 'bob', roleBefore: 'admin', role: 'user', passwordReset: false }]);
    expect((await directory.users.byId(bob.id))?.role).toBe('user');
  });

  it('writes nothing when a new user has no password', async () => {
    const tenant = await directory.tenants.create({ code: 'nopass', name: 'No pass' });
    const result = await importUsers(directory.users, tenant.id, readUsersFile('username,password\nhas,a fine passphrase\nlacks,\n', 'csv').rows);
    expect(result.errors).toEqual([{ line: 3, message: 'password: a new user needs one' }]);
    expect(await directory.users.list(tenant.id)).toEqual([]);
  });
});

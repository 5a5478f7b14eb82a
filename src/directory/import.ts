/**
 * Bulk import of a tenant's users from CSV (header: username,password,name,email,mobile,role) or
 * JSON lines. Every row is validated first and errors are reported by line; nothing is written
 * unless all rows are valid. Then rows are imported `parallelism` at a time, in file order: a new
 * username is created, a known one is updated (password only when the row has one; also one that
 * someone else created while the import ran), so running an import twice changes nothing more. Password hashing is nearly all of the time (measured: 3,000
 * rows on 2 cores kept the main thread idle 90 % of the time), so the rows are not written to the
 * store in larger groups: that would not make an import any faster.
 */
import { z } from 'zod';
import { AtriumError } from '../errors.js';
import { displayName, password, readableIssue, username } from './validation.js';
import type { AdminEvent } from './audit.js';
import type { User, Users } from './users.js';

export interface ImportRow {
  line: number;
  username: string;
  password?: string;
  name?: string;
  email?: string;
  mobile?: string;
  role?: 'user' | 'admin';
}

export interface ImportError {
  line: number;
  message: string;
}

export interface ImportReport {
  created: number;
  updated: number;
  /** Users already there whose password a row set. */
  passwordsReset: number;
  /**
   * Rows that touched a tenant admin: made one (a new user or a promotion), demoted one, or set an
   * admin's password. Few even in a large import, so each can be audited on its own.
   */
  adminChanges: AdminChange[];
}

export interface AdminChange {
  userId: string;
  username: string;
  /** Absent when the row created the user. */
  roleBefore?: User['role'];
  role: User['role'];
  passwordReset: boolean;
}

/**
 * What an import changed, for the audit trail: one event with its counts, and one per row that made,
 * demoted or set the password of a tenant admin, under the types the single-user changes use.
 * Other rows are only counted. Never a password.
 */
export function importEvents(tenantId: string, report: ImportReport, failure?: unknown): AdminEvent[] {
  const { created, updated, passwordsReset } = report;
  const stopped = failure === undefined ? {} : { detail: { stopped: failure instanceof AtriumError ? failure.message : 'an unexpected error' } };
  const events: AdminEvent[] = [{ type: 'admin.user.import', tenantId, after: { created, updated, passwordsReset }, ...stopped }];
  for (const change of report.adminChanges) {
    const base = { tenantId, userId: change.userId, detail: { via: 'import' } };
    if (change.roleBefore === undefined) events.push({ ...base, type: 'admin.user.create', after: { username: change.username, role: change.role } });
    else if (change.roleBefore !== change.role) events.push({ ...base, type: 'admin.user.update', before: { role: change.roleBefore }, after: { role: change.role } });
    if (change.passwordReset) events.push({ ...base, type: 'admin.user.reset_password' });
  }
  return events;
}

const LOOKUP_BATCH = 500;

const COLUMNS = ['username', 'password', 'name', 'email', 'mobile', 'role'] as const;

const rowSchema = z.object({
  username,
  password: password.optional(),
  name: displayName.optional(),
  email: z.union([z.email().max(254), z.literal('')]).optional(),
  mobile: z.union([z.string().trim().regex(/^\+?[0-9 ()-]{3,32}$/, 'must be a phone number'), z.literal('')]).optional(),
  role: z.enum(['user', 'admin']).optional(),
});

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. Returns rows with their line numbers. */
export function parseCsv(text: string): { line: number; cells: string[] }[] {
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line += 1;
        cell += c;
      }
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      cells.push(cell);
      if (cells.some((v) => v !== '')) rows.push({ line: rowLine, cells });
      cells = [];
      cell = '';
      line += 1;
      rowLine = line;
    } else cell += c;
  }
  cells.push(cell);
  if (cells.some((v) => v !== '')) rows.push({ line: rowLine, cells });
  return rows;
}

/** The most rows one import over the admin API may carry (each new user is a password hash). */
export const MAX_API_IMPORT_ROWS = 50_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A file's text, or the first line that is not UTF-8 (no byte of a UTF-8 sequence is a newline). */
function decodeUtf8(bytes: Uint8Array): { text: string } | { badLine: number } {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    for (let start = 0, line = 1; ; line += 1) {
      const end = bytes.indexOf(0x0a, start);
      try {
        utf8.decode(bytes.subarray(start, end === -1 ? bytes.length : end));
      } catch {
        return { badLine: line };
      }
      if (end === -1) return { badLine: line };
      start = end + 1;
    }
  }
}

/**
 * Reads and validates a whole file. `errors` is empty only when every row may be imported. A file
 * given as bytes must be UTF-8: another encoding is refused rather than read into mangled names and
 * passwords. With `maxRows`, a longer file is refused as a whole before its rows are validated.
 */
export function readUsersFile(file: string | Uint8Array, format: 'csv' | 'jsonl', options: { maxRows?: number } = {}): { rows: ImportRow[]; errors: ImportError[] } {
  const decoded = typeof file === 'string' ? { text: file } : decodeUtf8(file);
  if ('badLine' in decoded) return { rows: [], errors: [{ line: decoded.badLine, message: 'not UTF-8: save the file as UTF-8 and import it again' }] };
  // A byte order mark (which spreadsheet programs write) is not part of the first line.
  const text = decoded.text.replace(/^\uFEFF/, '');
  const errors: ImportError[] = [];
  const raw: { line: number; value: Record<string, unknown> }[] = [];
  if (format === 'csv') {
    const [header, ...body] = parseCsv(text);
    const names = header?.cells.map((c) => c.trim().toLowerCase()) ?? [];
    const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
    if (!names.includes('username') || unknown.length > 0) {
      return { rows: [], errors: [{ line: 1, message: `the header must name columns among ${COLUMNS.join(', ')}, with username${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}` }] };
    }
    for (const row of body) {
      if (row.cells.length !== names.length) {
        errors.push({ line: row.line, message: `expected ${names.length} fields, found ${row.cells.length}` });
        continue;
      }
      raw.push({ line: row.line, value: Object.fromEntries(names.map((n, i) => [n, row.cells[i]]).filter(([, v]) => v !== '')) });
    }
  } else {
    text.split(/\r?\n/).forEach((content, index) => {
      if (!content.trim()) return;
      try {
        const value: unknown = JSON.parse(content);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
        raw.push({ line: index + 1, value: value as Record<string, unknown> });
      } catch {
        errors.push({ line: index + 1, message: 'not a JSON object' });
      }
    });
  }

  const maxRows = options.maxRows ?? Infinity;
  if (raw.length + errors.length > maxRows) {
    return { rows: [], errors: [{ line: 1, message: `at most ${maxRows} rows per import (this file has ${raw.length + errors.length}): split it` }] };
  }

  const rows: ImportRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, value } of raw) {
    const parsed = rowSchema.safeParse(value, { error: readableIssue });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      errors.push({ line, message: `${issue.path.join('.') || 'row'}: ${issue.message}` });
      continue;
    }
    const key = parsed.data.username.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push({ line, message: `username: ${parsed.data.username} is already on line ${first}` });
      continue;
    }
    seen.set(key, line);
    rows.push({ line, ...parsed.data });
  }
  return { rows, errors: errors.sort((a, b) => a.line - b.line) };
}

/**
 * Imports validated rows into a tenant. New users need a password; that is checked against the
 * directory before anything is written, so an import refused for its rows writes nothing.
 *
 * A row that fails as it is written (the store gone, a conflict that retries could not settle) stops
 * the import: no new row starts, the rows under way finish, and `failure` says why, beside the
 * report of what was written, which the caller audits before it answers with the failure (the rows
 * written stay: running the import again completes it).
 */
export async function importUsers(
  users: Users,
  tenantId: string,
  rows: ImportRow[],
  options: { parallelism?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ report?: ImportReport; errors: ImportError[]; failure?: unknown }> {
  const existing = new Map<number, User | undefined>();
  // Looked up a batch at a time: a large file does not put all its reads in flight at once.
  for (let start = 0; start < rows.length; start += LOOKUP_BATCH) {
    await Promise.all(rows.slice(start, start + LOOKUP_BATCH).map(async (row) => existing.set(row.line, await users.byUsername(tenantId, row.username))));
  }
  const missing = rows.filter((row) => !existing.get(row.line) && !row.password);
  if (missing.length > 0) return { errors: missing.map((row) => ({ line: row.line, message: 'password: a new user needs one' })) };

  const report: ImportReport = { created: 0, updated: 0, passwordsReset: 0, adminChanges: [] };
  let done = 0;
  let next = 0;
  // (`again`: a row already tried the other way, after a user was made or deleted meanwhile.)
  const update = async (row: ImportRow, known: User, again = false): Promise<void> => {
    const profile = { name: row.name, email: row.email, mobile: row.mobile, role: row.role };
    // The role before is the one this write replaced (not the lookup's: another admin may have
    // changed it since, and a row that undoes that change must show).
    let changed: { before: User; after: User };
    try {
      changed = await users.change(known.id, Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== undefined)));
    } catch (err) {
      if (!(err instanceof AtriumError && err.status === 404)) throw err;
      // Deleted since the lookup: made again, as a second run of the import would.
      if (!row.password || again) throw new AtriumError('conflict', `line ${row.line}: user ${row.username} was deleted while the import ran${row.password ? '' : ', and the row has no password to make it again'}`, 409);
      return create(row, true);
    }
    // Reported as each write lands, so that an import stopped halfway audits what it did.
    const { before, after } = changed;
    report.updated += 1;
    const adminChange: AdminChange | undefined =
      before.role === 'admin' || after.role === 'admin' ? { userId: known.id, username: known.username, roleBefore: before.role, role: after.role, passwordReset: false } : undefined;
    if (adminChange && before.role !== after.role) report.adminChanges.push(adminChange);
    if (row.password) {
      await users.resetPassword(known.id, row.password);
      report.passwordsReset += 1;
      if (adminChange) {
        adminChange.passwordReset = true;
        if (!report.adminChanges.includes(adminChange)) report.adminChanges.push(adminChange);
      }
    }
  };
  const create = async (row: ImportRow, again = false): Promise<void> => {
    try {
      const user = await users.create(tenantId, { username: row.username, password: row.password, name: row.name, email: row.email || undefined, mobile: row.mobile || undefined, role: row.role });
      report.created += 1;
      if (user.role === 'admin') report.adminChanges.push({ userId: user.id, username: user.username, role: user.role, passwordReset: false });
    } catch (err) {
      // Created by someone else since the lookup: updated as on a second run, so the import completes.
      const taken = err instanceof AtriumError && err.code === 'conflict' && !again ? await users.byUsername(tenantId, row.username) : undefined;
      if (!taken) throw err;
      await update(row, taken, true);
    }
  };
  let failure: { reason: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < rows.length) {
      const row = rows[next++]!;
      const known = existing.get(row.line);
      try {
        await (known ? update(row, known) : create(row));
      } catch (reason) {
        failure ??= { reason };
        return;
      }
      done += 1;
      options.onProgress?.(done, rows.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.parallelism ?? 2) }, worker));
  if (!failure) return { report, errors: [] };
  const { reason } = failure;
  const written = `the import stopped after writing ${report.created + report.updated} of ${rows.length} rows; run it again to complete it`;
  return {
    report,
    errors: [],
    failure: reason instanceof AtriumError && reason.expose && reason.status < 500 ? new AtriumError(reason.code, `${reason.message} (${written})`, reason.status, { cause: reason }) : reason,
  };
}

/**
 * How many imports a process runs at once: one per tenant (a second one into the same tenant is
 * refused with 409 while the first runs) and `max` in all (503 with Retry-After beyond), so that
 * imports cannot pile up a process's memory or its hashing.
 */
export function createImportGate(max = 4): { enter(tenantId: string): () => void } {
  const running = new Set<string>();
  return {
    enter(tenantId) {
      if (running.has(tenantId)) throw new AtriumError('conflict', 'An import into this tenant is running; try again when it has finished', 409);
      if (running.size >= max) throw new AtriumError('temporarily_unavailable', 'Too many imports at once; try again in a minute', 503, { headers: { 'Retry-After': '60' } });
      running.add(tenantId);
      return () => running.delete(tenantId);
    },
  };
}

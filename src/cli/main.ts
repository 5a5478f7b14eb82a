/**
 * The `atrium` command line, over the directory and the store, with the server's configuration.
 * Bad arguments and refused input give one line on stderr and exit code 2; an unreachable store
 * or another failure exits 1. `--json` prints one JSON object on stdout.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, minimumActivationDelay, type Config } from '../config/index.js';
import { createLogger } from '../logger.js';
import { createDirectory, type Directory } from '../directory/index.js';
import { importEvents, importUsers, readUsersFile } from '../directory/import.js';
import { toPublicUser } from '../directory/users.js';
import { adminEvent, type AdminEvent } from '../directory/audit.js';
import { toPublicApp } from '../directory/apps.js';
import { PLATFORM_TENANT_CODE } from '../directory/tenants.js';
import { userInfo } from 'node:os';
import { readFile } from 'node:fs/promises';
import { AtriumError, operatorMessage } from '../errors.js';
import { describeSigningKeys, retirementDelay, rotateSigningKeys } from '../oidc/keys.js';
import { createStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import type { Atrium } from '../app.js';

export class UsageError extends Error {}

/** Who ran a command, for the audit trail: `cli:` and the system user. */
function operator(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** Records a change made here in the audit trail, as the admin API records its own. */
const audit = (directory: Directory, event: AdminEvent): Promise<unknown> => directory.audit.record(adminEvent(event, { by: operator() }));

/** The platform's tenant, whose trail keeps changes that belong to no tenant (apps). */
const platformTenantId = async (directory: Directory): Promise<string | undefined> => (await directory.tenants.byCode(PLATFORM_TENANT_CODE))?.id;

const USAGE = `usage: atrium <command> [options] [--json]
  start [--workers N|auto]                        (the server; workers: ATRIUM_WORKERS, default one per core)
  tenant create --code CODE --name NAME
  tenant disable --code CODE                      (its users cannot sign in; ends their sessions, with back-channel logout)
  tenant enable --code CODE
  user create --tenant CODE --username NAME --password-stdin [--name N] [--email E] [--mobile M] [--role user|admin]
  user disable --tenant CODE --username NAME      (ends the user's sessions, with back-channel logout)
  user enable --tenant CODE --username NAME
  user reset-password --tenant CODE --username NAME --password-stdin   (also: a lost platform admin password)
  user unlock --tenant CODE --username NAME       (lifts a sign-in lock after too many failures)
  user import --tenant CODE FILE [--format csv|jsonl]   (UTF-8; CSV header: username,password,name,email,mobile,role)
  app create --name NAME --redirect-uri URL [--redirect-uri URL…] [--description TEXT] [--logo-uri URL]
             [--initiate-login-uri URL] [--post-logout-redirect-uri URL…] [--backchannel-logout-uri URL]
             [--public] [--no-refresh] [--no-pkce] [--access-token-ttl SECONDS] [--refresh-token-ttl SECONDS]
             [--management platform|tenant:CODE]   (an admin API client: client_credentials, scope atrium:admin / atrium:tenant-admin)
  app assign --app CLIENT_ID --tenant CODE [--user USERNAME…|--all-users] [--expires-at ISO-8601]
                                                  (without --user/--all-users, the users chosen so far stay)
  keys rotate [--activate-in SECONDS]             (published at once; signs after keys.activationDelaySeconds)
  keys list                                       (each signing key: signing, verifying, pending or retired)`;

interface Io {
  stdin: () => Promise<string>;
  out: (line: string) => void;
  /** Progress of long commands (a bar on a terminal). */
  progress?: (done: number, total: number) => void;
  readFile?: (path: string) => Promise<Uint8Array>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

const COMMANDS: Record<
  string,
  { options: Options; positionals?: number; run: (ctx: { directory: Directory; store: Store; config: Config; values: Values; positionals: string[]; io: Io }) => Promise<Record<string, unknown>> }
> = {
  'user import': {
    options: { tenant: { type: 'string' }, format: { type: 'string' } },
    positionals: 1,
    async run({ directory, config, values, positionals, io }) {
      const tenant = await directory.tenants.require(required(values, 'tenant'));
      const file = positionals[0];
      if (!file) throw new UsageError('user import needs the file to import (CSV or JSON lines)');
      const format = (values.format as string | undefined) ?? (/\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'csv');
      if (format !== 'csv' && format !== 'jsonl') throw new UsageError('--format must be csv or jsonl');
      let bytes: Uint8Array;
      try {
        bytes = await (io.readFile ?? readFile)(file);
      } catch {
        throw new UsageError(`cannot read ${file}`);
      }
      const { rows, errors } = readUsersFile(bytes, format);
      const result = errors.length > 0 ? { errors } : await importUsers(directory.users, tenant.id, rows, { parallelism: config.passwordHashing.concurrency + 2, onProgress: io.progress });
      const problems = result.errors;
      if (problems.length > 0) {
        throw new AtriumError('invalid_input', `${problems.length} invalid row(s), nothing imported: ${problems.slice(0, 20).map((e) => `line ${e.line}: ${e.message}`).join('; ')}`, 400);
      }
      // What was written is audited, also when the import stopped halfway.
      const failure = 'failure' in result ? result.failure : undefined;
      for (const event of importEvents(tenant.id, result.report!, failure)) await audit(directory, event);
      if (failure !== undefined) throw failure;
      const existing = await directory.users.list(tenant.id);
      return { tenant: tenant.code, rows: rows.length, users_in_tenant: existing.length };
    },
  },
  'tenant create': {
    options: { code: { type: 'string' }, name: { type: 'string' } },
    async run({ directory, values }) {
      const tenant = await directory.tenants.create({ code: required(values, 'code'), name: required(values, 'name') });
      await audit(directory, { type: 'admin.tenant.create', tenantId: tenant.id, after: { id: tenant.id, code: tenant.code, name: tenant.name, status: tenant.status } });
      return { id: tenant.id, code: tenant.code, name: tenant.name };
    },
  },
  'tenant disable': {
    options: { code: { type: 'string' } },
    run: ({ directory, config, values }) => setTenantStatus(directory, config, required(values, 'code'), 'disabled'),
  },
  'tenant enable': {
    options: { code: { type: 'string' } },
    run: ({ directory, config, values }) => setTenantStatus(directory, config, required(values, 'code'), 'active'),
  },
  'user create': {
    options: {
      tenant: { type: 'string' },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      name: { type: 'string' },
      email: { type: 'string' },
      mobile: { type: 'string' },
      role: { type: 'string' },
    },
    async run({ directory, values, io }) {
      if (!values['password-stdin']) throw new UsageError('user create needs --password-stdin (the password is read from standard input)');
      const tenant = await directory.tenants.require(required(values, 'tenant'));
      const password = (await io.stdin()).replace(/\r?\n$/, '');
      const user = await directory.users.create(tenant.id, {
        username: required(values, 'username'),
        password,
        name: values.name,
        email: values.email,
        mobile: values.mobile,
        role: values.role,
      });
      await audit(directory, { type: 'admin.user.create', tenantId: tenant.id, userId: user.id, after: toPublicUser(user) });
      const { id, username, name, email, mobile, role, status } = toPublicUser(user);
      return { id, tenant: tenant.code, tenant_id: tenant.id, username, name, email, mobile, role, status };
    },
  },
  'user disable': {
    options: { tenant: { type: 'string' }, username: { type: 'string' } },
    async run({ directory, config, values }) {
      const tenant = await directory.tenants.require(required(values, 'tenant'));
      const user = await directory.users.byUsername(tenant.id, required(values, 'username'));
      if (!user) throw new AtriumError('not_found', `user ${String(values.username)} not found in tenant ${tenant.code}`, 404);
      const { disableUser } = await import('../admin/users.js');
      const { sessionsEnded } = await withAtrium(config, (atrium) => disableUser(atrium, user.id, { by: operator() }));
      return { id: user.id, username: user.username, status: 'disabled', sessions_ended: sessionsEnded };
    },
  },
  'user enable': {
    options: { tenant: { type: 'string' }, username: { type: 'string' } },
    async run({ directory, values }) {
      const { tenant, user } = await namedUser(directory, values);
      const { before, after } = await directory.users.change(user.id, { status: 'active' });
      await audit(directory, { type: 'admin.user.enable', tenantId: tenant.id, userId: user.id, before: before.status, after: after.status });
      return { id: user.id, username: user.username, status: after.status };
    },
  },
  'user reset-password': {
    options: { tenant: { type: 'string' }, username: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
    async run({ directory, values, io }) {
      if (!values['password-stdin']) throw new UsageError('user reset-password needs --password-stdin (the new password is read from standard input)');
      const { tenant, user } = await namedUser(directory, values);
      await directory.users.resetPassword(user.id, (await io.stdin()).replace(/\r?\n$/, ''));
      await audit(directory, { type: 'admin.user.reset_password', tenantId: tenant.id, userId: user.id });
      return { tenant: tenant.code, username: user.username, reset: true };
    },
  },
  'user unlock': {
    options: { tenant: { type: 'string' }, username: { type: 'string' } },
    async run({ directory, values }) {
      const tenant = await directory.tenants.require(required(values, 'tenant'));
      const user = await directory.users.byUsername(tenant.id, required(values, 'username'));
      if (!user) throw new AtriumError('not_found', `user ${String(values.username)} not found in tenant ${tenant.code}`, 404);
      await directory.throttle.unlock(tenant.code, user.username);
      await audit(directory, { type: 'admin.user.unlock', tenantId: tenant.id, userId: user.id });
      return { tenant: tenant.code, username: user.username, unlocked: true };
    },
  },
  'app create': {
    options: {
      name: { type: 'string' },
      description: { type: 'string' },
      'logo-uri': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'initiate-login-uri': { type: 'string' },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      public: { type: 'boolean' },
      'no-refresh': { type: 'boolean' },
      'no-pkce': { type: 'boolean' },
      'access-token-ttl': { type: 'string' },
      'refresh-token-ttl': { type: 'string' },
      management: { type: 'string' },
    },
    async run({ directory, values }) {
      const management = await managementOf(directory, values.management as string | undefined);
      const { app, clientSecret } = await directory.apps.create({
        management,
        name: required(values, 'name'),
        description: values.description,
        logoUri: values['logo-uri'],
        redirectUris: values['redirect-uri'] ?? [],
        initiateLoginUri: values['initiate-login-uri'],
        postLogoutRedirectUris: values['post-logout-redirect-uri'],
        backchannelLogoutUri: values['backchannel-logout-uri'],
        type: values.public ? 'public' : 'confidential',
        allowRefresh: !values['no-refresh'],
        requirePkce: !values['no-pkce'],
        accessTokenTtl: seconds(values, 'access-token-ttl'),
        refreshTokenTtl: seconds(values, 'refresh-token-ttl'),
      });
      const platform = await platformTenantId(directory);
      if (platform) await audit(directory, { type: 'admin.app.create', tenantId: platform, clientId: app.clientId, after: toPublicApp(app) });
      return { client_id: app.clientId, ...(clientSecret ? { client_secret: clientSecret } : {}), name: app.name, type: app.type };
    },
  },
  'app assign': {
    options: {
      app: { type: 'string' },
      tenant: { type: 'string' },
      user: { type: 'string', multiple: true },
      'all-users': { type: 'boolean' },
      'expires-at': { type: 'string' },
    },
    async run({ directory, values }) {
      const names = (values.user as string[] | undefined) ?? [];
      if (values['all-users'] && names.length > 0) throw new UsageError('--all-users and --user exclude each other');
      const app = await directory.apps.require(required(values, 'app'));
      const tenant = await directory.tenants.require(required(values, 'tenant'));
      const userIds = await Promise.all(
        names.map(async (name) => {
          const user = await directory.users.byUsername(tenant.id, name);
          if (!user) throw new AtriumError('not_found', `user ${name} not found in tenant ${tenant.code}`, 404);
          return user.id;
        }),
      );
      // Without --user or --all-users, the users chosen so far (by the tenant's admins) stay.
      const { before, after } = await directory.assignments.assign({
        tenantId: tenant.id,
        clientId: app.clientId,
        expiresAt: values['expires-at'],
        userIds: values['all-users'] ? [] : userIds.length > 0 ? userIds : undefined,
      });
      await audit(directory, { type: 'admin.assignment.put', tenantId: tenant.id, clientId: app.clientId, before, after });
      const listed = await Promise.all((after.userIds ?? []).map(async (id) => (await directory.users.byId(id))?.username ?? id));
      return { app: app.clientId, tenant: tenant.code, tenant_id: tenant.id, all_users: !after.userIds, users: listed, expires_at: after.expiresAt ?? null };
    },
  },
  'keys list': {
    options: {},
    async run({ store }) {
      const keys = await describeSigningKeys(store, new Date());
      return {
        keys: keys.map((k) => ({ kid: k.jwk.kid, alg: k.jwk.alg, state: k.state, created_at: k.createdAt, signs_from: k.activateAt ?? k.createdAt, retire_at: k.retireAt ?? null })),
      };
    },
  },
  'keys rotate': {
    options: { 'activate-in': { type: 'string' } },
    async run({ directory, store, config, values }) {
      // Published at once; signing once every running server has re-read the keys (or at once with
      // --activate-in 0, for one server). Old keys keep verifying as long as what they signed is used.
      const { reloadSeconds } = config.keys;
      const activateAfterSeconds = seconds(values, 'activate-in') ?? config.keys.activationDelaySeconds;
      if (activateAfterSeconds > 0 && activateAfterSeconds < minimumActivationDelay(reloadSeconds)) {
        throw new UsageError(`--activate-in must be 0 (at once: a single server) or at least ${minimumActivationDelay(reloadSeconds)} s, so that every server publishes the key first`);
      }
      const retireAfterSeconds = retirementDelay({ idTokenSeconds: config.ttl.idToken, sessionSeconds: config.session.absoluteSeconds, reloadSeconds });
      const keys = await rotateSigningKeys(store, { retireAfterSeconds, activateAfterSeconds });
      const fresh = keys.filter((k) => !k.retireAt);
      const platform = await platformTenantId(directory);
      const published = fresh.map((k) => k.jwk.kid);
      if (platform) await audit(directory, { type: 'admin.keys.rotate', tenantId: platform, after: { published, signs_from: fresh[0]?.activateAt ?? fresh[0]?.createdAt } });
      return {
        published: fresh.map((k) => k.jwk.kid),
        signs_from: fresh[0]?.activateAt ?? fresh[0]?.createdAt,
        retiring: keys.filter((k) => k.retireAt).map((k) => ({ kid: k.jwk.kid, retire_at: k.retireAt })),
      };
    },
  },
};

/**
 * Runs `run` with Atrium composed as the server composes it, for commands that end sessions (that
 * needs the provider). Loaded only for those, so that the others start fast and without
 * oidc-provider's runtime warning.
 */
async function withAtrium<T>(config: Config, run: (atrium: Atrium) => Promise<T>): Promise<T> {
  const { createAtrium } = await import('../app.js');
  const atrium = await createAtrium(config, createLogger('silent'));
  try {
    return await run(atrium);
  } finally {
    await atrium.close();
  }
}

/** Disables or enables a tenant as the admin API does (disabling ends its users' sessions). */
async function setTenantStatus(directory: Directory, config: Config, code: string, status: 'active' | 'disabled'): Promise<Record<string, unknown>> {
  const tenant = await directory.tenants.require(code);
  const { changeTenant } = await import('../admin/users.js');
  const { tenant: after, sessionsEnded } = await withAtrium(config, (atrium) => changeTenant(atrium, tenant.id, { status }, (event) => audit(directory, event)));
  return { id: after.id, code: after.code, status: after.status, ...(sessionsEnded === undefined ? {} : { sessions_ended: sessionsEnded }) };
}

/** The user `--username` of the tenant `--tenant`; not found is refused (exit 2). */
async function namedUser(directory: Directory, values: Values) {
  const tenant = await directory.tenants.require(required(values, 'tenant'));
  const user = await directory.users.byUsername(tenant.id, required(values, 'username'));
  if (!user) throw new AtriumError('not_found', `user ${String(values.username)} not found in tenant ${tenant.code}`, 404);
  return { tenant, user };
}

/** `--management platform` or `--management tenant:CODE`: an admin API automation client. */
async function managementOf(directory: Directory, value: string | undefined) {
  if (value === undefined) return undefined;
  if (value === 'platform') return { role: 'platform' as const };
  const code = /^tenant:(.+)$/.exec(value)?.[1];
  if (!code) throw new UsageError('--management must be platform or tenant:CODE');
  return { role: 'tenant' as const, tenantId: (await directory.tenants.require(code)).id };
}

function seconds(values: Values, name: string): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new UsageError(`--${name} must be a number of seconds`);
  return Number(value);
}

function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing --${name}`);
  return value;
}

function render(result: Record<string, unknown>): string {
  return Object.entries(result)
    .map(([k, v]) => `${k}: ${Array.isArray(v) || (typeof v === 'object' && v !== null) ? JSON.stringify(v) : String(v)}`)
    .join('\n');
}

/** The usage of one command: its line of USAGE and the lines that continue it. */
function usageOf(name: string): string {
  const lines = USAGE.split('\n');
  const first = lines.findIndex((line) => line.startsWith(`  ${name} `) || line === `  ${name}`);
  let last = first + 1;
  while (last < lines.length && /^ {4,}/.test(lines[last]!)) last += 1;
  return ['usage: atrium <command> [options] [--json]', ...lines.slice(first, last)].join('\n');
}

/** Runs one command line; returns the exit code. */
export async function runCli(argv: string[], env: Record<string, string | undefined>, io: Io & { err: (line: string) => void }): Promise<number> {
  const name = argv.slice(0, 2).join(' ');
  const command = COMMANDS[name];
  if (!command) {
    if (argv.length === 0 || argv[0] === '--help') {
      io.err(USAGE);
      return argv[0] === '--help' ? 0 : 2;
    }
    io.err(`atrium: unknown command "${name}" (atrium --help lists the commands)`);
    return 2;
  }
  if (argv.slice(2).includes('--help')) {
    io.err(usageOf(name));
    return 0;
  }
  let store: Store | undefined;
  try {
    const { values, positionals } = parseArgs({ args: argv.slice(2), options: { ...command.options, json: { type: 'boolean' } }, strict: true, allowPositionals: (command.positionals ?? 0) > 0 });
    if (positionals.length > (command.positionals ?? 0)) throw new UsageError(`unexpected argument ${positionals.at(-1)}`);
    const config = loadConfig(env);
    store = await createStore(config.store);
    // Hashing bounded as in the server (an import keeps a few rows more under way than it hashes at
    // once, so that no core waits for a row's write before its next hash starts).
    const directory = createDirectory(store, { password: config.password, hashing: { concurrency: config.passwordHashing.concurrency, maxQueue: Infinity } });
    const result = await command.run({ directory, store, config, values: values as Values, positionals, io });
    io.out(values.json ? JSON.stringify(result) : render(result));
    return 0;
  } catch (err) {
    const usage = err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'));
    const refused = err instanceof AtriumError && err.status < 500;
    io.err(`atrium ${name}: ${err instanceof Error ? (err instanceof AtriumError ? operatorMessage(err) : err.message).split('\n')[0] : String(err)}`);
    return usage || refused || err instanceof ConfigError ? 2 : 1;
  } finally {
    await store?.close();
  }
}

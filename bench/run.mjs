/**
 * `npm run bench`: Atrium on Redis, Atrium on the embedded SQLite store and a bare oidc-provider
 * server (the baseline), each in its own process, measured with autocannon from this one. See
 * bench/README.md for what is measured and the environment knobs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Browser, submitForm } from './lib/browser.mjs';
import { startChild } from './lib/child.mjs';
import { measure, problems } from './lib/measure.mjs';
import { renderConsole, renderMarkdown } from './lib/report.mjs';
import { basic, CODE_CHALLENGE, CODE_VERIFIER, mapLimit } from './lib/util.mjs';
import { SERVER_NODE_FLAGS } from '../dist/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LIB = join(ROOT, 'bench', 'lib');
const env = process.env;
const num = (name, fallback) => {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
};
const list = (name) => (env[name] ? env[name].split(',').map((s) => s.trim()).filter(Boolean) : undefined);

const settings = {
  duration: num('BENCH_DURATION', 10),
  rounds: Math.max(1, Math.round(num('BENCH_ROUNDS', 1))),
  warmup: num('BENCH_WARMUP', 1),
  connections: num('BENCH_CONNECTIONS', 50),
  signInConnections: num('BENCH_SIGNIN_CONNECTIONS', 8),
  sessions: num('BENCH_SESSIONS', 1000),
  argon2Seconds: num('BENCH_ARGON2_SECONDS', 5),
  redisUrl: env.ATRIUM_BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  targets: list('BENCH_TARGETS') ?? ['baseline', 'redis', 'sqlite'],
  scenarios: list('BENCH_SCENARIOS'),
  out: env.BENCH_OUT || join(ROOT, 'bench', 'results', 'latest.md'),
  profileDir: env.BENCH_PROFILE_DIR,
  profileExtension: env.BENCH_PROFILE_KIND === 'heap' ? 'heapprofile' : 'cpuprofile',
  nodeFlags: SERVER_NODE_FLAGS,
};
const CODE_LIFETIME_BUDGET_S = 45; // codes live 60 s: minting plus redeeming a pool must fit well inside

const log = (message) => process.stdout.write(`${message}\n`);
const cores = availableParallelism();

// ---------------------------------------------------------------------------------------------
// Scenarios

const FORM = 'application/x-www-form-urlencoded';
const formBody = (fields) => new URLSearchParams(fields).toString();

/**
 * Each scenario builds its request for a target. `pool(n)`: n one-use request items (then the run is
 * sized by a pilot run to last about BENCH_DURATION); `items`: reusable items cycled through.
 */
const SCENARIOS = [
  {
    id: 'discovery',
    label: 'discovery',
    build: () => ({ request: { method: 'GET', path: '/.well-known/openid-configuration' } }),
  },
  {
    id: 'client_credentials',
    label: 'client credentials',
    build: (t) => ({
      request: {
        method: 'POST',
        path: t.paths.token,
        headers: { authorization: basic(t.info.robot.clientId, t.info.robot.secret), 'content-type': FORM, accept: 'application/json' },
        body: formBody({ grant_type: 'client_credentials', scope: t.info.robot.scope }),
      },
    }),
  },
  {
    id: 'code',
    label: 'code exchange',
    codes: true,
    build: (t) => ({
      request: { method: 'POST', path: t.paths.token, headers: { authorization: basic(t.info.crm.clientId, t.info.crm.secret), 'content-type': FORM, accept: 'application/json' } },
      pool: async (n) =>
        (await t.child.call('mintCodes', { count: n })).map((code) => ({
          body: formBody({ grant_type: 'authorization_code', code, redirect_uri: t.info.crm.redirectUri, code_verifier: CODE_VERIFIER }),
        })),
    }),
  },
  {
    id: 'refresh',
    label: 'refresh',
    build: (t) => ({
      request: { method: 'POST', path: t.paths.token, headers: { authorization: basic(t.info.crm.clientId, t.info.crm.secret), 'content-type': FORM, accept: 'application/json' } },
      pool: async (n) => (await t.child.call('mintRefreshTokens', { count: n })).map((token) => ({ body: formBody({ grant_type: 'refresh_token', refresh_token: token }) })),
    }),
  },
  {
    id: 'userinfo',
    label: 'userinfo (standard)',
    build: (t) => ({
      request: { method: 'GET', path: t.paths.userinfo, headers: { accept: 'application/json' } },
      items: t.accessTokens.map((token) => ({ headers: { authorization: `Bearer ${token}` } })),
    }),
  },
  {
    id: 'userinfo_joint',
    label: 'userinfo (joint-operation)',
    atriumOnly: true,
    baselineOf: 'userinfo',
    build: (t) => ({
      request: { method: 'GET', path: '/api/v1/oauth2/userinfo', headers: { accept: 'application/json' } },
      items: t.accessTokens.map((token) => ({ headers: { authorization: `Bearer ${token}` } })),
    }),
  },
  {
    id: 'workbench',
    label: 'workbench page',
    atriumOnly: true,
    build: (t) => ({ request: { method: 'GET', path: '/', headers: { cookie: t.workbenchCookie, accept: 'text/html' } } }),
  },
  {
    id: 'signin',
    label: 'sign-in (POST credentials)',
    atriumOnly: true,
    signIn: true,
    build: (t) => ({
      request: { method: 'POST', path: '/', headers: { 'content-type': FORM, accept: 'text/html' } },
      expect: 303,
      connections: settings.signInConnections,
      pool: (n) => signInPool(t, n),
    }),
  },
].filter((s) => !settings.scenarios || settings.scenarios.includes(s.id));

// ---------------------------------------------------------------------------------------------
// Preparing a target: endpoints, access tokens for userinfo, a signed-in workbench session

const authorizationUrl = (t, client, extra = {}) =>
  `${t.origin}${t.paths.authorization}?${new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    scope: t.info.scope,
    state: randomBytes(8).toString('hex'),
    code_challenge: CODE_CHALLENGE,
    code_challenge_method: 'S256',
    ...extra,
  })}`;

async function prepare(t) {
  const discovery = await (await fetch(`${t.origin}/.well-known/openid-configuration`)).json();
  const path = (url) => new URL(url).pathname;
  t.paths = { authorization: path(discovery.authorization_endpoint), token: path(discovery.token_endpoint), userinfo: path(discovery.userinfo_endpoint) };

  // Access tokens for userinfo, through the real token endpoint.
  const codes = await t.child.call('mintCodes', { count: 50 });
  t.accessTokens = await mapLimit(codes.length, 10, async (i) => {
    const res = await fetch(`${t.origin}${t.paths.token}`, {
      method: 'POST',
      headers: { authorization: basic(t.info.crm.clientId, t.info.crm.secret), 'content-type': FORM, accept: 'application/json' },
      body: formBody({ grant_type: 'authorization_code', code: codes[i], redirect_uri: t.info.crm.redirectUri, code_verifier: CODE_VERIFIER }),
    });
    const body = await res.json();
    if (res.status !== 200 || !body.access_token) throw new Error(`${t.name}: code exchange failed: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  });

  if (t.kind === 'atrium') {
    // The workbench: sign in through the login form as a browser does, and keep the session cookie.
    const browser = new Browser(t.origin);
    const login = await browser.follow('/');
    if (login.status !== 200 || !login.url.includes('/interaction/')) throw new Error(`${t.name}: expected the login page, got ${login.status} ${login.url}`);
    const posted = await submitForm(browser, login, { tenant: t.info.tenant, username: t.info.usernames[0], password: t.info.password });
    if (posted.status !== 303) throw new Error(`${t.name}: sign-in failed with ${posted.status}`);
    const home = await browser.follow(posted.location);
    if (home.status !== 200 || !home.body.includes('Documents')) throw new Error(`${t.name}: the workbench did not show after sign-in (${home.status} ${home.url})`);
    t.workbenchCookie = browser.cookieHeader('/');
  }
}

/** n login forms ready to post: each a new interaction (GET /auth) with its cookies and CSRF token. */
async function signInPool(t, n) {
  const { usernames } = t.info;
  return mapLimit(n, 16, async (i) => {
    const browser = new Browser(t.origin);
    const csrf = randomBytes(32).toString('base64url');
    browser.setCookie('atrium_csrf', csrf);
    const started = await browser.get(authorizationUrl(t, t.info.crm));
    if (started.status !== 302 || !started.location?.includes('/interaction/')) throw new Error(`${t.name}: /auth answered ${started.status} ${started.location ?? ''}`);
    const path = `${new URL(started.location).pathname}/login`;
    return {
      path,
      headers: { cookie: browser.cookieHeader(path) },
      body: formBody({ csrf, tenant: t.info.tenant, username: usernames[i % usernames.length], password: t.info.password }),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Running one scenario on one target

/** CPU seconds a process has used so far (user + system), from /proc; undefined where there is none. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
  } catch {
    return 100;
  }
})();
function processCpuSeconds(pid) {
  try {
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
const redisCpuSeconds = async (redis) => {
  const info = await redis.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
};

/**
 * `measure(options)`, plus the CPU time the server process (and, for the Redis variant, the Redis
 * server: shared, but idle besides the bench) spent per expected answer: the cost of a request,
 * which unlike requests/s does not depend on how the load generator and the servers share the cores.
 */
async function measureWithCpu(t, scenario, options) {
  if (settings.profileDir) await t.child.call('profileStart');
  const server = processCpuSeconds(t.child.pid);
  const redis = t.redis ? await redisCpuSeconds(t.redis) : undefined;
  const run = await measure(options);
  if (settings.profileDir) await t.child.call('profileStop', { file: join(settings.profileDir, `${t.name}-${scenario.id}.${settings.profileExtension}`) });
  const per = (before, after) => (before === undefined || after === undefined || run.ok === 0 ? undefined : ((after - before) * 1e6) / run.ok);
  run.serverCpuUs = per(server, processCpuSeconds(t.child.pid));
  if (t.redis) run.redisCpuUs = per(redis, await redisCpuSeconds(t.redis));
  return run;
}

async function runScenario(t, scenario) {
  const spec = scenario.build(t);
  const expect = spec.expect ?? 200;
  const connections = spec.connections ?? settings.connections;
  const base = { origin: t.origin, request: spec.request, expect, connections };

  if (!spec.pool) {
    if (settings.warmup > 0) await measure({ ...base, items: spec.items, cycle: true, duration: settings.warmup });
    return { ...(await measureWithCpu(t, scenario, { ...base, items: spec.items, cycle: true, duration: settings.duration })), expect };
  }

  // One-use requests, sized to last about BENCH_DURATION by two pilot runs: the first warms up, the
  // second (about two seconds' worth) gives the rate.
  let secondsPerItem = 0;
  const pilotRun = async (count) => {
    const started = performance.now();
    const items = await spec.pool(count + connections);
    secondsPerItem = (performance.now() - started) / 1000 / (count + connections);
    return measure({ ...base, items, amount: count });
  };
  const warm = await pilotRun(Math.max(connections * 4, scenario.signIn ? 0 : 500));
  const pilot = await pilotRun(Math.max(connections * 4, Math.ceil(Math.max(warm.rps, 1) * 2)));
  const rate = Math.max(pilot.rps, 1);
  let size = Math.max(connections * 4, Math.ceil(rate * settings.duration));
  if (scenario.codes) {
    // Codes expire 60 s after they are made: making and redeeming the pool must fit in that.
    const fits = Math.floor(CODE_LIFETIME_BUDGET_S / (secondsPerItem + 1 / rate));
    if (size > fits) {
      log(`  (code pool capped at ${fits} so that codes are redeemed within ${CODE_LIFETIME_BUDGET_S} s of being made)`);
      size = fits;
    }
  }
  const mintStarted = performance.now();
  const items = await spec.pool(size + connections);
  const prepared = (performance.now() - mintStarted) / 1000;
  const run = await measureWithCpu(t, scenario, { ...base, items, amount: size });
  return { ...run, expect, pool: { size, preparedSeconds: prepared, pilotRps: pilot.rps, pilotProblems: [problems(warm, expect), problems(pilot, expect)].filter(Boolean).join('; ') } };
}

// ---------------------------------------------------------------------------------------------
// Redis: the variant's keys, and memory per session

async function scanKeys(redis, prefix) {
  const keys = [];
  let cursor = '0';
  do {
    const [nextCursor, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = nextCursor;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

async function deleteKeys(redis, prefix) {
  const keys = await scanKeys(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500));
  return keys.length;
}

const usedMemory = async (redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN);

/** A key's shape: ids and days replaced, so that keys of one kind group together. */
function keyShape(key) {
  const [first, second, ...rest] = key.split(':');
  // The adapter's keys: o:{model or index code}:{id}.
  if (first === 'o') return `o:${second}:{id}`;
  return [first, second, ...rest]
    .filter((part) => part !== undefined)
    .map((part) => (/^\d{4}-\d{2}-\d{2}$/.test(part) ? '{day}' : /^[0-9a-f]{32}$/.test(part) ? '{id}' : part))
    .join(':');
}

/** What a key is for, in a session with one app signed into. */
const KEY_GROUPS = [
  ['session', /^o:(S|su|as):/],
  ['app grant and tokens', /^o:(g|G|gi|AT|RT|cg):/],
  ['consumed authorization code (expires after 60 s)', /^o:AC:/],
  ['audit trail (kept for the retention period)', /^audit/],
];
const keyGroup = (shape) => KEY_GROUPS.find(([, pattern]) => pattern.test(shape))?.[0] ?? 'other';

/**
 * K users of their own tenant each sign in through the login form of their own app and exchange
 * the code: a session with one app signed into (session, grant, access and refresh token, the
 * consumed code). Memory = sum of MEMORY USAGE of every key this made under the variant's prefix.
 */
async function sessionMemory(t, redis) {
  const { memory, keyPrefix } = t.info;
  const before = new Set(await scanKeys(redis, keyPrefix));
  const usedBefore = await usedMemory(redis);
  const started = performance.now();
  let failures = 0;
  const refreshTokens = [];
  await mapLimit(memory.usernames.length, 8, async (i) => {
    try {
      const browser = new Browser(t.origin);
      const login = await browser.follow(authorizationUrl(t, memory.app));
      const posted = await submitForm(browser, login, { tenant: memory.tenant, username: memory.usernames[i], password: t.info.password });
      const callback = posted.location ? await browser.follow(posted.location) : posted;
      const code = callback.location ? new URL(callback.location).searchParams.get('code') : null;
      if (!code) throw new Error(`no code (${callback.status})`);
      const res = await fetch(`${t.origin}${t.paths.token}`, {
        method: 'POST',
        headers: { authorization: basic(memory.app.clientId, memory.app.secret), 'content-type': FORM, accept: 'application/json' },
        body: formBody({ grant_type: 'authorization_code', code, redirect_uri: memory.app.redirectUri, code_verifier: CODE_VERIFIER }),
      });
      if (res.status !== 200) throw new Error(`token ${res.status}`);
      const { refresh_token: refreshToken } = await res.json();
      if (refreshToken) refreshTokens.push(refreshToken);
    } catch (err) {
      failures += 1;
      if (failures <= 3) log(`  session ${i} failed: ${err.message}`);
    }
  });
  const seconds = (performance.now() - started) / 1000;
  const usedAfter = await usedMemory(redis);
  const fresh = (await scanKeys(redis, keyPrefix)).filter((k) => !before.has(k));
  const shapes = new Map();
  for (let i = 0; i < fresh.length; i += 500) {
    const batch = fresh.slice(i, i + 500);
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const answers = await pipeline.exec();
    batch.forEach((key, j) => {
      const shape = keyShape(key.slice(keyPrefix.length));
      const entry = shapes.get(shape) ?? { shape, keys: 0, bytes: 0, sample: key };
      entry.keys += 1;
      entry.bytes += Number(answers[j][1] ?? 0);
      shapes.set(shape, entry);
    });
  }
  if (process.env.BENCH_MEMORY_SAMPLES) {
    for (const { shape, sample } of shapes.values()) {
      const type = await redis.type(sample);
      const value = type === 'string' ? await redis.get(sample) : type === 'hash' ? await redis.hgetall(sample) : await redis.smembers(sample);
      log(`  ${shape} (${type}, ${await redis.object('ENCODING', sample)}): ${JSON.stringify(value)}`);
    }
  }
  const sessions = memory.usernames.length - failures;
  const kinds = [...shapes.values()].sort((a, b) => b.bytes - a.bytes);
  const total = kinds.reduce((sum, k) => sum + k.bytes, 0);
  const groups = new Map();
  for (const kind of kinds) {
    kind.group = keyGroup(kind.shape);
    groups.set(kind.group, (groups.get(kind.group) ?? 0) + kind.bytes);
  }
  const codes = groups.get(KEY_GROUPS[2][0]) ?? 0;
  const redisVersion = /redis_version:([^\r\n]+)/.exec(await redis.info('server'))?.[1];
  const refresh = await refreshGrowth(t, redis, refreshTokens);
  return { sessions, failures, seconds, kinds, groups: [...groups], total, perSession: total / sessions, codes, usedMemoryDelta: usedAfter - usedBefore, redisVersion, refresh };
}

/**
 * What one refresh adds to a session (sizing for apps that refresh): each session's refresh token
 * is used once, and the grants' MEMORY USAGE is compared before and after. A refresh adds an access
 * token (kept until it expires); the spent refresh token leaves its grant (its sealed id tells a
 * replay, see src/oidc/refresh-seal.ts).
 */
async function refreshGrowth(t, redis, refreshTokens) {
  const { memory, keyPrefix } = t.info;
  const grants = (await scanKeys(redis, `${keyPrefix}o:g:`)).filter((key) => key.slice(keyPrefix.length).split(':').length === 3);
  const grantBytes = async () => {
    const pipeline = redis.pipeline();
    for (const key of grants) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    return (await pipeline.exec()).reduce((sum, [, bytes]) => sum + Number(bytes ?? 0), 0);
  };
  const before = await grantBytes();
  let refreshed = 0;
  await mapLimit(refreshTokens.length, 8, async (i) => {
    const res = await fetch(`${t.origin}${t.paths.token}`, {
      method: 'POST',
      headers: { authorization: basic(memory.app.clientId, memory.app.secret), 'content-type': FORM, accept: 'application/json' },
      body: formBody({ grant_type: 'refresh_token', refresh_token: refreshTokens[i] }),
    });
    if (res.status === 200) refreshed += 1;
    await res.arrayBuffer();
  });
  const after = await grantBytes();
  return { refreshed, perRefresh: refreshed ? (after - before) / refreshed : undefined };
}

// ---------------------------------------------------------------------------------------------
// The run

const machine = () => {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'config');
  return {
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    date: new Date().toISOString(),
    commit: `${git('rev-parse', '--short', 'HEAD') || 'unknown'}${dirty ? ' (src/ or config/ modified)' : ''}`,
    loadBefore: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
};

async function main() {
  if (!existsSync(join(ROOT, 'dist', 'app.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  const info = machine();
  log(`Atrium bench: ${settings.duration} s per scenario, ${settings.connections} connections (sign-in ${settings.signInConnections}), ${cores} cores, Node ${info.node}, load ${info.loadBefore}`);
  if (Number(info.loadBefore.split(' ')[0]) > cores * 0.5) log(`  ⚠ the machine is busy (load ${info.loadBefore}): numbers will be lower and noisier`);

  if (settings.profileDir) mkdirSync(settings.profileDir, { recursive: true });
  const results = {};
  const memo = { settings, machine: info, results, scenarios: SCENARIOS };
  const cleanups = [];
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    log('\ninterrupted: cleaning up');
  });

  // As long as the default prefix (`atrium:`), so that key sizes, and memory per session, are those of
// a default deployment.
const redisPrefix = `ab${randomBytes(2).toString('hex')}:`;
  let redis;
  if (settings.targets.includes('redis')) {
    redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      throw new Error(`no Redis at ${settings.redisUrl} (${err.message}): start one, set ATRIUM_BENCH_REDIS_URL, or BENCH_TARGETS=baseline,sqlite`);
    }
    cleanups.push(async () => {
      const deleted = await deleteKeys(redis, redisPrefix);
      log(`deleted ${deleted} Redis keys under ${redisPrefix}`);
      redis.disconnect();
    });
  }

  try {
    // Every server runs from the start (idle while another is measured), and each scenario is
    // measured on them one after the other, so that the ratios compare runs minutes apart at most.
    const running = [];
    try {
      for (const target of settings.targets) {
        if (interrupted) break;
        const t = await startTarget(target, redisPrefix);
        if (target === 'redis') t.redis = redis;
        running.push(t);
        results[target] = {};
        await prepare(t);
      }
      const redisTarget = running.find((t) => t.name === 'redis');
      if (redisTarget && settings.sessions > 0 && !interrupted) {
        log(`[redis] memory per session: ${settings.sessions} sign-ins through the login form, each with one app…`);
        memo.memory = await sessionMemory(redisTarget, redis);
        log(`[redis] ${Math.round(memo.memory.perSession)} bytes per session (${memo.memory.sessions} sessions, ${memo.memory.seconds.toFixed(1)} s)`);
      }
      for (const scenario of SCENARIOS) {
        // Each round measures every server once, one after the other; a server's result is its
        // median round (by requests/s), which one slow or fast moment of the machine cannot move.
        const rounds = new Map(running.map((t) => [t.name, []]));
        for (let round = 1; round <= settings.rounds; round += 1) {
          // Sign-in's limit, raw argon2, is measured again before every round, for the round's ratio.
          if (scenario.signIn && settings.argon2Seconds > 0 && !interrupted) await measureArgon2(memo);
          for (const t of running) {
            if (interrupted) break;
            if (scenario.atriumOnly && t.kind !== 'atrium') continue;
            const run = await runScenario(t, scenario);
            rounds.get(t.name).push(run);
            const issue = problems(run, run.expect);
            log(
              `[${t.name}] ${scenario.label}${settings.rounds > 1 ? ` (round ${round})` : ''}: ${run.rps.toFixed(1)} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms (${run.requests} requests in ${run.seconds.toFixed(1)} s)${issue ? `  ⚠ ERRORS: ${issue}` : ''}`,
            );
          }
        }
        for (const [name, runs] of rounds) if (runs.length > 0) results[name][scenario.id] = medianRun(runs);
      }
      for (const t of running) results[t.name].rssMiB = Math.round((await t.child.call('memoryUsage')).rss / 2 ** 20);
    } finally {
      for (const t of running) {
        await t.child.stop();
        await t.cleanup?.();
      }
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err) => log(`cleanup failed: ${err.message}`));
  }

  memo.machine.loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
  log('');
  log(renderConsole(memo));
  mkdirSync(dirname(settings.out), { recursive: true });
  writeFileSync(settings.out, renderMarkdown(memo));
  log(`\nwritten to ${settings.out}`);
  const failed = Object.values(results).some((byScenario) => Object.values(byScenario).some((run) => typeof run === 'object' && (problems(run, run.expect) || run.otherRoundProblems)));
  if (failed) {
    log('⚠ some scenarios had errors: see the table');
    process.exitCode = 1;
  }
  if (interrupted) process.exitCode = 130;
}

/**
 * The median of a server's rounds of one scenario (by requests/s), with every round's requests/s; an
 * error in any round is reported with it.
 */
function medianRun(runs) {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (runs.length === 1) return median;
  const elsewhere = runs.filter((run) => run !== median && problems(run, run.expect)).map((run) => problems(run, run.expect));
  return { ...median, roundsRps: runs.map((run) => run.rps), otherRoundProblems: elsewhere.join('; ') };
}

/**
 * The physical limit of password sign-ins: raw argon2id verifies at the configured cost, measured
 * just before each round of the sign-in scenario (the servers idle), so that each round's sign-ins
 * are compared with the machine as it was then.
 */
async function measureArgon2(memo) {
  const child = await startChild(join(LIB, 'argon2-rate.mjs'), { env: childEnv(), name: 'argon2' });
  let measured;
  try {
    measured = await child.call('measure', { seconds: settings.argon2Seconds });
  } finally {
    await child.stop();
  }
  const { perSecond, concurrency, cost } = measured;
  log(`argon2id raw verify rate: ${perSecond.toFixed(1)}/s with ${concurrency} at once (m=${cost.memoryCost} KiB, t=${cost.timeCost}, p=${cost.parallelism})`);
  // perSecond: the median of the measurements so far; roundsPerSecond: each, in round order.
  const roundsPerSecond = [...(memo.argon2?.roundsPerSecond ?? []), perSecond];
  const sorted = [...roundsPerSecond].sort((a, b) => a - b);
  memo.argon2 = { ...measured, perSecond: sorted[Math.floor((sorted.length - 1) / 2)], roundsPerSecond };
}

/** The environment of a child: this one's, minus what would change which server or store it runs. */
function childEnv(extra = {}) {
  const out = { ...env, ATRIUM_LOG_LEVEL: env.ATRIUM_LOG_LEVEL || 'silent' };
  for (const name of ['PORT', 'ATRIUM_ISSUER', 'ATRIUM_WORKERS', 'ATRIUM_REDIS_URL', 'ATRIUM_REDIS_PREFIX', 'ATRIUM_REDIS_SENTINELS', 'ATRIUM_REDIS_CLUSTER_NODES', 'ATRIUM_DATA_DIR']) delete out[name];
  return { ...out, ...extra };
}

async function startTarget(target, redisPrefix) {
  if (target === 'baseline') {
    // The baseline runs with the same Node flags as Atrium's servers: the ratio compares the code.
    const child = await startChild(join(LIB, 'baseline-server.mjs'), { env: childEnv(), execArgv: [...SERVER_NODE_FLAGS], name: 'baseline' });
    return { name: target, kind: 'baseline', child, info: child.info, origin: child.info.issuer };
  }
  let dataDir;
  let extra;
  if (target === 'redis') extra = { ATRIUM_REDIS_URL: settings.redisUrl, ATRIUM_REDIS_PREFIX: redisPrefix, BENCH_SESSIONS: String(settings.sessions) };
  else if (target === 'sqlite') {
    dataDir = mkdtempSync(join(tmpdir(), 'atrium-bench-'));
    extra = { ATRIUM_DATA_DIR: dataDir, BENCH_SESSIONS: '0' };
  } else throw new Error(`unknown target ${target} (BENCH_TARGETS: baseline, redis, sqlite)`);
  log(`[${target}] starting Atrium${target === 'redis' && settings.sessions > 0 ? ` (creating ${settings.sessions} users for the memory measurement: argon2 at the configured cost)` : ''}…`);
  const cleanup = async () => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  let child;
  try {
    child = await startChild(join(LIB, 'atrium-server.mjs'), { env: childEnv(extra), execArgv: [...SERVER_NODE_FLAGS], name: `atrium (${target})` });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const expected = target === 'redis' ? 'redis' : 'sqlite';
  if (child.info.driver !== expected) {
    await child.stop();
    await cleanup();
    throw new Error(`the ${target} Atrium runs on ${child.info.driver} (does ATRIUM_CONFIG set a store?)`);
  }
  return { name: target, kind: 'atrium', child, info: child.info, origin: child.info.issuer, cleanup };
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});

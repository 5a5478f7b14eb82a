/** The bench's tables: one for the terminal, the same in Markdown for bench/results/latest.md. */
import { problems } from './measure.mjs';

const TARGETS = [
  { id: 'redis', label: 'Atrium + Redis' },
  { id: 'sqlite', label: 'Atrium + SQLite' },
  { id: 'baseline', label: 'oidc-provider (memory)' },
];
/** Keycloak's published sizing, per vCPU. */
const KEYCLOAK = { signin: 15, client_credentials: 120, refresh: 120 };
/** Scenarios whose Redis numbers the targets speak of. */
const TOKEN_SCENARIOS = ['code', 'refresh', 'userinfo', 'userinfo_joint'];

const fmt = (n, digits = 1) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits));
const kib = (bytes) => `${(bytes / 1024).toFixed(2)} KiB`;

function ratioOf(memo, target, scenario) {
  const run = memo.results[target]?.[scenario.id];
  if (!run || target === 'baseline') return undefined;
  // Sign-in is over raw argon2, measured before each round; everything else over the baseline.
  const base = scenario.signIn
    ? memo.argon2 && { rps: memo.argon2.perSecond, roundsRps: memo.argon2.roundsPerSecond }
    : memo.results.baseline?.[scenario.baselineOf ?? scenario.id];
  if (!base || base.rps <= 0) return undefined;
  // With rounds, each round's ratio pairs two runs measured a minute apart at most: the median of
  // those is steadier than the ratio of the two medians, which may come from different moments.
  if (run.roundsRps && base.roundsRps?.length === run.roundsRps.length) {
    const ratios = run.roundsRps.map((rps, i) => rps / base.roundsRps[i]).sort((a, b) => a - b);
    return ratios[Math.floor((ratios.length - 1) / 2)];
  }
  return run.rps / base.rps;
}

/** Rows of cells: scenario, then per target req/s, p50, p99 (and ratio for Atrium). */
function rows(memo) {
  const notes = [];
  const out = memo.scenarios.map((scenario) => {
    const row = [scenario.label];
    for (const target of TARGETS) {
      const run = memo.results[target.id]?.[scenario.id];
      if (!run) {
        const cell = target.id === 'baseline' && scenario.signIn && memo.argon2 ? `argon2 raw ${fmt(memo.argon2.perSecond)}/s` : '—';
        row.push(cell, '', '');
        if (target.id !== 'baseline') row.push('');
        continue;
      }
      const issue = problems(run, run.expect) || run.otherRoundProblems;
      if (issue) notes.push(`${target.label}, ${scenario.label}: ${issue} (of ${run.requests} requests)`);
      row.push(`${issue ? '⚠ ERRORS ' : ''}${fmt(run.rps)}`, `${run.p50} ms`, `${run.p99} ms`);
      if (target.id !== 'baseline') row.push(fmt(ratioOf(memo, target.id, scenario), 2));
    }
    return row;
  });
  return { rows: out, notes };
}

const HEADER = ['scenario', 'Redis req/s', 'p50', 'p99', 'ratio', 'SQLite req/s', 'p50', 'p99', 'ratio', 'baseline req/s', 'p50', 'p99'];

function footnotes(memo) {
  return [
    memo.settings.rounds > 1
      ? 'ratio: requests/s over the baseline (bare oidc-provider, memory adapter), same scenario: the median of the rounds’ ratios (each round measures the baseline, then Atrium), so it need not equal the quotient of the two median rounds shown.'
      : 'ratio: requests/s over the baseline (bare oidc-provider, memory adapter) in the same run, same scenario.',
    'userinfo (joint-operation): the baseline has no such endpoint; its ratio is over the baseline’s standard userinfo.',
    `sign-in: ratio over the raw argon2id verify rate at the configured cost (${memo.argon2 ? `${fmt(memo.argon2.perSecond)}/s` : 'not measured'}${memo.argon2?.roundsPerSecond?.length > 1 ? ', the median of its measurements before each round; the ratio is the median of the rounds’ ratios, each over its own' : ''}), the physical limit of password sign-ins; the baseline has no password sign-in.`,
    'workbench page: Atrium only, no baseline.',
    'req/s counts expected answers only (200; 303 for sign-in); any other answer, timeout or connection error is listed as an error.',
  ];
}

function perCore(memo) {
  const cores = memo.machine.cores;
  const lines = [];
  for (const [id, label] of [['client_credentials', 'client credentials'], ['refresh', 'refresh'], ['signin', 'password sign-ins']]) {
    const run = memo.results.redis?.[id];
    if (!run) continue;
    const per = run.rps / cores;
    const times = per / KEYCLOAK[id];
    const target = id === 'signin' ? '' : ` — target ≥ 5× (${5 * KEYCLOAK[id]}/s): ${times >= 5 ? 'met' : 'MISSED'}`;
    lines.push(`${label}: ${fmt(run.rps)}/s ÷ ${cores} cores = ${fmt(per)}/s per core vs Keycloak ${KEYCLOAK[id]}/s per vCPU → ${fmt(times, 2)}×${target}`);
  }
  return lines;
}

function targets(memo) {
  const lines = [];
  const redis = memo.results.redis ?? {};
  const label = (id) => memo.scenarios.find((s) => s.id === id)?.label ?? id;
  for (const id of TOKEN_SCENARIOS) {
    const run = redis[id];
    const scenario = memo.scenarios.find((s) => s.id === id);
    if (!run || !scenario) continue;
    const ratio = ratioOf(memo, 'redis', scenario);
    const versus = ratio === undefined ? 'no baseline measured' : `${fmt(ratio, 2)} of the baseline (target ≥ 0.8: ${ratio >= 0.8 ? 'met' : 'MISSED'})`;
    lines.push(`${label(id)} on Redis: ${versus}; p99 ${run.p99} ms at ${run.connections} connections (target < 50 ms: ${run.p99 < 50 ? 'met' : 'MISSED'})`);
  }
  const signInScenario = memo.scenarios.find((s) => s.signIn);
  const ratio = signInScenario && ratioOf(memo, 'redis', signInScenario);
  if (ratio !== undefined) {
    lines.push(`sign-in on Redis: ${fmt(ratio, 2)} of the raw argon2id verify rate (target ≥ 0.9: ${ratio >= 0.9 ? 'met' : 'MISSED'})`);
  }
  if (memo.argon2) {
    const { memoryCost: m, timeCost: t, parallelism: p } = memo.argon2.cost;
    lines.push(`configured argon2id cost m=${m} KiB, t=${t}, p=${p} (target ≥ m=19456, t=2, p=1: ${m >= 19456 && t >= 2 && p >= 1 ? 'met' : 'MISSED'})`);
  }
  lines.push(...perCore(memo));
  if (memo.memory) {
    const steady = (memo.memory.total - memo.memory.codes) / memo.memory.sessions;
    lines.push(
      `Redis memory per active session with one app signed into: ${Math.round(steady)} bytes once the consumed code has expired, ${Math.round(memo.memory.perSession)} bytes right after sign-in (target < 2 KB = 2048 bytes: ${steady < 2048 ? 'met' : 'MISSED'}; breakdown below)`,
    );
  }
  return lines;
}

function memoryLines(memo) {
  const m = memo.memory;
  if (!m) return undefined;
  const perSession = (bytes) => `${Math.round(bytes / m.sessions)} bytes`;
  return {
    summary: [
      `${m.sessions} users of one tenant each signed in through the login form of one app (GET /auth → POST credentials → code → token exchange), ${m.failures} failed, in ${m.seconds.toFixed(1)} s; Redis ${m.redisVersion ?? '?'}.`,
      `Sum of MEMORY USAGE (SAMPLES 0) over every key those sign-ins created under the bench's prefix: ${m.total} bytes = ${perSession(m.total)} (${kib(m.perSession)}) per session, ${perSession(m.total - m.codes)} once the consumed codes have expired.`,
      ...m.groups.map(([group, bytes]) => `${group}: ${perSession(bytes)} per session`),
      `Cross-check: INFO used_memory grew by ${m.usedMemoryDelta} bytes = ${perSession(m.usedMemoryDelta)} per session (the whole Redis; noisy when it is shared).`,
      ...(m.refresh?.perRefresh === undefined
        ? []
        : [
            `Then one refresh in each of ${m.refresh.refreshed} sessions: its grant grew by ${Math.round(m.refresh.perRefresh)} bytes per refresh (the new access token, kept until it expires, 2 h by default; the refresh token it replaced leaves nothing behind, its sealed id tells a replay).`,
          ]),
    ],
    kinds: m.kinds.map((k) => [k.shape, k.group, String(k.keys), String(k.bytes), String(Math.round(k.bytes / m.sessions))]),
  };
}

/**
 * CPU time per expected answer: the server process, plus the Redis server for the Redis variant.
 * The baseline's over Atrium's is the throughput ratio the machine would give were the server alone
 * on its cores (requests/s shares the cores with the load generator and Redis, and moves with them).
 */
function cpuRows(memo) {
  const us = (n) => (n === undefined ? '—' : `${Math.round(n)}`);
  const out = [];
  for (const scenario of memo.scenarios) {
    const cost = (id) => {
      const run = memo.results[id]?.[scenario.id];
      if (!run || run.serverCpuUs === undefined) return undefined;
      return { server: run.serverCpuUs, redis: run.redisCpuUs, total: run.serverCpuUs + (run.redisCpuUs ?? 0) };
    };
    const redis = cost('redis');
    const sqlite = cost('sqlite');
    const base = memo.results.baseline?.[scenario.baselineOf ?? scenario.id];
    const baseTotal = base?.serverCpuUs;
    if (!redis && !sqlite && baseTotal === undefined) continue;
    const ratio = (c) => (c && baseTotal !== undefined && !scenario.signIn ? fmt(baseTotal / c.total, 2) : '—');
    out.push([scenario.label, us(redis?.server), us(redis?.redis), us(redis?.total), ratio(redis), us(sqlite?.total), ratio(sqlite), us(baseTotal)]);
  }
  return out;
}
const CPU_HEADER = ['scenario', 'Redis: server µs', 'Redis µs', 'total µs', 'ratio', 'SQLite µs', 'ratio', 'baseline µs'];
const CPU_NOTE =
  'CPU time per expected answer, in µs: the server process, plus (Redis variant) the Redis server. ratio: the baseline’s over Atrium’s, the requests/s ratio were each server alone on its cores. Measured over the timed run from /proc and INFO cpu (10 ms resolution).';

const pad = (cells, widths) => cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ');

function textTable(header, body) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...body.map((r) => String(r[i] ?? '').length)));
  return [pad(header, widths), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map((r) => pad(r, widths))].join('\n');
}

const mdTable = (header, body) => [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function settingsLine(memo) {
  const s = memo.settings;
  const rounds = s.rounds > 1 ? `${s.rounds} rounds of each scenario on every server in turn, each server's median round shown` : 'each scenario measured on the servers in turn';
  return `${s.duration} s per scenario (plus ${s.warmup} s warm-up; one-use request pools sized by pilot runs), ${s.connections} connections (sign-in ${s.signInConnections}), one process per server (Node flags \`${memo.settings.nodeFlags.join(' ')}\`, as Atrium's servers run, for the baseline too), ${rounds}, autocannon in a separate process on the same machine.`;
}

function machineLine(memo) {
  const m = memo.machine;
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.date}, commit ${m.commit}, load average before ${m.loadBefore}, after ${m.loadAfter ?? '?'}`;
}

export function renderConsole(memo) {
  const { rows: body, notes } = rows(memo);
  const out = [textTable(HEADER, body), '', ...footnotes(memo).map((f) => `  ${f}`)];
  if (notes.length) out.push('', '⚠ ERRORS:', ...notes.map((n) => `  ⚠ ${n}`));
  const cpu = cpuRows(memo);
  if (cpu.length) out.push('', 'CPU per request:', textTable(CPU_HEADER, cpu), `  ${CPU_NOTE}`);
  out.push('', 'Targets (reported, not asserted):', ...targets(memo).map((l) => `  ${l}`));
  const memory = memoryLines(memo);
  if (memory) out.push('', 'Redis memory per session:', ...memory.summary.map((l) => `  ${l}`), '', textTable(['key', 'for', 'keys', 'bytes', 'bytes/session'], memory.kinds));
  out.push('', `Machine: ${machineLine(memo)}`, `Run: ${settingsLine(memo)}`);
  return out.join('\n');
}

export function renderMarkdown(memo) {
  const { rows: body, notes } = rows(memo);
  const out = ['# Atrium benchmark', '', `Machine: ${machineLine(memo)}.`, '', `Run: ${settingsLine(memo)}`, '', mdTable(HEADER, body), '', ...footnotes(memo).map((f) => `- ${f}`)];
  if (notes.length) out.push('', '## ⚠ Errors', '', ...notes.map((n) => `- ⚠ ${n}`));
  const cpu = cpuRows(memo);
  if (cpu.length) out.push('', '## CPU per request', '', mdTable(CPU_HEADER, cpu), '', `- ${CPU_NOTE}`);
  out.push('', '## Targets (reported, not asserted)', '', ...targets(memo).map((l) => `- ${l}`));
  const memory = memoryLines(memo);
  if (memory) out.push('', '## Redis memory per active session', '', ...memory.summary.map((l) => `- ${l}`), '', mdTable(['key', 'for', 'keys', 'bytes', 'bytes/session'], memory.kinds.map((r) => [`\`${r[0]}\``, ...r.slice(1)])));
  if (memo.argon2) {
    const { perSecond, concurrency, cost } = memo.argon2;
    out.push('', '## argon2id', '', `Raw verify rate: ${fmt(perSecond)}/s with ${concurrency} verifies at once (m=${cost.memoryCost} KiB, t=${cost.timeCost}, p=${cost.parallelism}), in its own process, the servers idle: ${memo.argon2.roundsPerSecond?.length > 1 ? `the median of ${memo.argon2.roundsPerSecond.map((r) => fmt(r)).join(', ')}/s, measured before each round of the sign-in scenario; each round's sign-ins are compared with its own` : 'measured just before the sign-in scenario'}.`);
  }
  const detail = [];
  for (const target of TARGETS) {
    for (const scenario of memo.scenarios) {
      const run = memo.results[target.id]?.[scenario.id];
      if (!run) continue;
      const statuses = Object.entries(run.statuses).map(([c, n]) => `${c}×${n}`).join(' ');
      const pool = run.pool ? `${run.pool.size} (pilot ${fmt(run.pool.pilotRps)}/s${run.pool.pilotProblems ? `, ⚠ ${run.pool.pilotProblems}` : ''})` : '—';
      const rounds = run.roundsRps ? run.roundsRps.map((rps) => fmt(rps)).join(', ') : '—';
      detail.push([target.label, scenario.label, String(run.requests), fmt(run.seconds), fmt(run.rps), rounds, String(run.p50), String(run.p90), String(run.p99), String(run.max), String(run.connections), statuses, String(run.errors), pool]);
    }
  }
  out.push('', '## Every run', '', mdTable(['server', 'scenario', 'requests', 's', 'req/s', 'every round req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'conns', 'statuses', 'errors', 'one-use pool'], detail));
  const rss = TARGETS.filter((t) => memo.results[t.id]?.rssMiB).map((t) => `${t.label} ${memo.results[t.id].rssMiB} MiB`);
  if (rss.length) out.push('', `Server RSS at the end: ${rss.join(', ')}.`);
  return `${out.join('\n')}\n`;
}

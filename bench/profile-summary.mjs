#!/usr/bin/env node
/**
 * Summarises the profiles `BENCH_PROFILE_DIR` writes: where a server's time (.cpuprofile) or its
 * allocations (.heapprofile) went, by function or by package, per request when given the run's
 * request count, and beside a second profile (the baseline's, say) when given one.
 *
 *   node bench/profile-summary.mjs redis-refresh.cpuprofile [--requests N]
 *        [--by function|package] [--top 30] [--against baseline-refresh.cpuprofile --against-requests M]
 *
 * CPU profiles are sampled by wall time: a sample of the main thread while another thread of the
 * machine had its core is counted where it was preempted (system calls that wake another process,
 * such as socket writes, look dearer than they are). The bench's "CPU per request" table is the
 * measure of cost; profiles say where it goes.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string' },
    by: { type: 'string', default: 'function' },
    top: { type: 'string', default: '30' },
    against: { type: 'string' },
    'against-requests': { type: 'string' },
  },
});
if (positionals.length !== 1 || !['function', 'package'].includes(values.by)) {
  process.stderr.write('usage: node bench/profile-summary.mjs FILE [--requests N] [--by function|package] [--top N] [--against FILE --against-requests M]\n');
  process.exit(2);
}

const packageOf = (url) => {
  if (!url) return '(native)';
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1];
  if (url.includes('/dist/')) return `atrium ${url.slice(url.indexOf('/dist/') + 6)}`;
  return url.startsWith('node:') ? url : url.split('/').slice(-2).join('/');
};
const nameOf = ({ functionName, url, lineNumber }) =>
  values.by === 'package' ? (url ? packageOf(url) : `(native) ${functionName}`) : `${functionName || '(anonymous)'} ${packageOf(url)}:${lineNumber + 1}`;

/** Self time (µs) or self allocation (bytes) by name, and the unit. */
function load(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const totals = new Map();
  const add = (name, amount) => totals.set(name, (totals.get(name) ?? 0) + amount);
  if (profile.head) {
    const walk = (node) => {
      add(nameOf(node.callFrame), node.selfSize);
      node.children.forEach(walk);
    };
    walk(profile.head);
    return { totals, unit: 'bytes' };
  }
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, i) => add(nameOf(nodes.get(id).callFrame), profile.timeDeltas[i] ?? 0));
  totals.delete(nameOf({ functionName: '(idle)', url: '', lineNumber: -1 }));
  return { totals, unit: 'µs' };
}

const perRequest = (totals, requests) => new Map([...totals].map(([name, amount]) => [name, requests ? amount / requests : amount]));
const sum = (totals) => [...totals.values()].reduce((a, b) => a + b, 0);
const main = load(positionals[0]);
const a = perRequest(main.totals, Number(values.requests) || 0);
const b = values.against ? perRequest(load(values.against).totals, Number(values['against-requests']) || 0) : undefined;
const unit = `${main.unit}${values.requests ? ' per request' : ''}`;
const format = (n) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1)).padStart(10);

process.stdout.write(`${unit}${main.unit === 'µs' ? ', busy only (idle left out)' : ''}, in all: ${format(sum(a)).trim()}${b ? `, against ${format(sum(b)).trim()}` : ''}\n`);
const names = [...new Set([...a.keys(), ...(b?.keys() ?? [])])];
const rows = names
  .map((name) => ({ name, here: a.get(name) ?? 0, there: b?.get(name) ?? 0 }))
  .sort((x, y) => (b ? Math.abs(y.here - y.there) - Math.abs(x.here - x.there) : y.here - x.here))
  .slice(0, Number(values.top));
for (const { name, here, there } of rows) {
  process.stdout.write(b ? `${format(here)}${format(there)}${format(here - there)}  ${name}\n` : `${format(here)}  ${name}\n`);
}

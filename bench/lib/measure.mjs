/** One autocannon run, summarised: requests/s of expected answers, latency percentiles, and every error. */
import autocannon from 'autocannon';

/**
 * `request`: { method, path, headers, body }. `items`: per-request overrides ({ path?, headers?, body? });
 * one-use unless `cycle`. Runs `duration` seconds, or exactly `amount` requests.
 */
export function measure({ origin, request, expect, connections, duration, amount, items, cycle = false }) {
  return new Promise((resolve, reject) => {
    const opts = { url: origin, connections: amount ? Math.min(connections, amount) : connections, pipelining: 1, timeout: 10 };
    if (amount) opts.amount = amount;
    else opts.duration = duration;

    let next = 0;
    let sample;
    // The first unexpected answer, to say what went wrong.
    const onResponse = (status, body) => {
      if (status !== expect && sample === undefined) sample = `HTTP ${status}: ${String(body).replace(/\s+/g, ' ').slice(0, 300)}`;
    };
    if (items) {
      if (items.length === 0) throw new Error('no request items');
      opts.requests = [
        {
          ...request,
          onResponse,
          setupRequest: (req) => {
            // An exhausted one-use pool repeats its last item (answered with an error, and counted).
            const item = items[cycle ? next % items.length : Math.min(next, items.length - 1)];
            next += 1;
            return { ...req, ...item, headers: { ...req.headers, ...item.headers } };
          },
        },
      ];
    } else {
      opts.requests = [{ ...request, onResponse }];
    }

    let responses = 0;
    let last = 0;
    const started = performance.now();
    const instance = autocannon(opts, (err, result) => {
      if (err) {
        reject(err);
        return;
      }
      const seconds = ((last || performance.now()) - started) / 1000;
      const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]));
      const ok = statuses[expect] ?? 0;
      const unexpected = responses - ok;
      resolve({
        requests: responses,
        ok,
        seconds,
        rps: seconds > 0 ? ok / seconds : 0,
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
        statuses,
        unexpected,
        errors: result.errors,
        timeouts: result.timeouts,
        overrun: !cycle && items ? Math.max(0, next - items.length) : 0,
        connections: opts.connections,
        sample,
      });
    });
    instance.on('response', () => {
      responses += 1;
      last = performance.now();
    });
  });
}

/** What went wrong in a run, or '' when nothing did. */
export function problems(run, expect) {
  if (!run) return '';
  const parts = [];
  for (const [code, count] of Object.entries(run.statuses)) if (Number(code) !== expect) parts.push(`${count}× HTTP ${code}`);
  if (run.timeouts) parts.push(`${run.timeouts}× timeout`);
  if (run.errors - run.timeouts > 0) parts.push(`${run.errors - run.timeouts}× connection error`);
  if (run.overrun) parts.push(`request pool exhausted (${run.overrun} repeats)`);
  if (run.sample) parts.push(`first: ${run.sample}`);
  return parts.join(', ');
}

/**
 * Child processes of the bench, spoken to over Node's IPC channel: the parent asks `{ id, cmd, args }`,
 * the child answers `{ id, result }` or `{ id, error }`. A child says `{ ready: info }` once it listens.
 * Commands run on the child's event loop only between measurements, never during one.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import inspector from 'node:inspector';

/** Parent side: starts `file` with `env`, resolves with `{ info, call, stop, pid }` once the child is ready. */
export function startChild(file, { env, execArgv = [], name = file, readyTimeoutMs = 300_000 } = {}) {
  const child = fork(file, [], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map();
  let nextId = 0;
  let exited = false;

  const failAll = (err) => {
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not start within ${readyTimeoutMs / 1000} s`));
      child.kill('SIGKILL');
    }, readyTimeoutMs);

    child.on('exit', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      const err = new Error(`${name} exited (code ${code}, signal ${signal})`);
      reject(err);
      failAll(err);
    });

    child.on('message', (message) => {
      if (message && 'ready' in message) {
        clearTimeout(timer);
        resolve({ info: message.ready, call, stop, pid: child.pid });
        return;
      }
      const waiter = pending.get(message?.id);
      if (!waiter) return;
      pending.delete(message.id);
      if ('error' in message) waiter.reject(new Error(`${name}: ${message.error}`));
      else waiter.resolve(message.result);
    });

    function call(cmd, args = {}) {
      if (exited) return Promise.reject(new Error(`${name} is not running`));
      const id = (nextId += 1);
      return new Promise((res, rej) => {
        pending.set(id, { resolve: res, reject: rej });
        child.send({ id, cmd, args });
      });
    }

    /** Asks the child to close and exit; kills it (this child, by its pid) if it has not within 15 s. */
    async function stop() {
      if (exited) return;
      const gone = new Promise((res) => child.once('exit', res));
      call('close').catch(() => undefined);
      const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timeout);
    }
  });
}

/**
 * CPU profiling of this process on the parent's command (`BENCH_PROFILE_DIR`): `profileStart`, then
 * `profileStop({ file })` writes what ran in between, so a profile holds one measured run only.
 * With `BENCH_PROFILE_KIND=heap`, a sampling heap profile instead: every allocation of the run,
 * including what the garbage collector freed since (what makes its work), by allocating function.
 */
function profiler() {
  let session;
  const heap = process.env.BENCH_PROFILE_KIND === 'heap';
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  return {
    async profileStart() {
      session ??= new inspector.Session();
      session.connect();
      if (heap) {
        await post('HeapProfiler.enable');
        const collected = { includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
        await post('HeapProfiler.startSampling', { samplingInterval: 4096, ...collected });
        return;
      }
      await post('Profiler.enable');
      await post('Profiler.start');
    },
    async profileStop({ file }) {
      const { profile } = await post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop');
      session.disconnect();
      writeFileSync(file, JSON.stringify(profile));
    },
  };
}

/** Child side: answers the parent's commands with `handlers`, and tells it `info` when ready. */
export function serveParent(ownHandlers, info) {
  const handlers = { ...profiler(), ...ownHandlers };
  process.on('message', async (message) => {
    const { id, cmd, args } = message ?? {};
    const handler = handlers[cmd];
    try {
      if (!handler) throw new Error(`unknown command ${cmd}`);
      const result = await handler(args ?? {});
      process.send({ id, result: result ?? null });
    } catch (err) {
      process.send({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  // The parent going away ends the child too (no orphaned servers).
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: info });
}

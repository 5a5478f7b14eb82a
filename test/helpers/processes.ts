/** Real Atrium server processes (the built dist/, as `npm start` runs it) for process-level tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './redis-servers.js';
import { SERVER_NODE_FLAGS } from '../../src/server.js';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const CLI = fileURLToPath(new URL('../../bin/atrium.js', import.meta.url));

export interface AtriumProcess {
  child: ChildProcess;
  base: string;
  port: number;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `node <script> …args` with the environment given, waiting until /healthz answers. */
export async function startProcess(env: Record<string, string>, options: { args?: string[]; port?: number } = {}): Promise<AtriumProcess> {
  const port = options.port ?? (await freePort());
  let output = '';
  // By default as `npm start` runs it: dist/main.js with the server's V8 flags.
  const child = spawn(process.execPath, options.args ?? [...SERVER_NODE_FLAGS, MAIN], {
    env: { ...process.env, ATRIUM_WORKERS: '1', ATRIUM_LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i += 1) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) return { child, base, port, output: () => output, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`server did not start: ${output}`);
}

/** Real Atrium server processes (the built dist/, as `npm start` runs it) for process-level tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './redis-servers.js';
import { SERVER_NODE_FLAGS } from '../../src/server.js';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const CLI = fileURLToPath(new URL('../../bin/atrium.js', import.meta.url));
export const DEMO = fileURLToPath(new URL('../../dist/demo/index.js', import.meta.url));

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

/** What a process that ran to its end did: its exit code (or the signal that ended it) and output. */
export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Node's flags for a diagnostic report on SIGUSR2, written to stderr. */
const REPORT_FLAGS = ['--report-on-signal', '--report-signal=SIGUSR2', '--report-filename=stderr'];

/** Where a hung process was, from its diagnostic report: stacks and open libuv handles. */
function summariseReport(stderr: string): string {
  const start = stderr.indexOf('{\n  "header"');
  if (start < 0) return `${stderr}\n(no diagnostic report: its main thread did not answer SIGUSR2)`;
  try {
    const report = JSON.parse(stderr.slice(start, stderr.lastIndexOf('}') + 1)) as {
      javascriptStack?: { message?: string; stack?: string[] };
      nativeStack?: { symbol?: string }[];
      libuv?: { type: string; is_active?: boolean; address?: string }[];
    };
    return [
      stderr.slice(0, start).trim(),
      'HUNG — diagnostic report:',
      `javascript: ${report.javascriptStack?.message ?? ''}\n  ${(report.javascriptStack?.stack ?? []).join('\n  ')}`,
      `native:\n  ${(report.nativeStack ?? []).slice(0, 20).map((f) => f.symbol).join('\n  ')}`,
      `active handles: ${(report.libuv ?? []).filter((h) => h.is_active).map((h) => h.type).join(', ')}`,
    ].join('\n');
  } catch {
    return stderr;
  }
}

/**
 * Runs `node …args` to its end, as spawnSync would, but a process still running after `timeoutMs`
 * is first asked for a diagnostic report (its stacks and open handles, put in `stderr`), then
 * killed: a hang says where it hung.
 */
export function runToExit(args: string[], env: Record<string, string | undefined>, timeoutMs = 20_000): Promise<Finished> {
  const child = spawn(process.execPath, [...REPORT_FLAGS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGUSR2');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr: hung ? summariseReport(stderr) : stderr });
    });
  });
}

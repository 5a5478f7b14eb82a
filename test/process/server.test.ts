/** The real server process (dist/main.js, built by `npm test`): first start, restart, SIGTERM. */
import { describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { testStoreConfig } from '../helpers/stores.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

async function start(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string; base: string }> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env, PORT: String(port), ATRIUM_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i += 1) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (ok) return { child, output: () => output, base };
    await sleep(100);
  }
  throw new Error(`server did not start: ${output}`);
}

const stop = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

describe('the server process', () => {
  it('prints a generated platform admin password on the first start only, and stops cleanly on SIGTERM', async () => {
    const { config, cleanup } = testStoreConfig('sqlite');
    const env = { ATRIUM_DATA_DIR: (config as { dataDir: string }).dataDir, ATRIUM_ADMIN_PASSWORD: '' };
    try {
      const first = await start(env);
      expect(first.output()).toMatch(/Platform admin created\. Sign in with organisation "platform", username "admin", password: [A-Za-z0-9_-]{24}/);
      expect((await fetch(`${first.base}/readyz`)).status).toBe(200);
      expect(await stop(first.child)).toBe(0);

      const second = await start(env);
      expect(second.output()).not.toContain('Platform admin created');
      expect(await stop(second.child)).toBe(0);
    } finally {
      await cleanup();
    }
  });

  it('refuses to start in production with an http issuer, in one line', async () => {
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, NODE_ENV: 'production', ATRIUM_ISSUER: 'http://sso.test' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('refusing to start in production with an http issuer');
    expect(err.trim().split('\n').filter((l) => !l.includes('Unsupported runtime'))).toHaveLength(1);
  });
});

/**
 * Atomicity across processes: several OS processes share one store and race to consume the same
 * record; exactly one wins. Runs the built driver (dist/, built by `npm test`) in child processes.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ALL_TOPOLOGIES, openTestStore } from '../helpers/stores.js';
import type { StoreConfig } from '../../src/config/index.js';

const STORE_INDEX = fileURLToPath(new URL('../../dist/store/index.js', import.meta.url));

const CHILD = `
  const { createStore } = await import(process.argv[1]);
  const store = await createStore(JSON.parse(process.argv[2]));
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.consume('race:code', String(process.pid).padStart(8, '0') + ':' + i)));
  await store.close();
  process.stdout.write(String(results.filter(Boolean).length));
`;

const runChild = (config: StoreConfig): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, STORE_INDEX, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(err))));
  });

describe.each(ALL_TOPOLOGIES)('the %s store across processes', (driver) => {
  it('lets exactly one of four processes, ten attempts each, consume a record', async () => {
    const t = await openTestStore(driver);
    try {
      await t.store.set('race:code', '0000000000{}', { ttl: 60 });
      const wins = await Promise.all(Array.from({ length: 4 }, () => runChild(t.config)));
      expect(wins.reduce((a, b) => a + b, 0)).toBe(1);
      expect(await t.store.get('race:code')).toMatch(/^\d{8}:\d\{\}$/);
    } finally {
      await t.dispose();
    }
  });
});

/**
 * The raw argon2id verify rate at Atrium's configured cost (config/default.json + ATRIUM_CONFIG):
 * the physical limit of password sign-ins on this machine. Verifies with as many at once as there
 * are cores, for BENCH_ARGON2_SECONDS (default 5) after a one-second warm-up, in its own process.
 */
import { availableParallelism } from 'node:os';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { loadConfig } from '../../dist/config/index.js';
import { serveParent } from './child.mjs';

const cost = loadConfig(process.env).password;
const options = { algorithm: 2 /* argon2id */, ...cost };
const concurrency = availableParallelism();
const hash = await argon2Hash('bench password: violet kettle harbour 42', options);

async function verifyFor(ms) {
  let count = 0;
  const started = performance.now();
  const end = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        if (!(await argon2Verify(hash, 'bench password: violet kettle harbour 42'))) throw new Error('argon2 verify failed');
        count += 1;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

serveParent(
  {
    async measure({ seconds }) {
      await verifyFor(1000);
      return { perSecond: await verifyFor(seconds * 1000), concurrency, cost };
    },
    close() {
      setImmediate(() => process.exit(0));
    },
  },
  { cost, concurrency },
);

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/index.js';


/** A temporary folder for config files, removed after the file's tests. */
const configDirs: string[] = [];
const configDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'atrium-config-'));
  configDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of configDirs) rmSync(dir, { recursive: true, force: true });
});

describe('configuration', () => {
  it('defaults to the embedded store under ./data, on port 3000, with an http://localhost issuer', () => {
    const config = loadConfig({});
    expect(config.store).toEqual({ driver: 'sqlite', dataDir: './data' });
    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.ttl.accessToken).toBe(7200);
    expect(config.ttl.authorizationCode).toBeLessThanOrEqual(60);
    expect(config.ttl.refreshToken).toBe(30 * 24 * 3600);
    expect(config.signingAlg).toBe('RS256');
  });

  it('uses Redis when ATRIUM_REDIS_URL is set', () => {
    const config = loadConfig({ ATRIUM_REDIS_URL: 'rediss://cache.internal:6380/2', ATRIUM_DATA_DIR: '/ignored' });
    expect(config.store).toEqual({ driver: 'redis', url: 'rediss://cache.internal:6380/2', keyPrefix: 'atrium:' });
  });

  it('uses Redis Sentinel when ATRIUM_REDIS_SENTINELS is set, with credentials from ATRIUM_REDIS_URL', () => {
    const config = loadConfig({ ATRIUM_REDIS_SENTINELS: 's1.internal:26379, [::1]:26380', ATRIUM_REDIS_SENTINEL_NAME: 'atrium', ATRIUM_REDIS_URL: 'redis://:pw@sentinel/1' });
    expect(config.store).toEqual({
      driver: 'redis',
      url: 'redis://:pw@sentinel/1',
      keyPrefix: 'atrium:',
      sentinel: { name: 'atrium', nodes: [{ host: 's1.internal', port: 26379 }, { host: '::1', port: 26380 }] },
    });
    expect(loadConfig({ ATRIUM_REDIS_SENTINELS: 's1:26379' }).store).toMatchObject({ sentinel: { name: 'mymaster' } });
  });

  it('uses Redis Cluster when ATRIUM_REDIS_CLUSTER_NODES is set', () => {
    const config = loadConfig({ ATRIUM_REDIS_CLUSTER_NODES: 'r1:7000,r2:7001', ATRIUM_REDIS_PREFIX: 'sso:' });
    expect(config.store).toEqual({ driver: 'redis', url: 'redis://', keyPrefix: 'sso:', cluster: { nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }] } });
  });

  it('reads PORT, ATRIUM_ISSUER, ATRIUM_DATA_DIR and ATRIUM_SIGNING_ALG', () => {
    const config = loadConfig({ PORT: '8080', ATRIUM_ISSUER: 'https://sso.acme.test/', ATRIUM_DATA_DIR: '/var/lib/atrium', ATRIUM_SIGNING_ALG: 'ES256' });
    expect(config.port).toBe(8080);
    expect(config.issuer).toBe('https://sso.acme.test');
    expect(config.store).toEqual({ driver: 'sqlite', dataDir: '/var/lib/atrium' });
    expect(config.signingAlg).toBe('ES256');
  });

  it('takes an empty variable as unset', () => {
    const empty = loadConfig({ PORT: '', ATRIUM_TRUST_PROXY_HOPS: '', ATRIUM_ISSUER: '', ATRIUM_LOG_LEVEL: '' });
    expect([empty.port, empty.trustProxyHops, empty.issuer, empty.logLevel]).toEqual([3000, 0, 'http://localhost:3000', 'info']);
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '0' }, /PORT must be a port number from 1 to 65535/],
    [{ ATRIUM_METRICS_TOKEN: 'short' }, /ATRIUM_METRICS_TOKEN must be at least 16/],
    [{ ATRIUM_ISSUER: 'not a url' }, /ATRIUM_ISSUER/],
    [{ ATRIUM_ISSUER: 'https://sso.test/?x=1' }, /ATRIUM_ISSUER/],
    [{ ATRIUM_REDIS_URL: 'http://cache:6379' }, /ATRIUM_REDIS_URL/],
    [{ ATRIUM_REDIS_CLUSTER_NODES: 'r1' }, /ATRIUM_REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
    [{ ATRIUM_REDIS_SENTINELS: 's1:99999' }, /ATRIUM_REDIS_SENTINELS/],
    [{ ATRIUM_REDIS_SENTINELS: 's1:26379', ATRIUM_REDIS_URL: 'redis://:pw@/0' }, /not a valid URL/],
    [{ ATRIUM_REDIS_SENTINELS: 's1:26379', ATRIUM_REDIS_CLUSTER_NODES: 'r1:7000' }, /not both/],
    [{ ATRIUM_REDIS_URL: 'redis://c:6379', ATRIUM_REDIS_PREFIX: '{atrium}:' }, /ATRIUM_REDIS_PREFIX/],
    [{ ATRIUM_SIGNING_ALG: 'HS256' }, /ATRIUM_SIGNING_ALG/],
    [{ ATRIUM_COOKIE_KEYS: 'short' }, /cookie key/],
  ])('refuses %j with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('refuses a code lifetime over 60 s and an argon2 cost under the floor from a config file', () => {
    const dir = configDir();
    const long = join(dir, 'long.json');
    writeFileSync(long, JSON.stringify({ ttl: { authorizationCode: 120 } }));
    expect(() => loadConfig({ ATRIUM_CONFIG: long })).toThrow(/ttl.authorizationCode/);
    const cheap = join(dir, 'cheap.json');
    writeFileSync(cheap, JSON.stringify({ password: { memoryCost: 4096 } }));
    expect(() => loadConfig({ ATRIUM_CONFIG: cheap })).toThrow(/password.memoryCost/);
  });

  it('re-reads signing keys every 30 s and activates a rotated one after 120 s, and refuses an activation shorter than two reload periods and 10 s', () => {
    expect(loadConfig({}).keys).toEqual({ reloadSeconds: 30, activationDelaySeconds: 120 });
    const dir = configDir();
    const tight = join(dir, 'tight.json');
    writeFileSync(tight, JSON.stringify({ keys: { reloadSeconds: 60, activationDelaySeconds: 60 } }));
    expect(() => loadConfig({ ATRIUM_CONFIG: tight })).toThrow(/keys.activationDelaySeconds must be at least twice keys.reloadSeconds and 10 s more \(130\)/);
    const quick = join(dir, 'quick.json');
    writeFileSync(quick, JSON.stringify({ keys: { reloadSeconds: 5, activationDelaySeconds: 20 } }));
    expect(loadConfig({ ATRIUM_CONFIG: quick }).keys).toEqual({ reloadSeconds: 5, activationDelaySeconds: 20 });
    const rare = join(dir, 'rare.json');
    writeFileSync(rare, JSON.stringify({ keys: { reloadSeconds: 600, activationDelaySeconds: 1300 } }));
    expect(() => loadConfig({ ATRIUM_CONFIG: rare })).toThrow(/keys.reloadSeconds/);
    const never = join(dir, 'never.json');
    writeFileSync(never, JSON.stringify({ keys: { reloadSeconds: 0, activationDelaySeconds: 20 } }));
    expect(() => loadConfig({ ATRIUM_CONFIG: never })).toThrow(/keys.reloadSeconds/);
  });

  it('hashes as many passwords at once as there are cores unless the config file says otherwise', () => {
    // As many as the cores, below the thread pool's 4 threads (this process did not set UV_THREADPOOL_SIZE).
    expect(process.env.UV_THREADPOOL_SIZE).toBeUndefined();
    expect(loadConfig({}).passwordHashing).toEqual({ concurrency: Math.min(availableParallelism(), 3), maxQueue: 200 });
    const dir = configDir();
    const fixed = join(dir, 'fixed.json');
    writeFileSync(fixed, JSON.stringify({ passwordHashing: { concurrency: 5, maxQueue: 10 } }));
    expect(loadConfig({ ATRIUM_CONFIG: fixed }).passwordHashing).toEqual({ concurrency: 5, maxQueue: 10 });
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ passwordHashing: { concurrency: 'many', maxQueue: 10 } }));
    expect(() => loadConfig({ ATRIUM_CONFIG: wrong })).toThrow(/passwordHashing.concurrency/);
  });

  describe('in production', () => {
    const keys = 'k'.repeat(40);

    it('refuses an http issuer unless told explicitly', () => {
      expect(() => loadConfig({ NODE_ENV: 'production', ATRIUM_COOKIE_KEYS: keys })).toThrow(/http issuer/);
      expect(loadConfig({ NODE_ENV: 'production', ATRIUM_COOKIE_KEYS: keys, ATRIUM_ALLOW_HTTP_ISSUER: 'true' }).issuer).toBe('http://localhost:3000');
    });

    it('refuses an http issuer written in capitals too, and keeps the issuer as clients compare it', () => {
      expect(() => loadConfig({ NODE_ENV: 'production', ATRIUM_COOKIE_KEYS: keys, ATRIUM_ISSUER: 'HTTP://SSO.acme.test' })).toThrow(/http issuer/);
      const https = { NODE_ENV: 'production', ATRIUM_COOKIE_KEYS: keys, ATRIUM_TRUST_PROXY_HOPS: '1' };
      expect(loadConfig({ ...https, ATRIUM_ISSUER: 'HTTPS://SSO.Acme.test:443/' }).issuer).toBe('https://sso.acme.test');
      expect(loadConfig({ ...https, ATRIUM_ISSUER: 'https://sso.acme.test:8443/idp/' }).issuer).toBe('https://sso.acme.test:8443/idp');
      expect(() => loadConfig({ ...https, ATRIUM_ISSUER: 'https://user:secret@sso.acme.test' })).toThrow(/without credentials/);
    });

    it('refuses an https issuer without a trusted proxy unless the number of proxies is set, to 0 on purpose too', () => {
      const https = { NODE_ENV: 'production', ATRIUM_COOKIE_KEYS: keys, ATRIUM_ISSUER: 'https://sso.acme.test' };
      expect(() => loadConfig(https)).toThrow(/ATRIUM_TRUST_PROXY_HOPS/);
      expect(() => loadConfig({ ...https, ATRIUM_TRUST_PROXY_HOPS: '' })).toThrow(/ATRIUM_TRUST_PROXY_HOPS/);
      expect(loadConfig({ ...https, ATRIUM_TRUST_PROXY_HOPS: '2' }).trustProxyHops).toBe(2);
      expect(loadConfig({ ...https, ATRIUM_TRUST_PROXY_HOPS: '0' }).trustProxyHops).toBe(0);
      const file = join(configDir(), 'proxies.json');
      writeFileSync(file, JSON.stringify({ trustProxyHops: 1 }));
      expect(loadConfig({ ...https, ATRIUM_CONFIG: file }).trustProxyHops).toBe(1);
      // Not in development, nor with an http issuer.
      expect(loadConfig({ ATRIUM_ISSUER: 'https://sso.acme.test' }).trustProxyHops).toBe(0);
    });

    it('refuses generated cookie keys unless told explicitly', () => {
      const https = { NODE_ENV: 'production', ATRIUM_ISSUER: 'https://sso.acme.test', ATRIUM_TRUST_PROXY_HOPS: '1' };
      expect(() => loadConfig(https)).toThrow(/cookie keys/);
      expect(loadConfig({ ...https, ATRIUM_ALLOW_GENERATED_COOKIE_KEYS: 'true' }).cookieKeys).toBeUndefined();
      expect(loadConfig({ ...https, ATRIUM_COOKIE_KEYS: `${keys},${'j'.repeat(40)}` }).cookieKeys).toHaveLength(2);
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { rotateSigningKeys } from '../../src/oidc/keys.js';
import { authorize, Browser } from '../helpers/browser.js';
import { aliceLogin, seedDirectory } from '../helpers/fixtures.js';
import { startAtrium, type TestServer } from '../helpers/atrium.js';
import { DRIVERS, openTestStore } from '../helpers/stores.js';

interface Jwks {
  keys: { kid: string; alg: string; d?: string }[];
}

describe.each(DRIVERS)('signing keys on the %s store', (driver) => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const idTokenKid = async (t: TestServer, seed: Awaited<ReturnType<typeof seedDirectory>>, alg?: string) => {
    const config = await oidc.discovery(new URL(t.issuer), seed.crm.app.clientId, seed.crm.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: 'https://crm.test/callback', scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = (await authorize(new Browser(t.issuer), url.href, aliceLogin)).location!;
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: 's' });
    const header = decodeProtectedHeader(tokens.id_token!);
    if (alg) expect(header.alg).toBe(alg);
    return header.kid!;
  };

  it('keeps keys in the store: a restart serves the same JWKS, a rotation signs with the new key and still publishes the old one', async () => {
    const first = await startAtrium(driver);
    servers.push(first);
    const seed = await seedDirectory(first.atrium.directory);
    const jwks1 = (await (await fetch(`${first.issuer}/jwks`)).json()) as Jwks;
    const kid1 = await idTokenKid(first, seed, 'RS256');
    expect(jwks1.keys.map((k) => k.kid)).toContain(kid1);

    // The same store again, as after a restart: same keys.
    const again = await startAtrium(driver, (c) => {
      c.store = first.atrium.config.store;
    });
    servers.push(again);
    expect(((await (await fetch(`${again.issuer}/jwks`)).json()) as Jwks).keys.map((k) => k.kid).sort()).toEqual(jwks1.keys.map((k) => k.kid).sort());

    await rotateSigningKeys(first.atrium.store, 3600);
    const rotated = await startAtrium(driver, (c) => {
      c.store = first.atrium.config.store;
    });
    servers.push(rotated);
    const jwks2 = (await (await fetch(`${rotated.issuer}/jwks`)).json()) as Jwks;
    expect(jwks2.keys).toHaveLength(4);
    expect(jwks2.keys.map((k) => k.kid)).toContain(kid1);
    expect(jwks2.keys.every((k) => k.d === undefined)).toBe(true);
    const kid2 = await idTokenKid(rotated, seed, 'RS256');
    expect(kid2).not.toBe(kid1);
  });

  it('drops a rotated-out key once its retirement time has passed', async () => {
    const t = await openTestStore(driver);
    try {
      const { loadSigningKeys } = await import('../../src/oidc/keys.js');
      const original = await loadSigningKeys(t.store);
      await rotateSigningKeys(t.store, 0.001);
      await new Promise((r) => setTimeout(r, 20));
      const live = await loadSigningKeys(t.store);
      expect(live).toHaveLength(2);
      expect(live.map((k) => k.jwk.kid)).not.toContain(original[0]!.jwk.kid);
    } finally {
      await t.dispose();
    }
  });

  it('signs with ES256 when configured', async () => {
    const t = await startAtrium(driver, (c) => {
      c.signingAlg = 'ES256';
    });
    servers.push(t);
    const seed = await seedDirectory(t.atrium.directory);
    await idTokenKid(t, seed, 'ES256');
  });
});

/** Small helpers shared by the bench's processes. */
import { createHash, randomBytes } from 'node:crypto';

/** PKCE pair used for every pooled authorization code (S256, as Atrium requires); parent and children share it. */
export const CODE_VERIFIER = 'atrium-bench-pkce-code-verifier-0123456789-abcdefghij';
export const CODE_CHALLENGE = createHash('sha256').update(CODE_VERIFIER).digest('base64url');

/** Runs `job(i)` for i in [0, count) with at most `concurrency` at once; results in order. */
export async function mapLimit(count, concurrency, job) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next;
      next += 1;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

export const basic = (clientId, secret) => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/**
 * Authorization codes and refresh tokens made through the provider's own models, shaped as its
 * authorization and token endpoints make them: one grant per item (as one sign-in per app makes),
 * PKCE S256 on codes, refresh tokens as a code exchange issues them (gty authorization_code,
 * rotations 0). The token endpoint then redeems them for real: client authentication, PKCE,
 * grant and account checks, rotation.
 */
export function createMinter(provider, { clientId, redirectUri, scope, accountIds }) {
  const grantFor = async (accountId) => {
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope(scope);
    return grant.save();
  };
  const common = async (i) => {
    const client = await provider.Client.find(clientId);
    if (!client) throw new Error(`client ${clientId} not found`);
    const accountId = accountIds[i % accountIds.length];
    const grantId = await grantFor(accountId);
    return { accountId, client, grantId, scope, amr: ['pwd'], authTime: Math.floor(Date.now() / 1000), sessionUid: randomBytes(16).toString('base64url') };
  };
  return {
    codes: (count) =>
      mapLimit(count, 64, async (i) => new provider.AuthorizationCode({ ...(await common(i)), redirectUri, codeChallenge: CODE_CHALLENGE, codeChallengeMethod: 'S256' }).save()),
    refreshTokens: (count) =>
      mapLimit(count, 64, async (i) => new provider.RefreshToken({ ...(await common(i)), gty: 'authorization_code', rotations: 0 }).save()),
  };
}

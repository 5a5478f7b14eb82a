/**
 * Client secrets are stored only as SHA-256 digests, so the provider cannot compare a presented
 * secret with a stored one. Its client authentication ends in `Client#compareClientSecret(actual)`,
 * a method of the provider's public `Client` class; we replace that one method so that it hashes
 * the presented secret and compares digests in constant time. Every other step of client
 * authentication (methods, parsing, errors) stays the provider's.
 *
 * Why not another way: the provider has no configuration hook for secret comparison, and
 * rewriting request bodies and Basic headers before the provider parses them would duplicate its
 * parsing. Symmetric uses of the secret (client_secret_jwt, HS* algorithms) are disabled, so the
 * digest is never used as a key.
 */
import type Provider from 'oidc-provider';
import { secretMatches } from '../directory/ids.js';

export function compareHashedClientSecrets(provider: Provider): void {
  const prototype = provider.Client.prototype as unknown as {
    clientSecret?: string;
    compareClientSecret(actual: string): Promise<boolean> | boolean;
  };
  prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return typeof this.clientSecret === 'string' && typeof actual === 'string' && secretMatches(actual, this.clientSecret);
  };
}

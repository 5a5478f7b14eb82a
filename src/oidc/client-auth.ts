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
 *
 * After a secret rotation the previous digest is accepted too, until its grace period ends.
 */
import type Provider from 'oidc-provider';
import { secretMatches } from '../directory/ids.js';
import { clientMetadata, PREVIOUS_SECRET, PREVIOUS_SECRET_UNTIL } from './clients.js';

export function compareHashedClientSecrets(provider: Provider): void {
  interface ClientWithSecret {
    clientSecret?: string;
    metadata(): Record<string, unknown>;
    compareClientSecret(actual: string): Promise<boolean> | boolean;
  }
  const prototype = provider.Client.prototype as unknown as ClientWithSecret;
  prototype.compareClientSecret = function compareClientSecret(this: ClientWithSecret, actual: string) {
    if (typeof actual !== 'string' || typeof this.clientSecret !== 'string') return false;
    const current = secretMatches(actual, this.clientSecret);
    const metadata = clientMetadata(this);
    const previous = metadata[PREVIOUS_SECRET];
    const until = metadata[PREVIOUS_SECRET_UNTIL];
    const stillValid = typeof previous === 'string' && typeof until === 'number' && until > Date.now() / 1000;
    // Both comparisons always run, so timing says nothing about which secret matched.
    const old = stillValid ? secretMatches(actual, previous) : secretMatches(actual, this.clientSecret);
    return current || (stillValid && old);
  };
}

/**
 * Modules internal to oidc-provider that Atrium uses, which have no types of their own.
 * package.json takes patch releases only (`~9.13`): should one move, its import fails at start-up
 * and in every test, never silently.
 */

/** The provider's own AsyncLocalStorage (what `Provider.ctx` reads). See src/request-context.ts. */
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';

  const als: AsyncLocalStorage<object>;
  export default als;
}

/**
 * What the provider's constructor does with `configuration.jwks`: validates the keys and makes them
 * the provider's keystore and published JWKS. Called on a running provider to replace its signing
 * keys (see src/oidc/keys.ts); it throws on a key it refuses before it replaces anything.
 */
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  import type Provider from 'oidc-provider';

  export default function initializeKeystore(this: Provider, jwks: { keys: object[] }): void;
}

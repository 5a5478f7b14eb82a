/**
 * oidc-provider's own AsyncLocalStorage (what `Provider.ctx` reads): the module is internal, so it
 * has no types of its own. See src/request-context.ts.
 */
declare module 'oidc-provider/lib/helpers/als.js' {
  import type { AsyncLocalStorage } from 'node:async_hooks';

  const als: AsyncLocalStorage<object>;
  export default als;
}

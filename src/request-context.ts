/**
 * The HTTP request the current code runs for, carried across awaits by oidc-provider's own
 * AsyncLocalStorage (the one `Provider.ctx` reads), entered for every request, not only for the
 * provider's routes.
 *
 * Why not an AsyncLocalStorage of Atrium's own: on Node 20 every enabled AsyncLocalStorage adds its
 * own work and a property to every promise the process makes, and a request makes well over a
 * hundred. The provider's storage is enabled anyway; sharing it keeps that cost single. Its module
 * is internal to oidc-provider (package.json takes patch releases only, `~9.13`): should it move,
 * this import fails at start-up and in every test, never silently; test/directory/records.test.ts
 * checks that `Provider.ctx` is the request this module runs.
 */
import als from 'oidc-provider/lib/helpers/als.js';

/** Runs `fn` for `request` (the Koa context; any object outside HTTP, as tests do). */
export const runInRequest = <T>(request: object, fn: () => T): T => als.run(request, fn);

/** The request the running code is for: undefined outside one (the CLI, start-up, timers). */
export const currentRequest = (): object | undefined => als.getStore();

/** A Store that times every operation and counts failures, for /metrics. */
import type { Store } from './store.js';

export interface StoreMeter {
  observe(operation: string, seconds: number): void;
  failed(operation: string): void;
}

export function meteredStore(store: Store, meter: StoreMeter): Store {
  // One wrapper per operation, made on first use (not one closure per call).
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      const known = wrapped.get(property);
      if (known) return known;
      const operation = String(property);
      const run = value as (...a: unknown[]) => Promise<unknown>;
      // Plain callbacks on the operation's own promise: no extra async frame per store call.
      const wrapper = (...args: unknown[]): Promise<unknown> => {
        const started = performance.now();
        let result: Promise<unknown>;
        try {
          result = run.apply(target, args);
        } catch (err) {
          meter.failed(operation);
          return Promise.reject(err as Error);
        }
        return result.then(
          (answer) => {
            meter.observe(operation, (performance.now() - started) / 1000);
            return answer;
          },
          (err: unknown) => {
            meter.failed(operation);
            meter.observe(operation, (performance.now() - started) / 1000);
            throw err;
          },
        );
      };
      wrapped.set(property, wrapper);
      return wrapper;
    },
  });
}

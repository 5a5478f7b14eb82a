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
      const wrapper = async (...args: unknown[]) => {
        const started = process.hrtime.bigint();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          meter.failed(operation);
          throw err;
        } finally {
          meter.observe(operation, Number(process.hrtime.bigint() - started) / 1e9);
        }
      };
      wrapped.set(property, wrapper);
      return wrapper;
    },
  });
}

import type { TandemError } from '../../errors.js';

/**
 * Wraps an engine object so that every error leaving one of its methods, thrown or rejected, passes through the
 * engine's error mapping: the layers above only ever see TandemErrors whose `retriable` decides retries.
 */
export function mappingErrors<T extends object>(target: T, map: (err: unknown, context: string) => TandemError, what: string): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      const context = `${what}: ${String(prop)}`;
      return (...args: unknown[]) => {
        try {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(obj, args);
          if (result instanceof Promise) return result.catch((err: unknown) => Promise.reject(map(err, context)));
          return result;
        } catch (err) {
          throw map(err, context);
        }
      };
    },
  });
}

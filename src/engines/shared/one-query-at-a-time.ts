/**
 * Queues the `query` calls of one connection so that they run one after another. The verifier's background passes,
 * its re-checks and a multi-table `tandem verify` share a reader's connection from concurrent tasks; node-postgres
 * only tolerates concurrent queries on one client with a deprecation warning (an error from pg 9 on), and mysql2
 * serializes them implicitly. Queuing here states the order instead of relying on either.
 */
export function oneQueryAtATime<C extends object>(conn: C): C {
  let tail: Promise<unknown> = Promise.resolve();
  return new Proxy(conn, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop !== 'query') return fn.bind(target);
      return (...args: unknown[]) => {
        const run = tail.then(() => fn.apply(target, args));
        tail = run.catch(() => undefined);
        return run;
      };
    },
  });
}

/**
 * `callStore`: calls one method of an express-session store and turns whatever style it answers
 * in (a Node callback, a returned Promise, or both) into one Promise, bounded by a timeout.
 * @internal
 * @module
 */
import { StorageError, describeCause } from '../../errors';

/** The Node-style callback every express-session store method takes last. */
export type StoreCallback = (err?: unknown, value?: unknown) => void;

/**
 * Runs `invoke` with a callback and settles with whichever answer comes first: the callback, or the
 * Promise the method returned (deferred by one macrotask, so a store that does both is heard through
 * its callback, which carries the value). A second answer is ignored; a method that throws rejects.
 * Every failure, and no answer within `timeout` ms, becomes a `StorageError` naming `operation`.
 * @internal
 */
export function callStore(storage: string, operation: string, timeout: number, invoke: (callback: StoreCallback) => unknown): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settle(new StorageError(storage, operation, `the express-session store did not answer within ${timeout} ms (options.timeout); is its backend reachable?`));
    }, timeout);
    timer.unref();

    function settle(err: unknown, value?: unknown): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err instanceof StorageError ? err : new StorageError(storage, operation, describeCause(err), { cause: err }));
      else resolve(value);
    }

    let returned: unknown;
    try {
      returned = invoke((err, value) => settle(err, value));
    } catch (err) {
      settle(err ?? new Error('the store method threw a falsy value'));
      return;
    }
    if (isThenable(returned)) {
      returned.then(
        (value) => setImmediate(() => settle(undefined, value)),
        (err: unknown) => setImmediate(() => settle(err ?? new Error('the store method rejected with a falsy value'))),
      );
    }
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

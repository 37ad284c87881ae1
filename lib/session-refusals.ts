/**
 * The promise API refuses express-session-style use, loudly: a callback given to one of its
 * methods would never be called (Passport's `req.session.regenerate(cb)` would hang for ever), and
 * express-session's `save`/`destroy`/`reload`/`touch` do not exist here. Both get a
 * `SessionStateError` that points to `sessionware/express-session`, the drop-in for such code.
 * Installed on `Session.prototype` by `session.ts` ({@link installRefusals}).
 * @module
 */
import { SessionStateError } from './errors';

/** express-session's methods on sessionware's `Session`: each refuses, naming what to do instead. */
export interface ExpressSessionRefusals {
  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). Changes are saved when the response ends (`close()` outside requests); for callback-style code use `sessionware/express-session`. */
  save(...args: unknown[]): Promise<never>;
  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). Use `await session.removeAll()` to log out; for callback-style code use `sessionware/express-session`. */
  destroy(...args: unknown[]): Promise<never>;
  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). Reads always see the stored session; for callback-style code use `sessionware/express-session`. */
  reload(...args: unknown[]): Promise<never>;
  /** @deprecated express-session's API: refused with a `SessionStateError` (handed to the callback when the last argument is one, else thrown at once). The TTL is refreshed whenever the session is used; for callback-style code use `sessionware/express-session`. */
  touch(...args: unknown[]): Promise<never>;
}

/** What each express-session method should be replaced with, for its error message. */
const STUBS: Readonly<Record<keyof ExpressSessionRefusals, string>> = {
  save: 'changes are stored when the response ends (call close() on sessions from Manager.new())',
  destroy: 'log out with await req.session.removeAll()',
  reload: 'reads already see the stored session',
  touch: 'the TTL is refreshed whenever the session is used',
};

/** The promise methods whose last argument is checked for a callback (express-session names or shapes). */
const GUARDED = ['increment', 'remove', 'removeAll', 'contains', 'data', 'size', 'id', 'regenerate', 'getTTL', 'close'] as const;

type Method = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Makes every method in `GUARDED` refuse a callback as its last argument (see
 * {@link refuseCallback}), and adds express-session's methods as refusals (non-enumerable, as the
 * class's own methods are). Called once, with the `Session` class.
 * @internal
 */
export function installRefusals(target: { readonly prototype: object }): void {
  const proto = target.prototype as Record<string, unknown>;
  for (const name of GUARDED) {
    const original = proto[name] as Method;
    const guarded = {
      [name](this: unknown, ...args: unknown[]): unknown {
        const refused = refuseCallback(name, args[args.length - 1]);
        return refused ?? Reflect.apply(original, this, args);
      },
    }[name] as Method;
    Object.defineProperty(proto, name, { value: guarded, writable: true, configurable: true, enumerable: false });
  }
  for (const [name, instead] of Object.entries(STUBS)) {
    const stub = { [name]: (...args: unknown[]): Promise<never> => refuseExpressSession(name, instead, args) }[name];
    Object.defineProperty(proto, name, { value: stub, writable: true, configurable: true, enumerable: false });
  }
}

/**
 * A callback given to this promise API would never be called: refuse it loudly, without throwing
 * (a throw inside an application's own async callback, as Passport's `req.session.regenerate(cb)`
 * makes, would be an uncaught exception and end the process). The `SessionStateError` goes to the
 * callback on the next tick, and the returned promise rejects with it too, already handled (no
 * unhandled rejection if nobody awaits it). `undefined` when `arg` is not a function.
 * @internal
 */
export function refuseCallback(method: string, arg: unknown): Promise<never> | undefined {
  if (typeof arg !== 'function') return undefined;
  return refuse(new SessionStateError(`session.${method}() takes no callback: sessionware's session API returns promises (await req.session.${method}()). For express-session-style code (Passport, callbacks), use the sessionware/express-session middleware.`), arg);
}

/** Hands `err` to `callback` asynchronously and returns a handled promise rejected with it. @internal */
export function refuse(err: SessionStateError, callback: unknown): Promise<never> {
  if (typeof callback === 'function') process.nextTick(callback as (err: unknown) => void, err);
  const refused = Promise.reject(err);
  refused.catch(() => undefined); // handled here; the error itself reaches the callback and anyone awaiting
  return refused;
}

/**
 * express-session's `save`/`destroy`/`reload`/`touch`: with a callback (the last argument), the
 * error goes to it asynchronously (see {@link refuseCallback}); without one it is thrown at once.
 * @internal
 */
export function refuseExpressSession(method: string, instead: string, args: readonly unknown[]): Promise<never> {
  const err = expressSessionError(method, instead);
  const callback = args[args.length - 1];
  if (typeof callback !== 'function') throw err;
  return refuse(err, callback);
}

/** The error express-session's methods throw here: what to do instead. @internal */
export function expressSessionError(method: string, instead: string): SessionStateError {
  return new SessionStateError(`req.session.${method}() is express-session's API, not sessionware's: ${instead}. For express-session-style code (Passport, callbacks), use the sessionware/express-session middleware.`);
}

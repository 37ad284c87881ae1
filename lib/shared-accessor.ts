/**
 * One accessor shared by every request on `http.IncomingMessage.prototype`, instead of a property
 * defined on each request: once Express has given a request a prototype of its own, each property
 * added to it costs microseconds (V8 caches no transitions for such objects). Serves `req.session`
 * of the core and `req.sessionID` of `sessionware/express-session`.
 * @module
 */
import { IncomingMessage } from 'node:http';

/**
 * Installs `descriptor` as `name` on `IncomingMessage.prototype` (once, the first time it is asked
 * for, and only where nothing defines `name` there yet) and returns the test the middleware runs
 * per request: `true` when `req` reaches that accessor through its prototype chain, `false` when
 * the request has `name` of its own, or a prototype on its chain defines `name` otherwise (the
 * caller then gives the request its own property). Answers are cached per prototype (Express has
 * one per app).
 * @internal
 */
export function sharedAccessor(name: string, descriptor: PropertyDescriptor): (req: object) => boolean {
  const served = new WeakSet<object>();
  let installed = false;
  return function reachesSharedAccessor(req: object): boolean {
    if (Object.hasOwn(req, name)) return false;
    const proto = Object.getPrototypeOf(req) as object | null;
    if (proto === null) return false;
    if (served.has(proto)) return true;
    if (!installed) {
      installed = true;
      if (!Object.hasOwn(IncomingMessage.prototype, name)) Object.defineProperty(IncomingMessage.prototype, name, descriptor);
    }
    for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
      const own = Object.getOwnPropertyDescriptor(p, name);
      if (own === undefined) continue;
      if (own.get !== descriptor.get) return false;
      served.add(proto);
      return true;
    }
    return false;
  };
}

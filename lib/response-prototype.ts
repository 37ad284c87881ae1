/**
 * The prototype a hooked response gets: one per prototype it extends (one per Express app),
 * cached, whose methods dispatch to the response's `ResponseHook` (found through the request's
 * state), or to the methods they shadow when the response has none. Swapping a prototype costs one
 * `setPrototypeOf`, where wrapping methods costs a property (and microseconds) each.
 * @module
 */
import type { ServerResponse } from 'node:http';
import { headersSentGetter } from './response-headers';
import type { ResponseHook } from './response-hook';

/** Finds the hook a response's prototype dispatches to (the middleware knows where requests keep it). */
let findHook: (res: ServerResponse) => ResponseHook | undefined = () => undefined;

/** Tells the prototype hooks how to find a response's {@link ResponseHook}. @internal */
export function setHookFinder(find: (res: ServerResponse) => ResponseHook | undefined): void {
  findHook = find;
}

/** What a hook takes over: a response with an own property among these was wrapped by someone else. @internal */
export const METHODS = ['write', 'end', 'flushHeaders', 'writeHead', 'setHeader', 'appendHeader', 'removeHeader', 'headersSent'] as const;

/** Prototypes made by {@link hookedPrototype}, by the prototype they extend. */
const PROTOTYPES = new WeakMap<object, { proto: object; baseHeadersSent: () => boolean }>();
const HOOKED = new WeakSet<object>();

/** Whether `proto` is one of the hooked prototypes (a second hook must then wrap with closures). @internal */
export function isHookedPrototype(proto: object): boolean {
  return HOOKED.has(proto);
}

/** A prototype over `base` whose methods dispatch (@internal) to the response's hook, or to `base` when it has none. */
export function hookedPrototype(base: object): { proto: object; baseHeadersSent: () => boolean } {
  const known = PROTOTYPES.get(base);
  if (known !== undefined) return known;
  const b = base as ServerResponse;
  const { write: baseWrite, end: baseEnd, flushHeaders: baseFlushHeaders, writeHead: baseWriteHead } = b;
  const baseHeadersSent = headersSentGetter(b);
  const proto = Object.create(base, {
    write: method(function write(this: ServerResponse, ...args: unknown[]): boolean {
      const hook = findHook(this);
      return hook ? hook.handleWrite(args) : (Reflect.apply(baseWrite, this, args) as boolean);
    }),
    end: method(function end(this: ServerResponse, ...args: unknown[]): ServerResponse {
      const hook = findHook(this);
      return hook ? hook.handleEnd(args) : (Reflect.apply(baseEnd, this, args) as ServerResponse);
    }),
    flushHeaders: method(function flushHeaders(this: ServerResponse): void {
      const hook = findHook(this);
      if (hook) hook.handleFlushHeaders();
      else baseFlushHeaders.call(this);
    }),
    writeHead: method(function writeHead(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
      const hook = findHook(this);
      return hook ? hook.handleWriteHead(status, rest) : (Reflect.apply(baseWriteHead, this, [status, ...rest]) as ServerResponse);
    }),
    setHeader: method(function setHeader(this: ServerResponse, ...args: unknown[]): unknown {
      const hook = findHook(this);
      return hook ? hook.handleHeader('setHeader', args) : Reflect.apply(b.setHeader, this, args);
    }),
    appendHeader: method(function appendHeader(this: ServerResponse, ...args: unknown[]): unknown {
      const hook = findHook(this);
      return hook ? hook.handleHeader('appendHeader', args) : Reflect.apply(b.appendHeader, this, args);
    }),
    removeHeader: method(function removeHeader(this: ServerResponse, ...args: unknown[]): unknown {
      const hook = findHook(this);
      return hook ? hook.handleHeader('removeHeader', args) : Reflect.apply(b.removeHeader, this, args);
    }),
    headersSent: {
      configurable: true,
      enumerable: false,
      get(this: ServerResponse): boolean {
        const hook = findHook(this);
        return hook ? hook.headersSent() : baseHeadersSent.call(this);
      },
    },
  }) as object;
  const hooked = { proto, baseHeadersSent };
  PROTOTYPES.set(base, hooked);
  HOOKED.add(proto);
  return hooked;
}

function method(value: (...args: never[]) => unknown): PropertyDescriptor {
  return { value, writable: true, configurable: true, enumerable: false };
}

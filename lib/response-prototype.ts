/**
 * The shared response methods: installed once on `http.ServerResponse.prototype`, they dispatch to
 * the response's `ResponseHook` (found through the request's state), or to the methods they shadow
 * when the response has none. A hooked response then costs no property and no prototype swap, and
 * the hook holds whatever prototype the response gets later: a mounted Express app gives the
 * response its own prototype when the request enters it and the parent's again when it leaves,
 * which took away a prototype swapped in per response (and with it the wait for the session).
 * @module
 */
import { ServerResponse } from 'node:http';
import { headersSentGetter } from './response-headers';
import type { ResponseHook } from './response-hook';

/** Finds the hook a response's shared methods dispatch to (the middleware knows where requests keep it). */
let findHook: (res: ServerResponse) => ResponseHook | undefined = () => undefined;

/** Tells the shared methods how to find a response's {@link ResponseHook}. @internal */
export function setHookFinder(find: (res: ServerResponse) => ResponseHook | undefined): void {
  findHook = find;
}

/** The hook the shared methods of `res` dispatch to, if any. @internal */
export function sharedHookOf(res: ServerResponse): ResponseHook | undefined {
  return findHook(res);
}

/** What a hook takes over: a response with an own property among these was wrapped by someone else. */
const METHODS = ['write', 'end', 'flushHeaders', 'writeHead', 'setHeader', 'appendHeader', 'removeHeader', 'headersSent'] as const;

type Res = ServerResponse;
type Args = unknown[];

/** The methods the shared ones shadow: what a hooked response calls to really write. @internal */
export interface BaseMethods {
  write: Res['write'];
  end: Res['end'];
  flushHeaders: Res['flushHeaders'];
  writeHead: Res['writeHead'];
  setHeader: Res['setHeader'];
  appendHeader: Res['appendHeader'];
  removeHeader: Res['removeHeader'];
  headersSent: () => boolean;
}

interface Shared {
  base: BaseMethods;
  methods: Record<Exclude<(typeof METHODS)[number], 'headersSent'>, unknown>;
  headersSent: () => boolean;
  /** Prototypes whose chain reaches every shared method, judged at first sight. */
  reaching: WeakMap<object, boolean>;
}

let shared: Shared | undefined;

/**
 * Installs the shared methods (once, at the first hooked response) and returns the methods they
 * shadow. Each is Node's own unless something patched `ServerResponse.prototype` before: that
 * patch is then what the shared method calls, so both keep working.
 * @internal
 */
export function sharedMethods(): BaseMethods {
  return (shared ??= install()).base;
}

/**
 * Whether every method a hook takes over resolves, on `res`, to the shared one: nothing shadows
 * them (an own property such as compression's wrappers, or a prototype on the way, such as an
 * Express app's `response` with an `end` of its own). Otherwise the hook wraps the response's
 * methods with closures instead. The prototype chain is judged once per prototype (Express has one
 * per app): reading inherited methods off a response whose prototype Express swapped costs
 * microseconds each.
 * @internal
 */
export function reachesShared(res: ServerResponse): boolean {
  const s = (shared ??= install());
  for (const name of METHODS) if (Object.hasOwn(res, name)) return false;
  const proto = Object.getPrototypeOf(res) as object | null;
  if (proto === null) return false;
  let reaches = s.reaching.get(proto);
  if (reaches === undefined) {
    const m = s.methods as Record<string, unknown>;
    const p = proto as Record<string, unknown>;
    reaches = Object.keys(m).every((name) => p[name] === m[name]) && headersSentGetter(proto as ServerResponse) === s.headersSent;
    s.reaching.set(proto, reaches);
  }
  return reaches;
}

function install(): Shared {
  const p = ServerResponse.prototype;
  const base: BaseMethods = {
    write: p.write,
    end: p.end,
    flushHeaders: p.flushHeaders,
    writeHead: p.writeHead,
    setHeader: p.setHeader,
    appendHeader: p.appendHeader,
    removeHeader: p.removeHeader,
    headersSent: headersSentGetter(p as ServerResponse),
  };
  const methods = {
    write: function write(this: Res, ...args: Args): boolean {
      const hook = findHook(this);
      return hook ? hook.handleWrite(args) : (Reflect.apply(base.write, this, args) as boolean);
    },
    end: function end(this: Res, ...args: Args): Res {
      const hook = findHook(this);
      return hook ? hook.handleEnd(args) : (Reflect.apply(base.end, this, args) as Res);
    },
    flushHeaders: function flushHeaders(this: Res): void {
      const hook = findHook(this);
      if (hook) hook.handleFlushHeaders();
      else base.flushHeaders.call(this);
    },
    writeHead: function writeHead(this: Res, status: number, ...rest: Args): Res {
      const hook = findHook(this);
      return hook ? hook.handleWriteHead(status, rest) : (Reflect.apply(base.writeHead, this, [status, ...rest]) as Res);
    },
    // Fixed arity: these run several times on every response of the process, hooked or not.
    setHeader: function setHeader(this: Res, name: string, value: unknown): unknown {
      const hook = findHook(this);
      return hook ? hook.handleHeader('setHeader', [name, value]) : base.setHeader.call(this, name, value as string);
    },
    appendHeader: function appendHeader(this: Res, name: string, value: unknown): unknown {
      const hook = findHook(this);
      return hook ? hook.handleHeader('appendHeader', [name, value]) : base.appendHeader.call(this, name, value as string);
    },
    removeHeader: function removeHeader(this: Res, name: string): unknown {
      const hook = findHook(this);
      if (hook) return hook.handleHeader('removeHeader', [name]);
      base.removeHeader.call(this, name);
      return undefined;
    },
  };
  const headersSent = function headersSent(this: Res): boolean {
    const hook = findHook(this);
    return hook ? hook.headersSent() : base.headersSent.call(this);
  };
  for (const [name, value] of Object.entries(methods)) Object.defineProperty(p, name, { value, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(p, 'headersSent', { get: headersSent, configurable: true, enumerable: false });
  return { base, methods, headersSent, reaching: new WeakMap() };
}

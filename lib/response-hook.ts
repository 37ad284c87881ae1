/**
 * Response hooks: the client must not see a response complete before the session is stored, on
 * every way a response is sent (`end(body)`, `write` + `end`, `write` up to a `Content-Length`,
 * `pipe`, `sendFile`...), and `writeHead(status, headers)` must not drop the session's `Set-Cookie`.
 * @module
 */
import type { ServerResponse } from 'node:http';
import { SessionStateError } from './errors';
import { headersSentError, headersSentGetter, mergedWriteHead, type HeaderOwner } from './response-headers';
import { reachesShared, sharedHookOf, sharedMethods } from './response-prototype';

export { setHookFinder } from './response-prototype';

export { hookWriteHead } from './response-headers';

/** What a {@link ResponseHook} asks of the request it serves. @internal */
export interface HookOwner extends HeaderOwner {
  /**
   * The application called `end()`: store the session, then call {@link ResponseHook.release}
   * (at once, when there is nothing to store).
   */
  ending(): void;
  /** Something the application did could not be carried out and has no caller to tell. */
  report(err: unknown): void;
}

/**
 * Where the hooked response is. `open`: writes go out minus the last byte, `end()` is taken over;
 * `ending`: `end()` was called and waits for the session; `released`: the response ended (later
 * calls behave as after Node's own `end()`); `bypassed`: storing failed before anything was sent,
 * so the hooks step aside and the error handler answers through Node's own methods.
 */
type Phase = 'open' | 'ending' | 'released' | 'bypassed';

type Write = ServerResponse['write'];
type End = ServerResponse['end'];
type WriteHead = ServerResponse['writeHead'];
type Callback = (err?: Error | null) => void;
type SetHeader = ServerResponse['setHeader'];
type AppendHeader = ServerResponse['appendHeader'];
type RemoveHeader = ServerResponse['removeHeader'];

/**
 * Takes over `write`, `end`, `flushHeaders`, `writeHead` and the header methods of one response
 * once its session has a change to store. The end (with its body) is held until {@link ResponseHook.release}. While the
 * body is framed by `Content-Length` (where the client sees it complete when the last byte
 * arrives, before `end()`), the last byte of each write is kept back and sent before the next
 * write or at release; everything else goes straight through, so backpressure (`write()` returning
 * `false`, `'drain'`) is Node's own. With chunked framing the body completes only at `end()`, so
 * writes are untouched. `writeHead(status, headers)` merges (see `mergedWriteHead`). From `end()`
 * until the release the response looks as Node's does after `end()`: `headersSent` is `true` and
 * header changes throw `ERR_HTTP_HEADERS_SENT` (the session's own work excepted, see
 * {@link ResponseHook.internal}), so a second `res.send()` cannot rewrite the held response.
 *
 * Adding properties to a response costs microseconds each (V8 reshapes the object), so when
 * nothing else wrapped the response's methods the hook is served by methods shared by every
 * response (installed once on `ServerResponse.prototype`, see `response-prototype.ts`), which hold
 * whatever prototype Express swaps in later; otherwise (compression, a second session, a response
 * that is not an `http.ServerResponse`) it wraps the methods with closures, which chain with
 * whatever is there.
 * @internal
 */
export class ResponseHook {
  #phase: Phase = 'open';
  readonly #res: ServerResponse;
  readonly #owner: HookOwner;
  readonly #write: Write;
  readonly #end: End;
  readonly #flushHeaders: () => void;
  readonly #writeHead: WriteHead;
  /** The last byte of the last write, while the body is framed by `Content-Length`. */
  #held: Buffer | undefined = undefined;
  #endArgs: unknown[] | undefined = undefined;
  /** The status `end()` was called with: what the held response goes out with. */
  #status = 200;
  #statusMessage = '';
  /** The session's own header work runs while the end is held (see {@link ResponseHook.internal}). */
  #internal = 0;
  readonly #setHeader: SetHeader;
  readonly #appendHeader: AppendHeader;
  readonly #removeHeader: RemoveHeader;
  readonly #headersSent: () => boolean;
  /** Served by the shared methods on `ServerResponse.prototype` (which find it through `setHookFinder`), not by closures on the response. */
  readonly onPrototype: boolean;

  /** @param reachable `findHook(res)` will find this hook once it is stored (the request leads to it). */
  constructor(res: ServerResponse, owner: HookOwner, reachable: boolean) {
    this.#res = res;
    this.#owner = owner;
    // The shared methods serve one hook per response (another session's hook on it wraps with closures).
    this.onPrototype = reachable && sharedHookOf(res) === undefined && reachesShared(res);
    const own = this.onPrototype ? sharedMethods() : undefined;
    this.#write = own?.write ?? res.write;
    this.#end = own?.end ?? res.end;
    this.#flushHeaders = own?.flushHeaders ?? res.flushHeaders;
    this.#writeHead = own?.writeHead ?? res.writeHead;
    this.#setHeader = own?.setHeader ?? res.setHeader;
    this.#appendHeader = own?.appendHeader ?? res.appendHeader;
    this.#removeHeader = own?.removeHeader ?? res.removeHeader;
    if (own !== undefined) {
      this.#headersSent = own.headersSent;
      return;
    }
    this.#headersSent = headersSentGetter(res);
    // Closures (not shared functions that look the state up): no app behaviour can detach them.
    res.write = ((...args: unknown[]) => this.handleWrite(args)) as Write;
    res.end = ((...args: unknown[]) => this.handleEnd(args)) as End;
    res.flushHeaders = () => this.handleFlushHeaders();
    res.writeHead = ((status: number, ...rest: unknown[]) => this.handleWriteHead(status, rest)) as WriteHead;
    res.setHeader = ((...args: unknown[]) => this.handleHeader('setHeader', args)) as SetHeader;
    res.appendHeader = ((...args: unknown[]) => this.handleHeader('appendHeader', args)) as AppendHeader;
    res.removeHeader = ((...args: unknown[]) => this.handleHeader('removeHeader', args)) as RemoveHeader;
    Object.defineProperty(res, 'headersSent', { get: () => this.headersSent(), configurable: true, enumerable: false });
  }

  /**
   * Runs `fn`, the session's own work on the headers, while the end is held: to everyone else the
   * response then looks as it would after Node's own `end()` (see {@link ResponseHook.headersSent}).
   */
  internal<T>(fn: () => T): T {
    this.#internal++;
    try {
      return fn();
    } finally {
      this.#internal--;
    }
  }

  /**
   * `res.headersSent`: `true` from the application's `end()` on, as in plain Node, although the
   * headers wait for the session: a second `res.send()` (or an error handler) must not rewrite the
   * status or a `Content-Length` of the response that is held.
   */
  headersSent(): boolean {
    return this.#sealed() || this.#headersSent.call(this.#res);
  }

  /** @internal */
  handleHeader(method: 'setHeader' | 'appendHeader' | 'removeHeader', args: unknown[]): unknown {
    if (this.#sealed()) throw headersSentError(method === 'removeHeader' ? 'remove' : 'set');
    const base = method === 'setHeader' ? this.#setHeader : method === 'appendHeader' ? this.#appendHeader : this.#removeHeader;
    return Reflect.apply(base, this.#res, args);
  }

  #sealed(): boolean {
    return this.#phase === 'ending' && this.#internal === 0;
  }

  /** `end()` was called (by the application, a pipe, Express...). */
  get ended(): boolean {
    return this.#phase === 'ending' || this.#phase === 'released';
  }

  /** Sends what was held back and ends the response with the arguments `end()` got. Once. */
  release(): void {
    if (this.#phase !== 'ending') return;
    this.#phase = 'released';
    const res = this.#res;
    try {
      // Put back what end() was called with, storing only what changed since: a store into a
      // response whose prototype was swapped is slow, and `statusMessage` is not an own property until set.
      if (res.statusCode !== this.#status) res.statusCode = this.#status;
      if (res.statusMessage !== this.#statusMessage) res.statusMessage = this.#statusMessage;
      this.#sendHeld();
      Reflect.apply(this.#end, res, this.#endArgs as unknown[]);
    } catch (err) {
      this.#owner.report(err);
      if (!res.writableEnded) res.destroy();
    }
  }

  /**
   * Storing failed while nothing was sent: forget the held `end()`, so the error handler's
   * response goes out through Node's own methods.
   */
  bypass(): void {
    if (this.#phase !== 'ending') return;
    this.#phase = 'bypassed';
    this.#endArgs = undefined;
  }

  /** @internal */
  handleWrite(args: unknown[]): boolean {
    const res = this.#res;
    const phase = this.#phase;
    if (phase === 'bypassed') return Reflect.apply(this.#write, res, args) as boolean;
    if (phase !== 'open') return this.#afterEnd(args);
    const [chunk, encoding, cb] = args;
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (!this.#framedByLength() || !(typeof chunk === 'string' || chunk instanceof Uint8Array)) {
      if (this.#held !== undefined) this.#sendHeld();
      return Reflect.apply(this.#write, res, args) as boolean; // Node validates what is left
    }
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : chunk;
    if (bytes.length === 0) return Reflect.apply(this.#write, res, args) as boolean;
    this.#sendHeld();
    this.#held = Buffer.from(bytes.subarray(bytes.length - 1)); // a copy: the caller may reuse its buffer
    const rest = bytes.subarray(0, bytes.length - 1);
    return Reflect.apply(this.#write, res, typeof callback === 'function' ? [rest, callback] : [rest]) as boolean;
  }

  /** @internal */
  handleEnd(args: unknown[]): ServerResponse {
    const res = this.#res;
    const phase = this.#phase;
    if (phase === 'bypassed') return Reflect.apply(this.#end, res, args) as ServerResponse;
    const [chunk] = args;
    const data = chunk !== undefined && chunk !== null && typeof chunk !== 'function';
    if (phase !== 'open') {
      // A second end(): ignored, as Node ignores it after the first (its callback waits for 'finish').
      if (data) this.#afterEnd(args);
      else {
        const callback = args.find((a): a is Callback => typeof a === 'function');
        if (callback) res.once('finish', callback);
      }
      return res;
    }
    if (data && typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      return Reflect.apply(this.#end, res, args) as ServerResponse; // Node throws, to the caller, as it would
    }
    this.#phase = 'ending';
    this.#endArgs = args;
    this.#status = res.statusCode;
    this.#statusMessage = res.statusMessage;
    this.#owner.ending();
    return res;
  }

  /** A body-less response (HEAD, 204, 304) is complete with its headers: they wait for the end too. */
  /** @internal */
  handleFlushHeaders(): void {
    const res = this.#res;
    if (this.#phase === 'open' && !hasBody(res)) return; // end() sends them
    this.#flushHeaders.call(res);
  }

  /** @internal */
  handleWriteHead(status: number, rest: unknown[]): ServerResponse {
    if (this.#sealed()) throw headersSentError('write');
    return mergedWriteHead(this.#res, this.#writeHead, status, rest, this.#owner);
  }

  /**
   * `write(data)` or `end(data)` after `end()`: plain Node fails it with
   * `ERR_STREAM_WRITE_AFTER_END` (and an unhandled `'error'` kills the process). Here the data is
   * dropped the same way, the callback gets the error, and without an `'error'` listener the error
   * goes to `onError` instead of crashing.
   */
  #afterEnd(args: unknown[]): false {
    const res = this.#res;
    const err = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
    const callback = args.find((a): a is Callback => typeof a === 'function');
    process.nextTick(() => {
      callback?.(err);
      if (res.listenerCount('error') > 0) res.emit('error', err);
      else this.#owner.report(new SessionStateError('res.write() or res.end(data) was called after res.end(): the data was dropped (Node would fail with ERR_STREAM_WRITE_AFTER_END).'));
    });
    return false;
  }

  #sendHeld(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    Reflect.apply(this.#write, this.#res, [held]);
  }

  /** Whether the client will see the body complete before `end()`: it is framed by `Content-Length`. */
  #framedByLength(): boolean {
    const res = this.#res;
    // Once the headers are stored Node knows the framing; before, an implicit header uses
    // Content-Length only if the application set one (otherwise chunked, or close-delimited).
    return res.headersSent ? !res.chunkedEncoding : res.getHeader('content-length') !== undefined;
  }
}

/** Whether the response carries a body: not for HEAD, 1xx, 204 and 304. */
function hasBody(res: ServerResponse): boolean {
  const status = res.statusCode;
  return res.req?.method !== 'HEAD' && status !== 204 && status !== 304 && (status < 100 || status >= 200);
}

/**
 * Response hooks: the client must not see a response complete before the session is stored, on
 * every way a response is sent (`end(body)`, `write` + `end`, `write` up to a `Content-Length`,
 * `pipe`, `sendFile`...), and `writeHead(status, headers)` must not drop the session's `Set-Cookie`.
 * @module
 */
import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import { SessionStateError } from './errors';

/** What a {@link ResponseHook} asks of the request it serves. @internal */
export interface HookOwner {
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
type Callback = (err?: Error | null) => void;

/**
 * Takes over `write`, `end` and `flushHeaders` of one response once its session has a change to
 * store. The end (with its body) is held until {@link ResponseHook.release}. While the body is
 * framed by `Content-Length` (where the client sees it complete when the last byte arrives, before
 * `end()`), the last byte of each write is kept back and sent before the next write or at release;
 * everything else goes straight through, so backpressure (`write()` returning `false`, `'drain'`)
 * is Node's own. With chunked framing the body completes only at `end()`, so writes are untouched.
 * Hooks installed later on the same response (compression, a second session) wrap these and work.
 * @internal
 */
export class ResponseHook {
  #phase: Phase = 'open';
  readonly #res: ServerResponse;
  readonly #owner: HookOwner;
  readonly #write: Write;
  readonly #end: End;
  readonly #flushHeaders: () => void;
  /** The last byte of the last write, while the body is framed by `Content-Length`. */
  #held: Buffer | undefined = undefined;
  #endArgs: unknown[] | undefined = undefined;

  constructor(res: ServerResponse, owner: HookOwner) {
    this.#res = res;
    this.#owner = owner;
    this.#write = res.write;
    this.#end = res.end;
    this.#flushHeaders = res.flushHeaders;
    // Closures (not shared functions that look the state up): no app behaviour can detach them.
    res.write = ((...args: unknown[]) => this.#onWrite(args)) as Write;
    res.end = ((...args: unknown[]) => this.#onEnd(args)) as End;
    res.flushHeaders = () => this.#onFlushHeaders();
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

  #onWrite(args: unknown[]): boolean {
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

  #onEnd(args: unknown[]): ServerResponse {
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
    this.#owner.ending();
    return res;
  }

  /** A body-less response (HEAD, 204, 304) is complete with its headers: they wait for the end too. */
  #onFlushHeaders(): void {
    const res = this.#res;
    if (this.#phase === 'open' && !hasBody(res)) return; // end() sends them
    this.#flushHeaders.call(res);
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

/**
 * Makes `writeHead(status, headers)` merge instead of replace: its headers are applied the way Node
 * applies them (an object replaces each named header, a flat `[name, value, ...]` list or a list
 * of `[name, value]` pairs adds), then `beforeHeaders` puts back what the session needs (its
 * `Set-Cookie`), then Node stores the headers. Node calls `writeHead` itself for implicit headers,
 * so this is also the last moment before any headers leave. Installed once per response.
 * @internal
 */
export function hookWriteHead(res: ServerResponse, beforeHeaders: () => void): void {
  const writeHead = res.writeHead;
  res.writeHead = function sessionWriteHead(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
    const reason = typeof rest[0] === 'string' ? rest[0] : undefined;
    const headers = reason === undefined ? rest[0] : rest[1];
    if (this.headersSent) return Reflect.apply(writeHead, this, [status, ...rest]) as ServerResponse; // Node throws
    if (headers !== undefined && headers !== null) applyHeaders(this, headers);
    beforeHeaders();
    return Reflect.apply(writeHead, this, reason === undefined ? [status] : [status, reason]) as ServerResponse;
  } as ServerResponse['writeHead'];
}

function applyHeaders(res: ServerResponse, headers: unknown): void {
  if (!Array.isArray(headers)) {
    for (const [name, value] of Object.entries(headers as Record<string, OutgoingHttpHeader>)) if (name) res.setHeader(name, value);
    return;
  }
  const pairs: [unknown, unknown][] = [];
  if (headers.every((h) => Array.isArray(h))) for (const h of headers as unknown[][]) pairs.push([h[0], h[1]]);
  else for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i], headers[i + 1]]);
  for (const [name] of pairs) if (typeof name === 'string' && name) res.removeHeader(name);
  for (const [name, value] of pairs) if (typeof name === 'string' && name) res.appendHeader(name, value as string | readonly string[]);
}

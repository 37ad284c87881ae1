/**
 * Response headers while a session is being stored: `writeHead(status, headers)` that merges the
 * session's `Set-Cookie` instead of dropping it, and the pieces of Node's behaviour after `end()`
 * that a held response imitates.
 * @module
 */
import type { OutgoingHttpHeader, ServerResponse } from 'node:http';

type WriteHead = ServerResponse['writeHead'];

/** What the merging `writeHead` asks of the session. @internal */
export interface HeaderOwner {
  /** The headers are about to be stored: put back what the session wrote into them. */
  beforeHeaders(): void;
}

/** Node's `ERR_HTTP_HEADERS_SENT`, as a held response reports it. @internal */
export function headersSentError(action: string): Error {
  return Object.assign(new Error(`Cannot ${action} headers after they are sent to the client`), { code: 'ERR_HTTP_HEADERS_SENT' });
}

/** The `headersSent` getter `res` inherits (Node's `OutgoingMessage`). @internal */
export function headersSentGetter(res: ServerResponse): () => boolean {
  for (let p: object | null = res; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    const own = Object.getOwnPropertyDescriptor(p, 'headersSent');
    if (own?.get) return own.get as () => boolean;
  }
  return function headersSent(this: ServerResponse) {
    return (this as unknown as { _header: unknown })._header != null;
  };
}


/**
 * Makes `writeHead(status, headers)` of a response merge instead of replace (for a response whose
 * session wrote a cookie but has no `ResponseHook`). Installed once per response.
 * @internal
 */
export function hookWriteHead(res: ServerResponse, owner: HeaderOwner): void {
  const writeHead = res.writeHead;
  res.writeHead = ((status: number, ...rest: unknown[]) => mergedWriteHead(res, writeHead, status, rest, owner)) as WriteHead;
}

/**
 * `writeHead(status, [reason], headers)`, merging (@internal): its headers are applied the way Node applies
 * them (an object replaces each named header, a flat `[name, value, ...]` list or a list of
 * `[name, value]` pairs adds), then `beforeHeaders` puts back what the session needs (its
 * `Set-Cookie`), then Node stores the headers. Node calls `writeHead` itself for implicit headers,
 * so this is also the last moment before any headers leave.
 */
export function mergedWriteHead(res: ServerResponse, writeHead: WriteHead, status: number, rest: unknown[], owner: HeaderOwner): ServerResponse {
  const reason = typeof rest[0] === 'string' ? rest[0] : undefined;
  const headers = reason === undefined ? rest[0] : rest[1];
  if (res.headersSent) return Reflect.apply(writeHead, res, [status, ...rest]) as ServerResponse; // Node throws
  if (headers !== undefined && headers !== null) applyHeaders(res, headers);
  owner.beforeHeaders();
  return Reflect.apply(writeHead, res, reason === undefined ? [status] : [status, reason]) as ServerResponse;
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

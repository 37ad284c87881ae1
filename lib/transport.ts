/**
 * How the session id travels back: written the way the client uses (a `Set-Cookie`, or the
 * response header), cleared on logout, and kept in the headers when the application replaces them.
 * (Reading it is `client-id.ts`.)
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serialize, type SerializeOptions } from 'cookie';
import type { ClientId } from './client-id';
import type { ResolvedCookie, ResolvedOptions } from './options';

/** What {@link sendId} or {@link clearId} put into a response, so that a later change can take it back. @internal */
export interface Written {
  /** The `Set-Cookie` value appended, if any. */
  readonly cookie: string | undefined;
  /** Whether the id header was set. */
  readonly header: boolean;
}

const NOTHING: Written = { cookie: undefined, header: false };
const EPOCH = new Date(0);

/**
 * Sends `id` to the client: as a cookie to cookie clients and new clients, in the response header
 * to header clients (and to everyone when cookies are off). A new client also gets the header when
 * the cookie is readable by scripts anyway (`httpOnly: false`); next to an HttpOnly cookie the id is
 * never put in a header.
 * @internal
 */
export function sendId(req: IncomingMessage, res: ServerResponse, options: ResolvedOptions, client: ClientId, id: string, ownMaxAge?: number | null): Written {
  const token = options.signer ? options.signer.sign(id) : id;
  const { cookie, header } = options;
  const viaCookie = cookie !== undefined && client.via !== 'header';
  let value: string | undefined;
  if (viaCookie) {
    // A session's own lifetime (setTTL, or the drop-in's cookie.maxAge) decides its cookie's age; `null`: a browser-session cookie.
    const maxAge = ownMaxAge === null ? undefined : (ownMaxAge ?? cookie.maxAge);
    value = maxAge === undefined
      ? `${options.name}=${token}${fixedAttributes(cookie, isSecureFor(req, cookie))}` // ids are cookie-safe as they are
      : serialize(options.name, token, cookieAttributes(req, cookie, maxAge));
    appendSetCookie(res, value);
  }
  const inHeader = header !== undefined && (!viaCookie || (client.via === undefined && cookie?.httpOnly === false));
  if (inHeader) res.setHeader(header, token);
  return { cookie: value, header: inHeader };
}

/** Tells the client to forget its id: an expired cookie, or an empty response header. @internal */
export function clearId(req: IncomingMessage, res: ServerResponse, options: ResolvedOptions, client: ClientId): Written {
  if (client.via === 'cookie' && options.cookie) {
    const value = serialize(options.name, '', cookieAttributes(req, options.cookie, 0));
    appendSetCookie(res, value);
    return { cookie: value, header: false };
  }
  if (client.via === 'header' && options.header) {
    res.setHeader(options.header, '');
    return { cookie: undefined, header: true };
  }
  return NOTHING;
}

/**
 * Takes back what {@link sendId} or {@link clearId} wrote, before the headers are sent: the
 * session's state changed again within the same request. @internal
 */
export function retract(res: ServerResponse, options: ResolvedOptions, written: Written): void {
  if (written.header && options.header) res.removeHeader(options.header);
  if (written.cookie !== undefined) {
    const list = setCookies(res).filter((c) => c !== written.cookie);
    if (list.length === 0) res.removeHeader('set-cookie');
    else res.setHeader('Set-Cookie', list);
  }
}

/**
 * Puts a `Set-Cookie` value written earlier back if the application replaced the header since
 * (`res.setHeader('Set-Cookie', ...)` instead of appending). @internal
 */
export function restore(res: ServerResponse, written: Written): void {
  if (written.cookie !== undefined && !setCookies(res).includes(written.cookie)) appendSetCookie(res, written.cookie);
}

/** Adds the request headers the session depends on to `Vary`, for shared caches. @internal */
export function addVary(res: ServerResponse, options: ResolvedOptions): void {
  const names = options.vary;
  const current = res.getHeader('vary');
  if (current === undefined) {
    res.setHeader('Vary', options.varyHeader);
    return;
  }
  const existing = (Array.isArray(current) ? current.join(',') : String(current)).toLowerCase();
  if (existing.includes('*')) return;
  const listed = existing.split(',').map((v) => v.trim());
  const missing = names.filter((n) => !listed.includes(n));
  if (missing.length > 0) res.setHeader('Vary', `${String(current)}, ${missing.join(', ')}`);
}

/** `; Path=/; HttpOnly; ...` for cookies without an expiry, serialised once per configuration. */
const suffixes = new WeakMap<ResolvedCookie, { secure: string; plain: string }>();

function fixedAttributes(c: ResolvedCookie, secure: boolean): string {
  let cached = suffixes.get(c);
  if (!cached) {
    const suffix = (s: boolean): string => serialize('x', '', attributesOf(c, s)).slice('x='.length);
    cached = { secure: suffix(true), plain: suffix(false) };
    suffixes.set(c, cached);
  }
  return secure ? cached.secure : cached.plain;
}

/** Attributes of a cookie that expires in `maxAge` ms (`0`: already expired, to clear it). */
function cookieAttributes(req: IncomingMessage, c: ResolvedCookie, maxAge: number): SerializeOptions {
  const attributes = attributesOf(c, isSecureFor(req, c));
  attributes.expires = maxAge > 0 ? new Date(Date.now() + maxAge) : EPOCH;
  attributes.maxAge = Math.floor(maxAge / 1000); // from the option itself: no clock read in between
  return attributes;
}

/**
 * The cookie's attributes for a secure or an insecure request. `SameSite=None` and `Partitioned`
 * are only valid with `Secure` (browsers drop such a cookie otherwise), so with `secure: 'auto'` an
 * insecure request gets neither: the default `Lax` behaviour applies there, as in express-session.
 */
function attributesOf(c: ResolvedCookie, secure: boolean): SerializeOptions {
  const attributes: SerializeOptions = {
    path: c.path,
    httpOnly: c.httpOnly,
    secure,
    sameSite: c.sameSite === 'none' && !secure ? false : c.sameSite,
    partitioned: c.partitioned && secure,
  };
  if (c.domain !== undefined) attributes.domain = c.domain;
  if (c.priority !== undefined) attributes.priority = c.priority;
  return attributes;
}

function isSecureFor(req: IncomingMessage, c: ResolvedCookie): boolean {
  return c.secure === 'auto' ? isSecure(req) : c.secure;
}

/** HTTPS as Express sees it (`req.secure`, honouring `trust proxy`), else a TLS socket. */
function isSecure(req: IncomingMessage): boolean {
  const secure = (req as IncomingMessage & { secure?: unknown }).secure;
  if (typeof secure === 'boolean') return secure;
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/** The response's `Set-Cookie` values, as a list. */
function setCookies(res: ServerResponse): string[] {
  const current = res.getHeader('set-cookie');
  return current === undefined ? [] : Array.isArray(current) ? current : [String(current)];
}

function appendSetCookie(res: ServerResponse, value: string): void {
  const current = setCookies(res);
  res.setHeader('Set-Cookie', current.length === 0 ? value : [...current, value]);
}

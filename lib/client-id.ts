/**
 * Reading the id a client sent: every value under the cookie name (a planted duplicate must not
 * hide the real one), then the id header; each checked (signature, then syntax) before it can
 * reach a storage.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { isValidId } from './id';
import type { ResolvedOptions } from './options';

/** What the client sent. @internal */
export interface ClientId {
  /** The verified id, or `undefined` when none was sent or none passed validation. */
  readonly id: string | undefined;
  /** Where the client keeps its id (where `id` came from, else where the first value came from); `undefined` when it sent none. */
  readonly via: 'cookie' | 'header' | undefined;
  /**
   * The client sent more than one value under the cookie name (or the header): one of them may be
   * a duplicate planted from a sibling subdomain or a longer path, so an unknown id is not cleared
   * (the expiring `Set-Cookie` would delete the real cookie and leave the planted one).
   */
  readonly duplicates: boolean;
  /**
   * Every value of the winning source (cookie, else header) that passed the checks, in the order
   * sent, `id` first: when `id` is unknown to the storage, the session tries the next (a planted,
   * well-formed duplicate must not hide the real one). At most {@link MAX_CANDIDATES}.
   */
  readonly candidates: readonly string[];
}

/** How many values sent under the name are considered: more is an attack or a broken client. */
export const MAX_CANDIDATES = 4;

const NONE: ClientId = { id: undefined, via: undefined, duplicates: false, candidates: [] };

/**
 * Reads the id from the cookie, then from the header: the first value that passes the signature
 * (when a secret is set) and the syntax check is the id, the others that pass are its fallbacks
 * (`candidates`); what fails is treated as no id. Bounded: at
 * most {@link MAX_CANDIDATES} values per source are looked at, and nothing is decoded.
 * @internal
 */
export function readClientId(req: IncomingMessage, options: ResolvedOptions): ClientId {
  let via: ClientId['via'];
  let duplicates = false;
  const cookieHeader = options.cookie ? req.headers.cookie : undefined;
  if (typeof cookieHeader === 'string' && cookieHeader.includes(options.name)) {
    const values = cookieValues(cookieHeader, options.name, MAX_CANDIDATES);
    if (values.length > 0) {
      via = 'cookie';
      duplicates = values.length > 1;
      const candidates = validIds(values, options);
      if (candidates.length > 0) return { id: candidates[0], via, duplicates, candidates };
    }
  }
  const header = options.header === undefined ? undefined : req.headers[options.header];
  if (typeof header === 'string' && header !== '') {
    // Node joins repeated headers with ", "; ids and signatures contain no comma.
    const values = header.includes(',') ? header.split(',', MAX_CANDIDATES).map((v) => v.trim()) : [header];
    via ??= 'header';
    duplicates ||= values.length > 1;
    const candidates = validIds(values, options);
    if (candidates.length > 0) return { id: candidates[0], via: 'header', duplicates, candidates };
  }
  return via === undefined ? NONE : { id: undefined, via, duplicates, candidates: [] };
}

/** The ids among `tokens` that pass the signature (with a signer) and the syntax check, in order. */
function validIds(tokens: readonly string[], options: ResolvedOptions): string[] {
  const ids: string[] = [];
  for (const token of tokens) {
    if (token === '' || token.length > 512) continue; // an id plus a signature is under 200 characters
    const value = token.includes('%') ? percentDecoded(token) : token;
    if (value === undefined) continue;
    const id = options.signer ? options.signer.unsign(value) : value;
    if (isValidId(id) && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * The values of every `name=value` pair of a `Cookie` header whose name is exactly `name`, in the
 * order sent, at most `limit` of them; surrounding double quotes are removed (percent-encoding is undone later, per candidate).
 * (The `cookie` package keeps only the first value of a name.) Linear in the header length.
 * @internal
 */
export function cookieValues(header: string, name: string, limit: number): string[] {
  const values: string[] = [];
  const length = header.length;
  let pos = 0;
  while (pos < length && values.length < limit) {
    let end = header.indexOf(';', pos);
    if (end === -1) end = length;
    let start = pos;
    while (start < end && (header.charCodeAt(start) === 32 || header.charCodeAt(start) === 9)) start++;
    if (header.startsWith(name, start)) {
      let eq = start + name.length;
      while (eq < end && (header.charCodeAt(eq) === 32 || header.charCodeAt(eq) === 9)) eq++;
      if (eq < end && header.charCodeAt(eq) === 61 /* = */) values.push(unquote(header.slice(eq + 1, end).trim()));
    }
    pos = end + 1;
  }
  return values;
}

/**
 * A cookie value with its percent-encoding undone (`s%3A…` as express-session and the `cookie`
 * package write it), or `undefined` when it is not valid percent-encoding.
 */
function percentDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

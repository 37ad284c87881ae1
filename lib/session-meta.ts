/**
 * The session's own bookkeeping, kept in the record next to the application's keys under reserved
 * names (`$sw:` and a name): its own TTL (`setTTL`), its creation time (`absoluteTTL`), its owner
 * (`setOwner`). Every
 * storage keeps them like any key, so later requests, batched refreshes and other processes see
 * them; the session layer hides them from `get`/`data`/`size` and refuses them as user keys.
 * @module
 */
import { SessionValueError } from './errors';
import type { SessionRecord } from './storage/storage';

/** Keys starting with this are the library's own: `set`, `get`, `remove` and `setMap` refuse them. */
export const RESERVED_PREFIX = '$sw:';
/** The session's own idle TTL in milliseconds (`session.setTTL()`), as JSON text of a number. @internal */
export const TTL_KEY = '$sw:ttl';
/**
 * `TTL_KEY`'s value for "no own TTL, and a browser-session cookie" (the express-session drop-in's
 * `req.session.cookie.maxAge = null`): not a positive number, so the manager's TTL applies. @internal
 */
export const BROWSER_SESSION_TTL = '0';
/** When the session was created, in milliseconds since the epoch (with `absoluteTTL`). @internal */
export const CREATED_KEY = '$sw:created';
/** The session's owner (`session.setOwner()`), as the JSON text of a string; the storage's owner index follows it. @internal */
export const OWNER_KEY = '$sw:owner';
/** Every reserved key, kept by `regenerate({ keep })` whatever `keep` says. @internal */
export const RESERVED_KEYS: readonly string[] = [TTL_KEY, CREATED_KEY, '$sw:flash', OWNER_KEY];

/** Tells whether `key` is one of the library's own. @internal */
export function isReserved(key: string): boolean {
  return key.startsWith(RESERVED_PREFIX);
}

/** Refuses a reserved key given by the application. @throws {SessionValueError} @internal */
export function checkUserKey(key: string): string {
  if (isReserved(key)) {
    throw new SessionValueError(key, `keys starting with "${RESERVED_PREFIX}" are reserved for sessionware's own bookkeeping (the session's TTL and creation time); choose another key name.`);
  }
  return key;
}

/** A number stored under a reserved key, or `undefined` when absent or not a positive finite number. @internal */
export function metaNumber(record: SessionRecord, key: string): number | undefined {
  const text = record.get(key);
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** `record` without the reserved keys (what the application sees). @internal */
export function withoutReserved(record: Map<string, string>): Map<string, string> {
  for (const key of record.keys()) if (isReserved(key)) record.delete(key);
  return record;
}

/** How many reserved keys `record` holds. @internal */
export function reservedCount(record: SessionRecord): number {
  let n = 0;
  for (const key of record.keys()) if (isReserved(key)) n++;
  return n;
}

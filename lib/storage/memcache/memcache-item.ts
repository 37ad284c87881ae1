/**
 * What `MemcacheStorage` keeps in memcached, and memcached's limits: item values (a session record
 * or a forward left by `moveSession`), keys, expiry times, and the item size check.
 * @internal
 * @module
 */
import { SessionValueError, StorageError } from '../../errors';
import { decodeRecord, encodeRecord } from '../record-codec';
import type { SessionChanges, SessionRecord } from '../storage';

/** memcached's key length limit, in bytes. */
export const MAX_KEY_BYTES = 250;
/** The longest id the library hands a storage. */
export const MAX_ID_LENGTH = 128;
/**
 * What memcached 1.6 adds to key + value when it sizes an item (header, CAS, `\r\n`): measured
 * 59 bytes on 1.6.18 (64-bit), rounded up.
 */
export const ITEM_OVERHEAD = 64;
/** exptimes above this many seconds are read by memcached as absolute Unix times. */
export const MAX_RELATIVE_EXPTIME = 30 * 24 * 60 * 60;

/** Characters a memcached text-protocol key may contain (no spaces, no control characters). */
export const KEY_PATTERN = /^[\x21-\x7e]+$/;

/** A stored item, decoded. */
export type Item =
  | { readonly kind: 'record'; readonly record: Map<string, string> }
  | { readonly kind: 'forward'; readonly to: string; readonly until: number }
  | { readonly kind: 'unreadable'; readonly cause: unknown };

/**
 * Decodes an item value: a record is a JSON object of JSON texts (`{"user":"\"alice\""}`); a
 * forward is `@<until ms>:<new id>`. `null` is an item this storage did not write.
 */
export function decodeItem(value: string | null): Item {
  if (value === null) return { kind: 'unreadable', cause: new TypeError('the item is not a string (stored by another client?)') };
  if (value.startsWith('@')) {
    const colon = value.indexOf(':');
    const until = Number(value.slice(1, colon));
    const to = value.slice(colon + 1);
    if (colon > 1 && Number.isSafeInteger(until) && KEY_PATTERN.test(to)) return { kind: 'forward', to, until };
    return { kind: 'unreadable', cause: new TypeError('malformed forward') };
  }
  try {
    return { kind: 'record', record: decodeRecord(value) };
  } catch (cause) {
    return { kind: 'unreadable', cause };
  }
}

/** The value of a forward to `to` that is followed until `until` (ms since the epoch). */
export function encodeForward(to: string, until: number): string {
  return `@${Math.ceil(until)}:${to}`;
}

/**
 * memcached's exptime for a TTL in ms: whole seconds, rounded up, plus one, so an item lives at
 * least `ttl` (memcached's clock ticks once a second, and an item may expire up to a second before
 * its exptime's count of seconds has fully passed). Above 30 days memcached reads an exptime as
 * an absolute Unix time (a relative value would expire the item at once), so those are sent as
 * `now + seconds`.
 */
export function exptime(ttl: number, now: number): number {
  const seconds = Math.max(1, Math.ceil(ttl / 1000)) + 1;
  return seconds > MAX_RELATIVE_EXPTIME ? Math.floor(now / 1000) + seconds : seconds;
}

/**
 * Serialises a record for `key`, checking memcached's item size limit first.
 * @throws {StorageError} whose `cause` is a `SessionValueError` naming the largest value written
 *   (from `changes`, when given), when the item would be over `maxItemSize`.
 */
export function encodeChecked(storage: string, operation: string, key: string, record: SessionRecord, maxItemSize: number, changes?: SessionChanges): string {
  const text = encodeRecord(record);
  const size = Buffer.byteLength(text) + Buffer.byteLength(key) + ITEM_OVERHEAD;
  if (size > maxItemSize) throw tooLarge(storage, operation, size, maxItemSize, largestKey(changes?.set ?? record));
  return text;
}

/** The error for a session over memcached's item size limit. */
export function tooLarge(storage: string, operation: string, size: number | undefined, maxItemSize: number, key: string | undefined): StorageError {
  const bytes = size === undefined ? 'over memcached\'s item size limit' : `${size} bytes, over the item limit of ${maxItemSize} bytes`;
  const hint = key === undefined ? '' : ` The largest value written is under the key '${key.slice(0, 64)}'.`;
  const message = `the session would be ${bytes} (options.maxItemSize; memcached's -I, default 1 MiB), so it was not stored.${hint} Keep large data out of the session, or raise memcached's -I and maxItemSize together.`;
  return new StorageError(storage, operation, message, { cause: new SessionValueError(key ?? '', message) });
}

function largestKey(values: ReadonlyMap<string, string>): string | undefined {
  let best: string | undefined;
  let size = -1;
  for (const [key, value] of values) {
    if (value.length > size) {
      best = key;
      size = value.length;
    }
  }
  return best;
}

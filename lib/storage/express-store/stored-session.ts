/**
 * The session object an express-session store keeps, as the adapter reads and writes it: data at
 * top level as plain JSON values, plus the reserved `cookie`.
 * @internal
 * @module
 */
import { SessionValueError } from '../../errors';
import type { SessionRecord } from '../storage';

/** A session's data: key to parsed JSON value. @internal */
export type Data = Map<string, unknown>;

/** The changed keys as parsed values; `cookie` is refused. */
export function parseChanges(set: ReadonlyMap<string, string>): Data {
  const values: Data = new Map();
  for (const [key, text] of set) {
    if (key === 'cookie') throw reservedKey();
    values.set(key, JSON.parse(text));
  }
  return values;
}

/** The error for a write of the reserved key. */
export function reservedKey(): SessionValueError {
  return new SessionValueError('cookie', 'the session key "cookie" is reserved when sessions live in an express-session store (it holds the expiry the store reads); rename the key, e.g. to "cookieConsent".');
}

/** The stored `cookie.expires` in ms (a Date, an ISO string or a number), or `undefined`. */
export function expiresOf(raw: Record<string, unknown>): number | undefined {
  const cookie = raw['cookie'];
  const expires = typeof cookie === 'object' && cookie !== null ? (cookie as { expires?: unknown }).expires : undefined;
  if (typeof expires !== 'string' && typeof expires !== 'number' && !(expires instanceof Date)) return undefined;
  const time = new Date(expires).getTime();
  return Number.isNaN(time) ? undefined : time;
}

/** Each value as JSON text; values JSON cannot carry (undefined, functions) are left out. */
export function toRecord(data: Data): SessionRecord {
  const record = new Map<string, string>();
  for (const [key, value] of data) {
    const text = JSON.stringify(value);
    if (text !== undefined) record.set(key, text);
  }
  return record;
}

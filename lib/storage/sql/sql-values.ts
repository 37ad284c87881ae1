/**
 * Helpers of the SQL storages for what goes into and comes out of a row: TTLs, keys the database
 * cannot hold, `keep` filtering, and decoding the stored `{key: jsonText}` object.
 * @internal
 * @module
 */
import { SessionValueError } from '../../errors';

/** Whole, positive milliseconds. @internal */
export function toTTL(ttl: number): number {
  return Math.max(1, Math.ceil(ttl));
}

/** Matches a lone UTF-16 surrogate, which UTF-8 cannot carry. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Rejects keys the database cannot hold verbatim: a lone surrogate (UTF-8 would replace it) and,
 * with `nul`, U+0000 (PostgreSQL text and jsonb cannot contain it).
 * @throws {SessionValueError} naming the key (escaped).
 * @internal
 */
export function checkKeys(storage: string, keys: Iterable<string>, nul: boolean): void {
  for (const key of keys) {
    if ((nul && key.includes('\u0000')) || LONE_SURROGATE.test(key)) {
      const what = nul && key.includes('\u0000') ? 'U+0000 (NUL)' : 'a lone UTF-16 surrogate';
      throw new SessionValueError(key, `${storage}: session key ${JSON.stringify(key)} contains ${what}, which the database cannot store; use another key name.`);
    }
  }
}

/** Applies `keep` to a record (after changes): only the kept keys survive. @internal */
export function keepOnly(record: Map<string, string>, keep: ReadonlySet<string> | undefined): Map<string, string> {
  if (!keep) return record;
  for (const key of record.keys()) if (!keep.has(key)) record.delete(key);
  return record;
}

/** Turns a stored `{key: jsonText}` object into a record; throws on anything else. @internal */
export function toRecord(data: unknown): Map<string, string> {
  const object = typeof data === 'string' ? (JSON.parse(data) as unknown) : data;
  if (object === null || typeof object !== 'object' || Array.isArray(object)) throw new TypeError('stored session is not a JSON object');
  const record = new Map<string, string>();
  for (const [key, value] of Object.entries(object as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new TypeError('stored session value is not JSON text');
    record.set(key, value);
  }
  return record;
}

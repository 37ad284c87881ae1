/**
 * The on-disk / on-wire form of a {@link SessionRecord}: one JSON object whose values are the JSON
 * texts of the session values (`{"user":"{\"id\":7}","n":"3"}`). Shared by the storages that keep a
 * whole session in one blob (memory, file, Redis key-value). Values stay strings end to end, so
 * numbers, nesting and empty arrays survive any backend unchanged, including Redis's Lua cjson.
 * @module
 */
import type { SessionChanges, SessionRecord } from './storage';

/** Serialises a record into one JSON object of JSON texts (keys in the record's order). */
export function encodeRecord(record: SessionRecord): string {
  // Written out pair by pair: half the time of `JSON.stringify(Object.fromEntries(record))`, which
  // first builds an object, and the same text but for the order of integer-like keys.
  let json = '';
  for (const [key, value] of record) json += (json === '' ? '{' : ',') + JSON.stringify(key) + ':' + JSON.stringify(value);
  return json === '' ? '{}' : `${json}}`;
}

/**
 * Parses the output of {@link encodeRecord}.
 * @throws {Error} when `text` is not a JSON object of strings (a corrupt blob).
 */
export function decodeRecord(text: string): Map<string, string> {
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError('stored session is not a JSON object');
  }
  const record = new Map<string, string>();
  const object = parsed as Record<string, unknown>;
  for (const key in object) {
    const value = object[key];
    if (typeof value !== 'string') throw new TypeError('stored session value is not JSON text');
    record.set(key, value);
  }
  return record;
}

/** Returns a new record: `base` with `changes` applied (`base` is not modified). */
export function applyChanges(base: SessionRecord | undefined, changes: SessionChanges): Map<string, string> {
  const next = new Map(base);
  for (const [key, value] of changes.set) next.set(key, value);
  for (const key of changes.removed) next.delete(key);
  return next;
}

/**
 * Returns what `Storage.moveSession` stores under the new id: `base` with `changes` applied,
 * then only the keys in `keep` (every key when `keep` is `undefined`).
 */
export function movedRecord(base: SessionRecord, changes: SessionChanges, keep: ReadonlySet<string> | undefined): Map<string, string> {
  const next = applyChanges(base, changes);
  if (keep !== undefined) for (const key of next.keys()) if (!keep.has(key)) next.delete(key);
  return next;
}

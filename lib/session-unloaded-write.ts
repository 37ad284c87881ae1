/**
 * A write before any read, in one round trip: when the first operation of a request on its session
 * is a `set()` / `setMap()`, the session has not been loaded yet, and a storage with `loadAndSet`
 * (`RedisStorage`, `RedisHashStorage`) can write the values and hand back the record in one step,
 * instead of a load (`getSession`) followed by the write.
 *
 * It applies only when all of these hold, so that nothing the load would have decided is skipped:
 * - the id came from the client (a cookie or the header), and only one id was sent (duplicate
 *   cookies need the load to pick the one the storage knows);
 * - `absoluteTTL` is off (with it, the load checks the session's creation time first);
 * - the storage implements `loadAndSet`.
 * A request that reads first (`get`, `data`, `size`, ...), removes, updates or regenerates first
 * loads as before: this path never applies to it.
 *
 * Every guarantee of the loaded path holds: an unknown, expired or moved id is never adopted (the
 * storage writes nothing for it and the session continues exactly as after an unknown id: a fresh
 * id, a new session); a logout stays a logout (nothing is created); `maxSessionBytes` is checked by
 * the storage against the stored record inside the same atomic step (beyond it nothing is written
 * and `set()` rejects as usual); the session's own TTL (`setTTL`) is kept.
 * @internal
 * @module
 */
import type { IdOrigin, SessionContext } from './session-context';
import type { SessionChangeSet } from './session-changes';
import type { SessionStorage } from './session-storage';
import type { UnloadedWrite } from './storage/storage';

/**
 * Starts the one-step write when it applies (see the module notes), else `undefined` (the caller
 * loads and writes as usual). Resolves `undefined` when the storage knows no session under `id`.
 */
export function writeUnloaded(io: SessionStorage, context: SessionContext, origin: IdOrigin | undefined, id: string | undefined, fallbacks: readonly string[], texts: ReadonlyMap<string, string>): Promise<UnloadedWrite | undefined> | undefined {
  if (id === undefined || origin !== 'client' || fallbacks.length > 0 || context.absoluteTTL !== undefined) return undefined;
  return io.loadAndSet(id, texts, context.maxSessionBytes);
}

/**
 * Takes the storage's answer into the change set: the record as loaded and, when the write
 * happened, `texts` as written straight through. Returns whether it happened (`false`: the session
 * would have grown beyond `maxSessionBytes`; the caller's size check then rejects on the loaded record).
 */
export function landUnloaded(data: SessionChangeSet, result: UnloadedWrite, texts: ReadonlyMap<string, string>): boolean {
  data.load(result.record);
  if (!result.written) return false;
  for (const [key, text] of texts) data.change(key, text, false);
  data.written = true;
  data.dirty = true;
  return true;
}

/**
 * A session's owner ("log out everywhere"). `session.setOwner(owner)` (typically at login, after
 * `regenerate()`) first adds the session to the storage's owner index (`addOwner`), then stores
 * the owner with the session under the reserved key `$sw:owner` (hidden from `data()`), with a
 * creation time (`$sw:created`) if it has none, so listings can show it: the index always holds
 * at least every owned session. `regenerate()` of an owned session indexes the new id before the
 * move, and `$sw:owner` moves with it. `manager.sessionsOf(owner)` and `manager.revoke(owner)`
 * (see `manager-owners.ts`) list the index and check `$sw:owner` of each session again.
 *
 * This module holds the checks of `session.setOwner()`, the reserved
 * `$sw:owner` key that holds it, and the calls to the storage's optional owner index
 * (`addOwner`, `ownerSessions`, `forgetOwner`) that the session and the manager share.
 * @module
 */
import { SessionValueError, StorageError, toStorageError } from './errors';
import type { SessionChangeSet } from './session-changes';
import { CREATED_KEY, OWNER_KEY } from './session-meta';
import type { OwnedSession, Storage } from './storage/storage';

/** The longest owner `setOwner()` accepts, in UTF-16 code units. */
export const MAX_OWNER_LENGTH = 256;

/** C0 and C1 control characters, and lone surrogates (not well-formed Unicode). */
const REFUSED = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Checks an owner given by the application: a non-empty string of at most 256 characters
 * (UTF-16 code units), well-formed Unicode, without control characters. The message never
 * repeats the owner.
 * @throws {SessionValueError} (key `$sw:owner`) otherwise.
 * @internal
 */
export function checkOwner(owner: unknown, method: string): string {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > MAX_OWNER_LENGTH || REFUSED.test(owner)) {
    const what = typeof owner !== 'string' ? `a ${owner === null ? 'null' : typeof owner}` : owner.length === 0 ? 'an empty string' : owner.length > MAX_OWNER_LENGTH ? `${owner.length} characters` : 'a string with a control character or a lone surrogate';
    throw new SessionValueError(OWNER_KEY, `${method}: the owner must be a non-empty string of at most ${MAX_OWNER_LENGTH} characters without control characters, such as the user's id as a string (got ${what}); e.g. String(user.id).`);
  }
  return owner;
}

/** The JSON text `$sw:owner` holds for `owner`. @internal */
export function ownerText(owner: string): string {
  return JSON.stringify(owner);
}

/** The owner a stored `$sw:owner` text names, or `undefined` (absent, removed, or not a string). @internal */
export function ownerFrom(text: string | null | undefined): string | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const owner: unknown = JSON.parse(text);
    return typeof owner === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** A storage's owner index, bound, with every failure a `StorageError` naming the method. @internal */
export interface OwnerIndexCalls {
  addOwner(owner: string, id: string, ttl: number): Promise<void>;
  ownerSessions(owner: string): Promise<readonly OwnedSession[]>;
  forgetOwner(owner: string, ids: readonly string[]): Promise<void>;
}

/**
 * The owner index of `storage`.
 * @throws {StorageError} naming `operation` when the storage lacks any of the three methods.
 * @internal
 */
export function ownerIndexOf(storage: Storage, operation: string): OwnerIndexCalls {
  const { addOwner, ownerSessions, forgetOwner } = storage;
  const name = storage.constructor.name === 'Object' ? 'Storage' : storage.constructor.name;
  if (typeof addOwner !== 'function' || typeof ownerSessions !== 'function' || typeof forgetOwner !== 'function') {
    throw new StorageError(
      name,
      operation,
      'this storage keeps no owner index (addOwner, ownerSessions and forgetOwner), which setOwner(), sessionsOf() and revoke() need ("log out everywhere"); use MemoryStorage, FileStorage, RedisStorage, RedisHashStorage, PostgresStorage or MysqlStorage (MemcacheStorage, StoreAdapter and CookieStorage cannot keep one).',
    );
  }
  const call = async <T>(method: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw toStorageError(name, method, err);
    }
  };
  return {
    addOwner: (owner, id, ttl) => call('addOwner', () => addOwner.call(storage, owner, id, ttl)),
    ownerSessions: (owner) => call('ownerSessions', () => ownerSessions.call(storage, owner)),
    forgetOwner: (owner, ids) => call('forgetOwner', () => forgetOwner.call(storage, owner, ids)),
  };
}

/** What `#write` runs once the session has its id, before the write: the index first. @internal */
export type OwnerWrite = (id: string, texts: Map<string, string>) => Promise<void>;

/**
 * The step of `setOwner(owner)` that runs before the `$sw:owner` write: adds a creation time to
 * the write when the session has none (`hasCreated`), then `addOwner(owner, id, ttl())`.
 * @throws {SessionValueError} on a bad owner, {@link StorageError} on a storage without an index (at once).
 * @internal
 */
export function ownerWrite(storage: Storage, owner: string, ttl: () => number, hasCreated: () => boolean): OwnerWrite {
  const index = ownerIndexOf(storage, 'addOwner');
  checkOwner(owner, 'setOwner()');
  return async (id, texts) => {
    if (!texts.has(CREATED_KEY) && !hasCreated()) texts.set(CREATED_KEY, String(Date.now()));
    await index.addOwner(owner, id, ttl());
  };
}

/** `regenerate()` of an owned session: its new id joins the owner's index before the session is stored there. @internal */
export async function indexNewId(storage: Storage, data: SessionChangeSet, id: string, ttl: number): Promise<void> {
  const text = data.local(OWNER_KEY);
  const owner = ownerFrom(text === undefined ? data.loaded(OWNER_KEY) : text);
  if (owner !== undefined) await ownerIndexOf(storage, 'addOwner').addOwner(owner, id, ttl);
}

/**
 * "Log out everywhere" on the manager's side: `manager.sessionsOf(owner)` lists an owner's live
 * sessions (for a "your devices" page) and `manager.revoke(owner)` ends them. Both read the
 * storage's owner index (`ownerSessions`) and check each listed session's `$sw:owner` again with
 * `getSession` (the index may hold more than the owner's sessions: ids whose session got another
 * owner are forgotten on the way, with `forgetOwner`).
 * @module
 */
import { createHash } from 'node:crypto';
import { SessionValueError, toStorageError } from './errors';
import { CREATED_KEY, metaNumber, OWNER_KEY, TTL_KEY } from './session-meta';
import { checkOwner, ownerFrom, ownerIndexOf } from './session-owner';
import type { SessionRecord, Storage } from './storage/storage';

/** One live session of an owner, as {@link Manager.sessionsOf} lists it. Never holds the raw id. */
export interface OwnerSession {
  /**
   * A stable digest of the session id (43 characters of base64url, the SHA-256 of the id): safe to
   * show and to send back (`revoke(owner, { only: [digest] })`); the id cannot be recovered from it.
   */
  readonly digest: string;
  /** When the session was created, when known (`setOwner()` records it). */
  readonly created?: Date;
  /**
   * When the session was last used: its expiry minus its TTL (its own `setTTL()`, else the
   * manager's). Batched TTL refreshes (file, Redis, SQL: every `updateTTLInterval`) make it lag
   * by up to that interval; a session capped by `absoluteTTL` may show an earlier time.
   */
  readonly lastUsed: Date;
  /** When the session expires unless it is used again. */
  readonly expires: Date;
  /** `true` for the session whose id was given as `current`. */
  readonly current: boolean;
}

/** Options of {@link Manager.sessionsOf}. */
export interface SessionsOfOptions {
  /**
   * The id of the session making the request (`await req.session.id()`): its entry gets `current: true`.
   * @default undefined (no entry is current)
   * @example `await sessions.manager.sessionsOf(user, { current: await req.session.id() })`
   */
  readonly current?: string;
}

/** Options of {@link Manager.revoke}. */
export interface RevokeOptions {
  /**
   * Session ids to spare, typically the current one (`await req.session.id()`): "log out of all
   * other devices".
   * @default undefined (none spared)
   * @example `{ except: await req.session.id() }`
   */
  readonly except?: string | readonly string[];
  /**
   * Only the sessions with these digests (from {@link Manager.sessionsOf}): "log out this device".
   * @default undefined (every session of the owner)
   * @example `{ only: [req.body.digest] }`
   */
  readonly only?: readonly string[];
}

/** How many sessions are read (or removed) at once while checking a listing (or revoking). */
const CONCURRENCY = 8;

/** The digest {@link OwnerSession.digest} shows for the session `id`. */
export function digestOf(id: string): string {
  return createHash('sha256').update(id, 'latin1').digest('base64url');
}

/** What listing and revoking need from the manager. @internal */
export interface OwnerContext {
  getStorage(): Storage;
  getTTL(): number;
}

/** A listed id whose session belongs to the owner, with its record. */
interface Verified {
  readonly id: string;
  readonly expiresAt: number;
  readonly record: SessionRecord;
}

/**
 * The owner's sessions, checked: each listed id whose session still names `owner` in `$sw:owner`.
 * Ids whose session names another owner are forgotten; `andUnclaimed` also returns the sessions
 * that name no owner yet (a `setOwner()` whose write has not landed: `revoke()` ends those too).
 */
async function verified(context: OwnerContext, owner: string, method: string, andUnclaimed: boolean): Promise<Verified[]> {
  checkOwner(owner, method);
  const storage = context.getStorage();
  const index = ownerIndexOf(storage, 'ownerSessions');
  const listed = await index.ownerSessions(owner);
  const mine: Verified[] = [];
  const strangers: string[] = [];
  await inParallel(listed, async ({ id, expiresAt }) => {
    const record = await guarded(storage, 'getSession', () => storage.getSession(id, context.getTTL()));
    if (record === undefined) return; // ended since it was listed
    const named = ownerFrom(record.get(OWNER_KEY));
    if (named === owner || (named === undefined && andUnclaimed)) mine.push({ id, expiresAt, record });
    else if (named !== undefined) strangers.push(id);
  });
  if (strangers.length > 0) await index.forgetOwner(owner, strangers);
  return mine;
}

/** See {@link Manager.sessionsOf}. @internal */
export async function sessionsOf(context: OwnerContext, owner: string, options: SessionsOfOptions = {}): Promise<OwnerSession[]> {
  const current = options.current;
  const sessions = (await verified(context, owner, 'sessionsOf()', false)).map(({ id, expiresAt, record }): OwnerSession => {
    const created = metaNumber(record, CREATED_KEY);
    const ttl = metaNumber(record, TTL_KEY) ?? context.getTTL();
    const lastUsed = Math.max(expiresAt - ttl, created ?? -Infinity);
    return { digest: digestOf(id), ...(created === undefined ? {} : { created: new Date(created) }), lastUsed: new Date(lastUsed), expires: new Date(expiresAt), current: id === current };
  });
  return sessions.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
}

/** See {@link Manager.revoke}. @internal */
export async function revoke(context: OwnerContext, owner: string, options: RevokeOptions = {}): Promise<number> {
  const except = new Set(typeof options.except === 'string' ? [options.except] : checkList(options.except, 'except'));
  const only = options.only === undefined ? undefined : new Set(checkList(options.only, 'only'));
  const storage = context.getStorage();
  const chosen = (await verified(context, owner, 'revoke()', true)).filter(({ id }) => !except.has(id) && (only === undefined || only.has(digestOf(id))));
  let ended = 0;
  const removed: string[] = [];
  await inParallel(chosen, async ({ id }) => {
    if (await guarded(storage, 'removeAll', () => storage.removeAll(id))) ended++;
    removed.push(id);
  });
  if (removed.length > 0) await ownerIndexOf(storage, 'forgetOwner').forgetOwner(owner, removed);
  return ended;
}

function checkList(list: unknown, name: string): readonly string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
    throw new SessionValueError(OWNER_KEY, `revoke(owner, { ${name} }): ${name} must be a string or an array of strings (${name === 'only' ? 'digests from sessionsOf()' : 'session ids, e.g. await req.session.id()'}).`);
  }
  return list as readonly string[];
}

/** Runs one storage call, any failure a `StorageError` naming `operation`. */
async function guarded<T>(storage: Storage, operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toStorageError(storage.constructor.name, operation, err);
  }
}

/** Runs `task` on every item, at most {@link CONCURRENCY} at a time; rejects with the first failure once all started ones settled. */
async function inParallel<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) await task(item);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

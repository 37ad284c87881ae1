/**
 * `RedisStorageBase`: what `RedisStorage` and `RedisHashStorage` share: options, the connection,
 * key naming, logout (`DEL`), batched TTL refreshes and shutdown.
 * @internal
 * @module
 */
import { SessionOptionsError, StorageError } from '../../errors';
import { isValidId } from '../../id';
import { movedRecord } from '../record-codec';
import type { Cluster } from 'ioredis';
import { RedisClient, type LuaScript, type RedisConnection } from './redis-client';
import { DELETE, recordOf } from './redis-lua';
import { TtlBatch } from '../ttl-batch';
import { redisTtlSink } from './redis-ttl-batch';
import { RedisOwnerIndex } from './redis-owners';
import type { CompareAndSetResult, MoveOptions, OwnedSession, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';

/** How many forwards a write follows (the contract's bound). */
export const MAX_HOPS = 4;

/** How often a Cluster `moveSession` retries when writers keep changing the session under it. */
const MOVE_ATTEMPTS = 10;

/** What a Cluster move read from the old key: the record and the version the swap compares. */
export interface MoveSnapshot {
  readonly record: SessionRecord;
  readonly version: string;
}

/** Options shared by {@link RedisStorage} and {@link RedisHashStorage}. */
export interface RedisBaseOptions {
  /**
   * Prepended to every session id to form its Redis key. Give each application its own prefix when
   * they share a database. In a Cluster each session key lands in its own slot; a prefix with a
   * `{hash tag}` would pin every session to one node, so don't.
   * @default 'session:'
   * @example `{ prefix: 'myapp:sess:' }`
   */
  readonly prefix?: string;
  /**
   * How often the TTL refreshes of sessions that closed clean (read, not changed) are sent, in
   * milliseconds, as one pipeline of `PEXPIRE`s (single-key commands on a Cluster). A refresh waits
   * at most this long; sessions whose TTL is shorter than twice this interval are refreshed at
   * once. `PEXPIRE` never creates a key, so a batched refresh cannot bring back a removed session.
   * @default 10_000
   */
  readonly updateTTLInterval?: number;
  /**
   * The most milliseconds one Redis call may take before it fails with a `StorageError` naming the
   * operation. Applies to every call, on clients you pass as well as on clients the storage creates,
   * so a request never hangs on ioredis's offline queue while Redis is down. A call that timed out
   * may still be carried out by ioredis later, once Redis is back.
   * @default 2_000
   */
  readonly commandTimeout?: number;
  /**
   * Batches the commands of concurrent requests into one socket write, as node-redis does: a
   * command sent while none of this storage's commands is waiting for Redis goes out at once (a lone
   * request never waits), and the commands issued while one is outstanding are held in the socket's
   * buffer (`socket.cork()`) until the next `setImmediate`, then written together (Redis then reads
   * and answers them in one go: far less CPU per command under load). Works on standalone, Sentinel
   * and Cluster clients (every node's socket), on clients the storage creates **and on clients you
   * pass**: on a client you pass, your own commands written during such a batch join it too (same
   * order, a delay of at most one event-loop turn). Commands stay in order, replies and the
   * `commandTimeout` are unchanged. Unlike ioredis's `enableAutoPipelining` (which you may also turn
   * on), nothing is delayed while the connection is idle. `false` writes every command on its own.
   * @default true
   * @example `new RedisStorage(redis, { batchCommands: false })`
   */
  readonly batchCommands?: boolean;
  /**
   * Receives failures that happen outside any request: the batched TTL refreshes. Failures of calls
   * made for a request reject that call instead (and reach the middleware's `onError`).
   * @default logs the error with `console.error`
   * @example `{ onError: (err) => logger.warn({ err }, 'session TTL refresh failed') }`
   */
  readonly onError?: (err: StorageError) => void;
}

/** Shared implementation of the Redis storages. @internal */
export abstract class RedisStorageBase implements Storage {
  /** The connection, with timeouts and script loading. */
  protected readonly redis: RedisClient;
  readonly #name: string;
  readonly #prefix: string;
  readonly #commandTimeout: number;
  /** Redis's clock minus ours (ms), learned from the replies of writes that created a session. */
  #clockOffset = 0;
  readonly #batch: TtlBatch;
  readonly #onError: (err: StorageError) => void;
  readonly #owners: RedisOwnerIndex;

  protected constructor(name: string, connection: RedisConnection, options: RedisBaseOptions) {
    const { prefix = 'session:', updateTTLInterval = 10_000, commandTimeout = 2_000, batchCommands = true, onError = logError } = options;
    if (connection === null || connection === undefined || (typeof connection !== 'object' && typeof connection !== 'string')) {
      throw new SessionOptionsError(`${name}: pass an ioredis Redis or Cluster client, ioredis connection options or a redis:// URL.`);
    }
    if (typeof prefix !== 'string') throw new SessionOptionsError(`${name}: options.prefix must be a string, e.g. 'session:'.`);
    if (!(updateTTLInterval > 0) || !Number.isFinite(updateTTLInterval)) {
      throw new SessionOptionsError(`${name}: options.updateTTLInterval must be a positive, finite number of milliseconds.`);
    }
    if (!(commandTimeout > 0) || !Number.isFinite(commandTimeout)) {
      throw new SessionOptionsError(`${name}: options.commandTimeout must be a positive, finite number of milliseconds.`);
    }
    if (typeof onError !== 'function') throw new SessionOptionsError(`${name}: options.onError must be a function.`);
    if (typeof batchCommands !== 'boolean') throw new SessionOptionsError(`${name}: options.batchCommands must be true or false.`);
    this.#name = name;
    this.#prefix = prefix;
    this.#commandTimeout = commandTimeout;
    this.#onError = onError;
    this.redis = new RedisClient(name, connection, commandTimeout, batchCommands);
    this.#batch = new TtlBatch(redisTtlSink(this.redis), name, updateTTLInterval, onError);
    this.#owners = new RedisOwnerIndex({ redis: this.redis, prefix, key: (id) => this.key(id), forwardKey: (id) => this.forwardKey(id) });
  }

  /** The ioredis client in use (yours, or the one the storage created). */
  get client(): RedisClient['client'] {
    return this.redis.client;
  }

  /** How many TTL refreshes wait for the next batch. */
  get pendingTTLUpdates(): number {
    return this.#batch.size;
  }

  abstract getSession(id: string, ttl?: number): Promise<SessionRecord | undefined>;
  abstract setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean>;

  /**
   * One script (`DEL` of the session and of a forward left by `moveSession`), plus one per forward
   * followed. Resolves whether a session was deleted.
   */
  async removeAll(id: string): Promise<boolean> {
    let current = id;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const reply = await this.redis.script('removeAll', DELETE, [this.key(current), this.forwardKey(current)], []);
      const [deleted, target] = Array.isArray(reply) ? (reply as unknown[]) : [];
      if (target === null || target === undefined) return deleted === 1;
      current = this.#target(target, 'removeAll');
    }
    return false;
  }

  /**
   * Moves the session to `newId` and leaves a forward (a plain string key holding `newId`, in the
   * old session key's slot: see {@link RedisStorageBase.forwardKey}) under the old id.
   *
   * - **Standalone / Sentinel**: one script over the old key, its forward key and the new key:
   *   atomic, one round trip.
   * - **Cluster**: the old and the new key live in different slots, so no script can hold both.
   *   The move is optimistic: (1) read the old session and its version (every write changes it);
   *   (2) write the moved record under the new key (nobody knows that id yet); (3) one script on
   *   the old key's slot swaps the old session for the forward **only if its version is unchanged**.
   *   If a writer changed it in between, (1)-(3) run again (at most 10 times, then the call
   *   rejects); if it is gone (a logout, expiry, or another move won), the new key is deleted and
   *   the move resolves `undefined`. A logout after (3) follows the forward and deletes the new
   *   key. A write is therefore either in the record moved at (3), or lands in the new session by
   *   the forward. Costs 3 round trips (plus 3 per retry).
   *
   * If a call fails midway (timeout), the new key may be left holding a copy under an id nobody
   * was given; it expires with its TTL.
   * @throws {TypeError} when `newId` equals `oldId`.
   */
  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, options: MoveOptions): Promise<SessionRecord | undefined> {
    if (oldId === newId) throw new TypeError(`${this.#name}.moveSession: the new id must differ from the old one.`);
    const old = [this.key(oldId), this.forwardKey(oldId)];
    if (!this.redis.isCluster) {
      const args = [String(toTTL(ttl)), String(toTTL(options.forwardTTL)), newId, String(changes.set.size), String(changes.removed.size), options.keep ? '1' : '0'];
      for (const [key, value] of changes.set) args.push(key, value);
      args.push(...changes.removed, ...(options.keep ?? []));
      const reply = await this.redis.script('moveSession', this.moveScript, [...old, this.key(newId)], args);
      return Array.isArray(reply) ? recordOf(reply) : undefined;
    }
    for (let attempt = 0; attempt < MOVE_ATTEMPTS; attempt++) {
      const snapshot = await this.readForMove(oldId);
      if (snapshot === undefined) return undefined;
      const record = movedRecord(snapshot.record, changes, options.keep);
      await this.writeMoved(newId, record, ttl);
      const swapped = await this.redis.script('moveSession', this.swapScript, old, [snapshot.version, newId, toTTL(options.forwardTTL)]);
      if (swapped === 1) return record;
      if (swapped === 0) {
        await this.redis.call('moveSession', 'DEL', this.key(newId));
        return undefined;
      }
    }
    await this.redis.call('moveSession', 'DEL', this.key(newId));
    throw new StorageError(this.#name, 'moveSession', `the session changed during each of ${MOVE_ATTEMPTS} attempts to move it; try again.`);
  }

  /**
   * `SCAN` over `prefix*` on every master, counting keys named `prefix + <a valid id>` (forward
   * keys do not match). **Costs a walk of the whole keyspace of each node** (`SCAN` visits every
   * key, 1000 per call), not only the sessions: call it for a dashboard, not per request. Keys of
   * another application whose names are `prefix + id`-shaped are counted too: give each its prefix.
   */
  async count(): Promise<number> {
    const client = this.redis.client;
    const nodes = this.redis.isCluster ? (client as Cluster).nodes('master') : [client];
    const pattern = `${this.#prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
    let count = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const reply = (await this.redis.run('count', () => node.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000))) as [string, unknown[]];
        cursor = String(reply[0]);
        for (const key of reply[1]) if (typeof key === 'string' && isValidId(key.slice(this.#prefix.length))) count++;
      } while (cursor !== '0');
    }
    return count;
  }

  /**
   * Owner index ("log out everywhere"): one script that adds `id` to the owner's sorted set
   * (`prefix + 'owner:' + sha256(owner)`), kept at least `ttl` while its session is not written yet,
   * and prunes at most 8 members whose sessions ended. On a Cluster: a script on the index, then
   * single-key checks of those members.
   */
  addOwner(owner: string, id: string, ttl: number): Promise<void> {
    return this.#owners.add(owner, id, toTTL(ttl));
  }

  /**
   * One script: the owner's live sessions with their expiry (Redis's time + `PTTL`); members whose
   * session ended (or moved: a forward) are removed from the index. On a Cluster: `ZRANGE`, one
   * `PTTL` per member, one script on the index.
   */
  ownerSessions(owner: string): Promise<readonly OwnedSession[]> {
    return this.#owners.list(owner);
  }

  /** `ZREM` of `ids` from the owner's index; the sessions are not touched. */
  forgetOwner(owner: string, ids: readonly string[]): Promise<void> {
    return this.#owners.forget(owner, ids);
  }

  /** Queues `PEXPIRE` for the next batch (sent at once for short TTLs); never creates a session. */
  updateTTL(id: string, ttl: number): Promise<void> {
    return this.#batch.add(this.key(id), toTTL(ttl));
  }

  /**
   * Sends the queued TTL refreshes now instead of waiting for the interval.
   * @throws {StorageError} (operation `updateTTL`) when some of them failed.
   */
  flush(): Promise<void> {
    return this.#batch.flush();
  }

  /**
   * Flushes the queued TTL refreshes (a failure goes to `onError`), then closes the client if the
   * storage created it. A client you passed in stays open.
   */
  async close(): Promise<void> {
    this.#batch.stop();
    try {
      await this.#batch.flush();
    } catch (err) {
      report(this.#onError, err as StorageError);
    }
    await this.redis.close();
  }

  /** The Redis key of session `id`. */
  protected key(id: string): string {
    return this.#prefix + id;
  }

  /**
   * The key of the forward `moveSession` leaves for `id`: a string key holding the new id, never
   * readable as a session (it is another key), and in the **same Cluster slot** as the session key,
   * so one script can check both: `{<session key>}>`, or `<session key>>` when the prefix already
   * has a `{hash tag}` (which then decides the slot of both).
   */
  protected forwardKey(id: string): string {
    const key = this.key(id);
    const open = key.indexOf('{');
    const hasTag = open >= 0 && key.indexOf('}', open + 1) > open + 1;
    return hasTag ? `${key}>` : `{${key}}>`;
  }

  /**
   * Runs a write script on `id`, following forwards: a reply that is a string is the id the session
   * moved to, and the script runs again there (with `create` off: `args[1]`), at most
   * {@link MAX_HOPS} times. Resolves the final reply (a number); `0` (gone) past the last hop.
   *
   * With `create` on (`args[1] === '1'`), the script gets a deadline instead, in Redis's clock (see
   * `CREATE_LUA`): now + the learned clock offset + `commandTimeout`. A refusal while the call
   * is still waiting for its answer can only mean the clocks disagree: the offset is learned from
   * the reply and the write is sent once more.
   */
  protected async writeFollowing(operation: string, script: LuaScript, id: string, args: string[]): Promise<unknown> {
    const create = args[1] === '1';
    for (let attempt = 0; attempt < 2; attempt++) {
      if (create) args[1] = String(Math.ceil(Date.now() + this.#clockOffset + this.#commandTimeout));
      const reply = await this.#follow(operation, script, id, args);
      if (!Array.isArray(reply)) return reply;
      const [code, redisNow] = reply as unknown[];
      if (typeof redisNow === 'number') this.#clockOffset = redisNow - Date.now();
      if (code !== 3) return code;
    }
    throw new StorageError(this.#name, operation, "Redis refused to create the session as too late twice: its clock and this server's keep disagreeing; synchronise them (NTP).");
  }

  async #follow(operation: string, script: LuaScript, id: string, args: string[]): Promise<unknown> {
    let current = id;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const reply = await this.redis.script(operation, script, [this.key(current), this.forwardKey(current)], args);
      if (typeof reply !== 'string' && !Buffer.isBuffer(reply)) return reply;
      current = this.#target(reply, operation);
      args[1] = '0';
    }
    return 0;
  }

  /**
   * One `EVALSHA` of {@link RedisStorageBase.casScript}: writes `key` if it holds `expected`,
   * resetting the TTL, atomically; follows forwards like every write.
   */
  async compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult> {
    const args = [String(toTTL(ttl)), options.create ? '1' : '0', key, expected === undefined ? '0' : '1', expected ?? '', next === undefined ? '0' : '1', next ?? ''];
    const reply = await this.writeFollowing('compareAndSet', this.casScript, id, args);
    return reply === 1 ? 'ok' : reply === 2 ? 'conflict' : 'gone';
  }

  /** The compare-and-set script: KEYS = session key; ARGV = ttl, create, key, has expected, expected, has next, next. Replies 1 ok, 2 conflict, 0 gone (or a forward's target). */
  protected abstract readonly casScript: LuaScript;
  /** The standalone move script: KEYS = old key, its forward key, new key; ARGV as `APPLY_MOVE_LUA`. */
  protected abstract readonly moveScript: LuaScript;
  /** The Cluster swap script: KEYS = old key, its forward key; ARGV = version read, newId, forwardTTL. */
  protected abstract readonly swapScript: LuaScript;
  /** Cluster move, step 1: the live session under `id` and its version, or `undefined`. */
  protected abstract readForMove(id: string): Promise<MoveSnapshot | undefined>;
  /** Cluster move, step 2: stores `record` under `id` (replacing anything there) with `ttl`. */
  protected abstract writeMoved(id: string, record: SessionRecord, ttl: number): Promise<void>;

  #target(reply: unknown, operation: string): string {
    const target = String(reply);
    if (!isValidId(target)) throw new StorageError(this.#name, operation, 'a forward left by moveSession holds no valid session id (corrupt key); treating the call as failed.');
    return target;
  }
}

/** Redis wants whole, positive milliseconds. */
export function toTTL(ttl: number): number {
  return Math.max(1, Math.ceil(ttl));
}

/**
 * Flat script arguments for changes: `ttl, create, <number of set pairs>, k1, v1, ..., removed...`.
 * @internal
 */
export function changeArgs(ttl: number, create: boolean, set: ReadonlyMap<string, string>, removed: Iterable<string>): string[] {
  const args = [String(toTTL(ttl)), create ? '1' : '0', String(set.size)];
  for (const [key, value] of set) args.push(key, value);
  for (const key of removed) args.push(key);
  return args;
}

function report(onError: (err: StorageError) => void, err: StorageError): void {
  try {
    onError(err);
  } catch (hookErr) {
    console.error('[sessionware] options.onError threw:', hookErr);
  }
}

function logError(err: StorageError): void {
  console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`);
}

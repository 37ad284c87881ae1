/**
 * `RedisStorageBase`: what `RedisStorage` and `RedisHashStorage` share: options, the connection,
 * key naming, logout (`DEL`), batched TTL refreshes and shutdown.
 * @internal
 * @module
 */
import { SessionOptionsError, StorageError } from '../../errors';
import { RedisClient, type RedisConnection } from './redis-client';
import { TtlBatch } from './redis-ttl-batch';
import type { SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';

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
  readonly #prefix: string;
  readonly #batch: TtlBatch;
  readonly #onError: (err: StorageError) => void;

  protected constructor(name: string, connection: RedisConnection, options: RedisBaseOptions) {
    const { prefix = 'session:', updateTTLInterval = 10_000, commandTimeout = 2_000, onError = logError } = options;
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
    this.#prefix = prefix;
    this.#onError = onError;
    this.redis = new RedisClient(name, connection, commandTimeout);
    this.#batch = new TtlBatch(this.redis, name, updateTTLInterval, onError);
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

  /** `DEL`: one command. Resolves whether a session was deleted. */
  async removeAll(id: string): Promise<boolean> {
    return (await this.redis.call('removeAll', 'DEL', this.key(id))) === 1;
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

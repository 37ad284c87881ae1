/**
 * `RedisClient`: the one place the Redis storages talk to ioredis. It owns (or borrows) the client,
 * bounds every call with a timeout so no request waits forever on ioredis's offline queue, runs Lua
 * scripts with `EVALSHA` (falling back to `EVAL` after `NOSCRIPT`, e.g. after a restart or on a new
 * Cluster node) and sends batched `PEXPIRE`s in the way the topology allows.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { StorageError, describeCause } from '../../errors';
import { Deadlines } from '../deadlines';

/**
 * What a Redis storage connects with: an ioredis `Redis` client (standalone or Sentinel), an ioredis
 * `Cluster` client, ioredis connection options, or a `redis://` URL. For options and URLs the
 * storage creates the client, owns it and closes it in `close()`; a client you pass stays yours.
 *
 * A client the storage creates gets `maxRetriesPerRequest: 1`, a reconnect delay capped at 1 s,
 * ioredis's `commandTimeout` set to the storage's `commandTimeout`, and an `error` listener (its
 * connection errors surface as rejected calls); your options override the first three. On a client
 * you pass, the storage adds no listener: handle its `error` events as usual.
 *
 * @example `new RedisStorage(new Redis(process.env.REDIS_URL))`, `new RedisStorage({ host: 'redis', port: 6379 })`,
 *   `new RedisStorage(new Cluster([{ host: 'redis-1', port: 6379 }]))`
 */
export type RedisConnection = RedisClientLike | RedisOptions | string;

/** An ioredis client, in either reply mapping. */
export type RedisClientLike = Redis | Redis<'resp3'> | Cluster | Cluster<'resp3'>;

/** A Lua script with its SHA1, run through {@link RedisClient.script}. */
export class LuaScript {
  /** The SHA1 of `source`, as `EVALSHA` wants it. */
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/** Defaults applied to clients the storage creates (your options override them). */
const OWNED_DEFAULTS: RedisOptions = {
  // Fail queued commands after one reconnect attempt instead of 20: requests fail fast while Redis is down.
  maxRetriesPerRequest: 1,
  // Reconnect quickly once Redis is back (ioredis's default backs off up to 5 s).
  retryStrategy: (times: number) => Math.min(100 * times, 1000),
};

type Arg = string | number | Buffer;

/** Wraps one ioredis client for a storage. @internal */
export class RedisClient {
  /** The ioredis client (created by the storage when {@link RedisClient.owned}). */
  readonly client: RedisClientLike;
  /** `true` when the storage created the client and must close it. */
  readonly owned: boolean;
  /** `true` for an ioredis `Cluster`: no pipelines across slots. */
  readonly isCluster: boolean;
  readonly #storage: string;
  readonly #timeout: number;
  readonly #deadlines: Deadlines;
  readonly #batching: boolean;
  /** The sockets corked for the current batch; uncorked at the next `setImmediate`. */
  #corked: Corkable[] | undefined;
  readonly #uncork = (): void => {
    const streams = this.#corked;
    this.#corked = undefined;
    if (streams) for (const stream of streams) stream.uncork();
  };

  constructor(storage: string, connection: RedisConnection, commandTimeout: number, batching = true) {
    this.#storage = storage;
    this.#timeout = commandTimeout;
    this.#deadlines = new Deadlines(commandTimeout);
    this.#batching = batching;
    if (isClient(connection)) {
      this.client = connection;
      this.owned = false;
    } else {
      // The cast only narrows `replyMapping` for the overloads; whatever mode you pass is kept.
      const options = { ...OWNED_DEFAULTS, commandTimeout, ...(typeof connection === 'string' ? {} : connection) } as RedisOptions & { replyMapping?: 'legacy' };
      const client = typeof connection === 'string' ? new Redis(connection, options) : new Redis(options);
      // Connection errors surface as rejected commands (StorageError); never as an unhandled 'error' event.
      client.on('error', () => undefined);
      this.client = client;
      this.owned = true;
    }
    this.isCluster = (this.client as { isCluster?: unknown }).isCluster === true;
  }

  /** Sends one command; rejects with a `StorageError` naming `operation` on failure or timeout. */
  call(operation: string, command: string, ...args: Arg[]): Promise<unknown> {
    return this.#bounded(operation, () => this.client.call(command, ...args));
  }

  /** Runs `fn` (a call on the client or one of its nodes) with the timeout and error mapping of {@link RedisClient.call}. */
  run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return this.#bounded(operation, fn);
  }

  /** Like {@link RedisClient.call}, with bulk replies as `Buffer`s (for byte-exact parsing). */
  callBuffer(operation: string, command: string, ...args: Arg[]): Promise<unknown> {
    return this.#bounded(operation, () => this.client.callBuffer(command, ...args));
  }

  /**
   * Runs `script` on `keys` (one key, or keys of one slot on a Cluster) with `EVALSHA`, loading it
   * with `EVAL` when the server lacks it.
   */
  script(operation: string, script: LuaScript, keys: string | readonly string[], args: readonly Arg[]): Promise<unknown> {
    const names = typeof keys === 'string' ? [keys] : keys;
    return this.#bounded(operation, async () => {
      try {
        return await this.client.call('EVALSHA', script.sha, names.length, ...names, ...args);
      } catch (err) {
        if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
        return this.client.call('EVAL', script.source, names.length, ...names, ...args);
      }
    });
  }

  /**
   * Sends `PEXPIRE key ttl` for every entry: one pipeline on a standalone client, single-key commands
   * on a Cluster (ioredis routes each to its node; a pipeline would need every key in one slot).
   * `PEXPIRE` never creates a key. Resolves the number of commands that failed and the first error.
   */
  async pexpireMany(operation: string, entries: ReadonlyArray<readonly [string, number]>): Promise<{ failed: number; first: unknown }> {
    let failed = 0;
    let first: unknown;
    const fail = (err: unknown) => {
      if (failed++ === 0) first = err;
    };
    if (this.isCluster) {
      await Promise.all(entries.map(([key, ttl]) => this.call(operation, 'PEXPIRE', key, ttl).catch(fail)));
      return { failed, first };
    }
    const redis = this.client as Redis;
    try {
      const results = await this.#bounded(operation, () => {
        const pipeline = redis.pipeline();
        for (const [key, ttl] of entries) pipeline.pexpire(key, ttl);
        return pipeline.exec();
      });
      for (const [err] of results ?? []) if (err) fail(err);
    } catch (err) {
      failed = entries.length;
      first = err;
    }
    return { failed, first };
  }

  /** Closes the client if the storage created it; a borrowed client is left open. */
  async close(): Promise<void> {
    if (!this.owned) return;
    const client = this.client;
    const ended = new Promise<void>((resolve) => (client.status === 'end' ? resolve() : (client as Redis).once('end', () => resolve())));
    try {
      await this.#bounded('close', () => client.quit());
    } catch {
      // Redis is unreachable: drop the connection below.
    }
    client.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#timeout)))]);
    clearTimeout(timer);
  }

  /**
   * Runs `fn` with the command timeout; every failure becomes a `StorageError` naming `operation`.
   * Deadlines are checked by one `unref`'d sweep timer (every `commandTimeout / 10`, at most 100 ms)
   * rather than a timer per command, which would cost more than the command on the hot path.
   */
  #bounded<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (this.#batching && this.#corked === undefined && this.#deadlines.pending > 0) this.#cork();
    return this.#deadlines.bound(
      fn,
      () => new StorageError(this.#storage, operation, `Redis did not answer within ${this.#deadlines.timeout} ms (commandTimeout); is it reachable?`),
      (err) => (err instanceof StorageError ? err : new StorageError(this.#storage, operation, describeCause(err), { cause: err })),
    );
  }

  /**
   * Starts a batch: a command is already waiting for Redis, so this one (and every other written
   * before the next `setImmediate`, from any request) is held in the socket's buffer and goes out
   * in one write. A lone command never gets here: with nothing in flight it is written at once.
   * On a Cluster every connected node's socket is corked (ioredis routes each command to its node).
   */
  #cork(): void {
    const client = this.client;
    const nodes = this.isCluster ? (client as Cluster).nodes('all') : [client as Redis];
    const streams: Corkable[] = [];
    for (const node of nodes) {
      const stream = node.status === 'ready' ? (node as { stream?: Partial<Corkable> }).stream : undefined;
      if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') continue;
      stream.cork();
      streams.push(stream as Corkable);
    }
    if (streams.length === 0) return;
    this.#corked = streams;
    setImmediate(this.#uncork);
  }
}

/** A socket's write batching (`net.Socket`, `tls.TLSSocket`). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Tells an ioredis client (of any installed copy of ioredis) from connection options. */
function isClient(connection: RedisConnection): connection is RedisClientLike {
  return typeof connection === 'object' && connection !== null && typeof (connection as { call?: unknown }).call === 'function' && typeof (connection as { pipeline?: unknown }).pipeline === 'function';
}

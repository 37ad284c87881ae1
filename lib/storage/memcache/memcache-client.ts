/**
 * `MemcacheClient`: the one place `MemcacheStorage` talks to memcached, through the
 * `memcache-client` package (text protocol). It owns (or borrows) the client, bounds every call with
 * a timeout, and turns memcached's replies into values: a miss is `undefined`, `NOT_STORED` /
 * `EXISTS` / `NOT_FOUND` are results rather than errors, and every failure is a `StorageError`
 * naming the storage operation.
 * @internal
 * @module
 */
import type { Socket } from 'node:net';
import { MemcacheClient as Client, type MemcacheClientOptions } from 'memcache-client';
import { StorageError, describeCause } from '../../errors';
import { Deadlines } from '../deadlines';
import { MemcacheWire } from './memcache-wire';

/**
 * What `MemcacheStorage` connects with: a `memcache-client` `MemcacheClient` (left open by
 * `close()`), its constructor options, or a `'host:port'` string. For options and strings the
 * storage creates the client, owns it and closes it in `close()`.
 *
 * A client the storage creates gets `cmdTimeout` and `connectTimeout` equal to the storage's
 * `commandTimeout` (your options override them) and `keepAlive`; memcache-client opens one
 * connection per server by default (`{ server: { server: 'host:port', maxConnections: 4 } }` for
 * more) and pipelines commands over it. For such a client on one plain-TCP server, the hot command
 * (`gats`, the one command of a read-only request) goes through a small private text-protocol
 * client instead (`MemcacheWire`, at most as many connections again): memcache-client's
 * per-command overhead was most of what a read cost above a bare request. A client you pass in is
 * used for every command.
 *
 * @example `new MemcacheStorage('127.0.0.1:11211')`,
 *   `new MemcacheStorage({ server: { server: 'cache:11211', maxConnections: 2 } })`,
 *   `new MemcacheStorage(new MemcacheClient({ server: 'cache:11211' }))`
 */
export type MemcacheConnection = Client | MemcacheClientOptions | string;

/** An item read with `gets`: its value and CAS token. */
export interface CasItem {
  /** The stored string, or `null` when the item is not a string this storage wrote. */
  readonly value: string | null;
  readonly cas: string;
}

/** Replies of the storage commands (`add`, `set`, `cas`). */
export type StoreReply = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND';

/** Store replies memcache-client rejects with (an `Error` whose message is the reply). */
const STORE_REPLIES: ReadonlySet<string> = new Set(['NOT_STORED', 'EXISTS', 'NOT_FOUND']);

/** memcached's reply when an item is over its size limit (`-I`). */
export const TOO_LARGE = 'SERVER_ERROR object too large for cache';

interface Retrieved {
  readonly value?: unknown;
  readonly casUniq?: string | number;
}

/**
 * Wraps one memcache-client for a storage. Commands go through memcache-client's `xsend` (its
 * connection choice, reply queue and parser) with a socket callback that writes each command as one
 * string into a **corked** socket, uncorked once per event-loop turn (`setImmediate`): the commands
 * of all requests that arrive together leave in one `writev` instead of one write syscall each (the
 * largest cost memcache-client added per request in profiles), and memcached answers them together.
 * A command waits at most until the end of the current I/O phase; order per socket is unchanged.
 * @internal
 */
export class MemcacheClient {
  /** The memcache-client instance (created by the storage when {@link MemcacheClient.owned}). */
  readonly client: Client;
  /** `true` when the storage created the client and must shut it down. */
  readonly owned: boolean;
  readonly #storage: string;

  readonly #deadlines: Deadlines;
  /** The private `gats` client (see `MemcacheWire`), for clients the storage creates on one plain TCP server. */
  readonly #wire: MemcacheWire | undefined;
  /** Sockets corked until the next `setImmediate`. */
  readonly #corked = new Set<Socket>();
  #uncorkScheduled = false;
  readonly #uncork = (): void => {
    this.#uncorkScheduled = false;
    for (const socket of this.#corked) socket.uncork();
    this.#corked.clear();
  };

  constructor(storage: string, connection: MemcacheConnection, commandTimeout: number) {
    this.#storage = storage;
    this.#deadlines = new Deadlines(commandTimeout);
    if (connection instanceof Client || isClient(connection)) {
      this.client = connection as Client;
      this.owned = false;
      this.#wire = undefined;
    } else {
      const options: MemcacheClientOptions =
        typeof connection === 'string' ? { server: connection } : connection;
      this.client = new Client({ cmdTimeout: commandTimeout, connectTimeout: commandTimeout, keepAlive: 60_000, noDelay: true, ...options });
      this.owned = true;
      this.#wire = wireFor(options);
    }
  }

  /**
   * `gats <exptime> <key>`: reads an item with its CAS token and sets its expiry, in one command.
   * Resolves `undefined` on a miss. The hot command of every request: it goes through the private
   * `MemcacheWire` when the storage created the client (one plain TCP server), else memcache-client.
   */
  gats(operation: string, key: string, exptime: number): Promise<CasItem | undefined> {
    const wire = this.#wire;
    if (wire !== undefined) return this.#bounded(operation, () => wire.gats(key, exptime));
    return this.#gatsClient(operation, key, exptime);
  }

  async #gatsClient(operation: string, key: string, exptime: number): Promise<CasItem | undefined> {
    const results = await this.#bounded(operation, () => this.#send<Record<string, Retrieved>>(`gats ${exptime} ${key}\r\n`));
    return casItem(results[key]);
  }

  /** `gets <key>`: the item with its CAS token, or `undefined` on a miss. */
  async gets(operation: string, key: string): Promise<CasItem | undefined> {
    const results = await this.#bounded(operation, () => this.#send<Record<string, Retrieved>>(`gets ${key}\r\n`));
    return casItem(results[key]);
  }

  /** `add` / `set` / `cas` of a string value (flags 0). Resolves memcached's reply. */
  async store(operation: string, command: 'add' | 'set' | 'cas', key: string, value: string, exptime: number, cas?: string): Promise<StoreReply> {
    // `<command> <key> <flags> <exptime> <bytes> [<cas>]`, flags 0 (a string, as memcache-client
    // stores and reads strings), header and value in one write.
    const line = `${command} ${key} 0 ${exptime} ${Buffer.byteLength(value)}${cas === undefined ? '' : ` ${cas}`}\r\n${value}\r\n`;
    try {
      await this.#bounded(operation, () => this.#send(line), true);
      return 'STORED';
    } catch (err) {
      const reply = replyOf(err);
      if (reply !== undefined && STORE_REPLIES.has(reply)) return reply as StoreReply;
      throw this.#wrap(operation, err);
    }
  }

  /**
   * `gat -1 <key>`: ends an item and returns what it held, in one command. memcached reads a
   * negative exptime as "expired now": from this command on, `get`/`gets`/`gat`/`touch`/`cas`/
   * `delete` miss the item (`cas` answers `NOT_FOUND`) and `add` stores a brand-new one, exactly as
   * after a `delete` (checked on 1.6.18; the space is reclaimed lazily, on the next access or by the
   * LRU crawler). Resolves the value (`null` when not a string), `undefined` when nothing was there.
   * memcache-client sends it as a plain text-protocol line (`cmd`).
   */
  async expire(operation: string, key: string): Promise<string | null | undefined> {
    const results = await this.#bounded(operation, () => this.#send<Record<string, Retrieved>>(`gat -1 ${key}\r\n`));
    return valueOf(results[key]);
  }

  /** `delete <key>`: resolves whether an item was deleted. */
  async delete(operation: string, key: string): Promise<boolean> {
    return this.#hitOrMiss(operation, () => this.#send(`delete ${key}\r\n`));
  }

  /** `touch <key> <exptime>`: resolves whether the item exists. Never creates one. */
  async touch(operation: string, key: string, exptime: number): Promise<boolean> {
    return this.#hitOrMiss(operation, () => this.#send(`touch ${key} ${exptime}\r\n`));
  }

  /** Shuts the client down if the storage created it; a borrowed client is left open. */
  close(): void {
    this.#wire?.close();
    if (this.owned) this.client.shutdown();
  }

  /** Sends one command (`text` ends with `\r\n`) through memcache-client, into a corked socket. */
  #send<T>(text: string): Promise<T> {
    return this.client.xsend((socket?: Socket) => {
      if (!socket) return;
      if (!this.#corked.has(socket)) {
        socket.cork();
        this.#corked.add(socket);
        if (!this.#uncorkScheduled) {
          this.#uncorkScheduled = true;
          setImmediate(this.#uncork);
        }
      }
      socket.write(text);
    }) as Promise<T>;
  }

  async #hitOrMiss(operation: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await this.#bounded(operation, fn, true);
      return true;
    } catch (err) {
      if (replyOf(err) === 'NOT_FOUND') return false;
      throw this.#wrap(operation, err);
    }
  }

  #wrap(operation: string, err: unknown): StorageError {
    if (err instanceof StorageError) return err;
    return new StorageError(this.#storage, operation, describeCause(err), { cause: err });
  }

  /**
   * Runs `fn` with the command timeout; failures become `StorageError`s naming `operation`, except
   * memcached's own replies when `raw` is set (the caller maps them). Deadlines are checked by one
   * `unref`'d sweep timer rather than a timer per command.
   */
  #bounded<T>(operation: string, fn: () => Promise<T>, raw = false): Promise<T> {
    return this.#deadlines.bound(
      fn,
      () => {
        this.#wire?.dropStale(this.#deadlines.timeout);
        return new StorageError(this.#storage, operation, `memcached did not answer within ${this.#deadlines.timeout} ms (commandTimeout); is it reachable?`);
      },
      (err) => (raw && replyOf(err) !== undefined ? err : this.#wrap(operation, err)),
    );
  }
}

/**
 * The value of a retrieved item as stored by this storage (a string, flags 0). An item another
 * client stored with other flags unpacks to a number, object or Buffer: that is not a session, so
 * it is reported as `null`, for the storage to treat as unreadable.
 */
function valueOf(found: Retrieved | undefined): string | null | undefined {
  if (!found) return undefined;
  return typeof found.value === 'string' ? found.value : null;
}

function casItem(found: Retrieved | undefined): CasItem | undefined {
  if (!found || found.casUniq === undefined) return undefined;
  return { value: valueOf(found) ?? null, cas: String(found.casUniq) };
}

/** memcached's one-word reply carried by a memcache-client rejection, if that is what `err` is. */
function replyOf(err: unknown): string | undefined {
  if (!(err instanceof Error) || !Array.isArray((err as { cmdTokens?: unknown }).cmdTokens)) return undefined;
  return err.message;
}

/**
 * The private `gats` client for the options of a client the storage creates: only for one server
 * over plain TCP (`server: 'host:port'` or `{ server, maxConnections }`), with as many connections.
 */
function wireFor(options: MemcacheClientOptions): MemcacheWire | undefined {
  if ((options as { tls?: unknown }).tls !== undefined) return undefined;
  const server: unknown = options.server;
  if (MemcacheWire.canConnect(server)) return new MemcacheWire(server, 1);
  if (typeof server !== 'object' || server === null) return undefined;
  const { server: address, maxConnections = 1 } = server as { server?: unknown; maxConnections?: unknown };
  if (!MemcacheWire.canConnect(address) || typeof maxConnections !== 'number' || !Number.isSafeInteger(maxConnections) || maxConnections < 1) return undefined;
  return new MemcacheWire(address, maxConnections);
}

/** Tells a memcache-client instance (of any installed copy of the package) from options. */
function isClient(connection: MemcacheConnection): boolean {
  return typeof connection === 'object' && connection !== null && typeof (connection as { cmd?: unknown }).cmd === 'function' && typeof (connection as { gets?: unknown }).gets === 'function';
}

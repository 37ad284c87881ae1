/**
 * `MemcacheWire`: a small private text-protocol client for the one command on the hot path of a
 * read-only request, `gats <exptime> <key>`, used when the storage creates its own connection.
 *
 * Why not memcache-client for it: a read-only request costs one `gats`, so that command's client
 * overhead is most of what the storage adds to such a request. memcache-client pays per command a
 * connection search that prefers an idle connection (so the commands of one turn spread over
 * several sockets: more writes and more reads), a context with callbacks, two promise layers,
 * re-tokenising and debug-log strings its parser builds for every reply line even with logging
 * off. Measured with `bench/memcache-cost.mjs` (server CPU per `/read`, 10 connections, median of
 * 5 rounds): 192 µs before, 147 µs with this client (bare Express: 124), i.e. 68 -> 24 µs above
 * bare. This client does only what `gats` needs: one line out, and a parser that reads
 * `VALUE <key> <flags> <bytes> <cas>` / data / `END` by length. Every other command still goes
 * through memcache-client (they are not on the path of a read-only request).
 *
 * Robustness: replies may arrive split anywhere or several per chunk; values are read by their
 * byte count (so a value may hold `\r\n` or `END`); `ERROR` / `CLIENT_ERROR` / `SERVER_ERROR`
 * reject the command they answer; anything the client cannot make sense of (an unexpected line, a
 * key it did not ask for, a malformed header, a line or value over the limits) resets the
 * connection, as does a loss of the connection: every command waiting on it rejects, and the next
 * command opens a new one. Nothing memcached sends can throw out of a socket callback. Timeouts
 * are the caller's (`Deadlines`); {@link MemcacheWire.dropStale} resets connections whose oldest
 * command is past its deadline, so a silent server does not pile up commands.
 * @internal
 * @module
 */
import { connect, type Socket } from 'node:net';

/** An item `gats` found: its value (`null` unless stored with flags 0, as this storage stores strings) and CAS token. */
export interface WireItem {
  readonly value: string | null;
  readonly cas: string;
}

/** A command sent and waiting for its reply. */
interface Pending {
  readonly key: string;
  readonly at: number;
  readonly resolve: (item: WireItem | undefined) => void;
  readonly reject: (err: Error) => void;
  item: WireItem | undefined;
}

/** A reply line without `\r\n` after this many bytes is not memcached talking. */
const MAX_LINE = 8192;
/** memcached's largest item (`-I` at most 1 GiB). */
const MAX_VALUE = 1024 * 1024 * 1024;
const CRLF = Buffer.from('\r\n');
const DIGITS = /^\d{1,20}$/;
/** `VALUE ` in bytes. */
const VALUE_PREFIX = Buffer.from('VALUE ');

/** memcached answered a command with an error line. */
export class MemcachedReplyError extends Error {
  override readonly name = 'MemcachedReplyError';
}

/** The connection is reset: memcached sent something this client cannot read. */
class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** One socket, its queue of commands waiting for replies (in send order) and its parser state. */
class Connection {
  readonly socket: Socket;
  readonly queue: Pending[] = [];
  corked = false;
  alive = true;
  /** Bytes received that do not yet make a whole reply. */
  #parts: Buffer[] = [];
  #have = 0;
  /** How many bytes (from the start of `#parts`) the parser needs before it can go on. */
  #need = 0;
  readonly #gone: (conn: Connection) => void;

  constructor(host: string, port: number, gone: (conn: Connection) => void) {
    this.#gone = gone;
    this.socket = connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.socket.on('error', (err) => this.fail(new Error(`memcached connection failed: ${describe(err)}`)));
    this.socket.on('close', () => this.fail(new Error('memcached closed the connection')));
  }

  /** Writes one command line and queues its reply. */
  send(line: string, pending: Pending): void {
    this.queue.push(pending);
    this.socket.write(line);
  }

  /** Resets the connection: every waiting command rejects with `err`. Idempotent. */
  fail(err: Error): void {
    if (!this.alive) return;
    this.alive = false;
    this.#parts = [];
    this.socket.destroy();
    this.#gone(this);
    const waiting = this.queue.splice(0);
    for (const p of waiting) p.reject(err);
  }

  #onData(chunk: Buffer): void {
    if (!this.alive) return;
    try {
      let buf = chunk;
      if (this.#parts.length > 0) {
        this.#parts.push(chunk);
        this.#have += chunk.length;
        if (this.#have < this.#need) return;
        buf = Buffer.concat(this.#parts, this.#have);
        this.#parts = [];
      }
      const off = this.#parse(buf);
      if (off < buf.length) {
        const rest = buf.subarray(off);
        this.#parts = [rest];
        this.#have = rest.length;
      }
    } catch (err) {
      this.fail(err instanceof ProtocolError || err instanceof MemcachedReplyError ? err : new ProtocolError(`memcached reply could not be read: ${describe(err)}`));
    }
  }

  /** Handles every whole reply in `buf`; resolves the offset of what is left, and sets `#need`. */
  #parse(buf: Buffer): number {
    let off = 0;
    while (off < buf.length) {
      const eol = buf.indexOf(CRLF, off);
      if (eol < 0) {
        if (buf.length - off > MAX_LINE) throw new ProtocolError('memcached sent a reply line that is too long; the connection was reset');
        this.#need = buf.length - off + 1;
        return off;
      }
      const head = this.queue[0];
      if (head === undefined) throw new ProtocolError('memcached sent a reply nobody asked for; the connection was reset');
      if (eol - off === 3 && buf[off] === 0x45 && buf[off + 1] === 0x4e && buf[off + 2] === 0x44) {
        // END
        this.queue.shift();
        head.resolve(head.item);
        off = eol + 2;
        continue;
      }
      if (eol - off > VALUE_PREFIX.length && buf.compare(VALUE_PREFIX, 0, VALUE_PREFIX.length, off, off + VALUE_PREFIX.length) === 0) {
        const [key, flags, bytesText, cas, extra] = buf.toString('latin1', off + VALUE_PREFIX.length, eol).split(' ');
        if (head.item !== undefined || key !== head.key || extra !== undefined || flags === undefined || bytesText === undefined || cas === undefined || !DIGITS.test(flags) || !DIGITS.test(bytesText) || !DIGITS.test(cas)) {
          throw new ProtocolError('memcached sent an item header this client did not expect; the connection was reset');
        }
        const bytes = Number(bytesText);
        if (bytes > MAX_VALUE) throw new ProtocolError('memcached announced an item over 1 GiB; the connection was reset');
        const start = eol + 2;
        const end = start + bytes;
        if (end + 2 > buf.length) {
          this.#need = end + 2 - off; // the header is read again once the whole value is here
          return off;
        }
        if (buf[end] !== 0x0d || buf[end + 1] !== 0x0a) throw new ProtocolError('memcached sent an item whose data block is not terminated; the connection was reset');
        head.item = { value: flags === '0' ? buf.toString('utf8', start, end) : null, cas };
        off = end + 2;
        continue;
      }
      const line = buf.toString('latin1', off, Math.min(eol, off + 200)).replace(/[^\x20-\x7e]/g, '?');
      if (line === 'ERROR' || line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR')) {
        this.queue.shift();
        head.reject(new MemcachedReplyError(line));
        off = eol + 2;
        // SERVER_ERROR answers one command and keeps the stream in step; after ERROR or
        // CLIENT_ERROR memcached may read what follows differently: start on a fresh connection.
        if (!line.startsWith('SERVER_ERROR')) throw new ProtocolError(`memcached answered ${line}; the connection was reset`);
        continue;
      }
      throw new ProtocolError('memcached sent a reply this client did not expect; the connection was reset');
    }
    this.#need = 0;
    return off;
  }
}

/**
 * A pool of up to `maxConnections` connections to one memcached, for `gats`. The commands of one
 * event-loop turn go to one corked socket and leave in one write (uncorked on `setImmediate`);
 * a new turn picks the connection with the fewest commands waiting, opening another while all are
 * busy and the pool is not full.
 * @internal
 */
export class MemcacheWire {
  readonly #host: string;
  readonly #port: number;
  readonly #max: number;
  #conns: Connection[] = [];
  #corked: Connection | undefined;
  #closed = false;
  readonly #gone = (conn: Connection): void => {
    this.#conns = this.#conns.filter((c) => c !== conn);
    if (this.#corked === conn) this.#corked = undefined;
  };
  readonly #uncork = (): void => {
    const conn = this.#corked;
    this.#corked = undefined;
    if (conn?.alive) {
      conn.corked = false;
      conn.socket.uncork();
    }
  };

  /** @param address `'host:port'`. */
  constructor(address: string, maxConnections: number) {
    const colon = address.lastIndexOf(':');
    this.#host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(address.slice(colon + 1));
    this.#max = maxConnections;
  }

  /** Tells whether `address` is a `'host:port'` this client can connect to. */
  static canConnect(address: unknown): address is string {
    if (typeof address !== 'string') return false;
    const colon = address.lastIndexOf(':');
    const port = Number(address.slice(colon + 1));
    return colon > 0 && Number.isInteger(port) && port > 0 && port < 65536;
  }

  /** `gats <exptime> <key>`: the item and its CAS token, `undefined` on a miss. */
  gats(key: string, exptime: number): Promise<WireItem | undefined> {
    return new Promise<WireItem | undefined>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the storage was closed'));
        return;
      }
      this.#pick().send(`gats ${exptime} ${key}\r\n`, { key, at: Date.now(), resolve, reject, item: undefined });
    });
  }

  /** Resets every connection whose oldest command was sent more than `timeout` ms ago. */
  dropStale(timeout: number): void {
    const limit = Date.now() - timeout + 5; // the caller's deadline was taken a moment before `at`
    for (const conn of [...this.#conns]) {
      const oldest = conn.queue[0];
      if (oldest !== undefined && oldest.at <= limit) conn.fail(new Error(`memcached did not answer within ${timeout} ms; the connection was reset`));
    }
  }

  /** Closes every connection; commands still waiting reject, later ones reject at once. */
  close(): void {
    this.#closed = true;
    for (const conn of [...this.#conns]) conn.fail(new Error('the storage was closed'));
  }

  #pick(): Connection {
    const corked = this.#corked;
    if (corked?.alive) return corked;
    let best: Connection | undefined;
    for (const conn of this.#conns) if (best === undefined || conn.queue.length < best.queue.length) best = conn;
    if (best === undefined || (best.queue.length > 0 && this.#conns.length < this.#max)) {
      best = new Connection(this.#host, this.#port, this.#gone);
      this.#conns.push(best);
    }
    best.corked = true;
    best.socket.cork();
    this.#corked = best;
    setImmediate(this.#uncork);
    return best;
  }
}

function describe(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const { code, message } = err as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : typeof message === 'string' ? message : String(err);
}

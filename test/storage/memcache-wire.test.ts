/**
 * The private `gats` client of MemcacheStorage (`MemcacheWire`): against a real memcached, also
 * through a proxy that cuts memcached's replies into 1-byte chunks or glues many into one; then
 * against a hostile peer that sends what memcached never would (errors, junk, a wrong key, a cut
 * connection): every command settles, each bad reply rejects, and nothing throws out of a socket.
 */
import net from 'node:net';
import { generateId, StorageError } from 'sessionware';
import { MemcacheStorage } from 'sessionware/memcache';
import { MemcacheWire, MemcachedReplyError } from '../../lib/storage/memcache/memcache-wire';
import { sleep, uniquePrefix } from '../helpers/redis';
import { MemcachedServer, sharedMemcached, stopSharedMemcached } from '../helpers/memcached';

let server: MemcachedServer;
beforeAll(async () => {
  server = await sharedMemcached();
});
afterAll(stopSharedMemcached);

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  expect(unhandled).toEqual([]);
});

/** A scripted TCP peer: its address, how many connections it took, and `close()`. */
type Peer = { address: string; connections: () => number; close: () => Promise<void> };

/** A TCP server on a free port; `onSocket` scripts what it does; `close()` ends it and its sockets. */
async function peer(onSocket: (socket: net.Socket) => void): Promise<Peer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const srv = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => srv.close(resolve));
    },
  };
}

/** A proxy to the real memcached that re-cuts its replies: (mostly) 1 byte per write, or all of a turn's replies in one write. */
function proxy(mode: 'bytes' | 'glued') {
  return peer((client) => {
    const upstream = net.createConnection({ host: '127.0.0.1', port: server.port });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d) => upstream.write(d));
    let held: Buffer[] = [];
    upstream.on('data', (d: Buffer) => {
      if (mode === 'bytes') {
        // 1 byte per write for the first 300 bytes of each chunk, then 997 (the long value)
        for (let i = 0; i < d.length; ) {
          const size = i < 300 ? 1 : 997;
          client.write(d.subarray(i, i + size));
          i += size;
        }
        return;
      }
      held.push(d);
      if (held.length === 1) {
        setTimeout(() => {
          client.write(Buffer.concat(held));
          held = [];
        }, 5);
      }
    });
  });
}

/** Keys on the real memcached hold values that look like protocol: CRLF, END, VALUE lines. */
const TRICKY = ['a\r\nEND\r\n', 'END', '\r\n', 'VALUE x 0 1 1\r\nq\r\nEND\r\n', '', 'ünïcödé ✓', 'x'.repeat(100_000)];

describe.each(['direct', 'bytes', 'glued'] as const)('MemcacheWire on a real memcached (%s)', (mode) => {
  it('should read values by their length, with their CAS token, many at once, and misses as undefined', async () => {
    const relay = mode === 'direct' ? undefined : await proxy(mode);
    const wire = new MemcacheWire(relay?.address ?? server.address, 2);
    try {
      const prefix = uniquePrefix('sw-wire');
      for (const [i, value] of TRICKY.entries()) await server.put(`${prefix}${i}`, value);
      const reads = await Promise.all([...TRICKY.keys(), ...TRICKY.keys()].map((i) => wire.gats(`${prefix}${i}`, 3600)));
      expect(reads.map((r) => r?.value)).toEqual([...TRICKY, ...TRICKY]);
      for (const r of reads) expect(r?.cas).toMatch(/^\d+$/);
      await expect(wire.gats(`${prefix}missing`, 3600)).resolves.toBeUndefined();
      expect(await server.ttlOf(`${prefix}0`)).toBeGreaterThan(3590); // gats slid the expiry
    } finally {
      wire.close();
      await relay?.close();
    }
  });
});

describe('MemcacheWire against a hostile peer', () => {
  /** A peer that answers each received command line with `reply(n)` (n counts lines over all connections). */
  const scripted = (reply: (n: number, socket: net.Socket) => string | undefined) => {
    let n = 0;
    return peer((socket) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        let eol: number;
        while ((eol = text.indexOf('\r\n')) >= 0) {
          text = text.slice(eol + 2);
          const out = reply(n++, socket);
          if (out !== undefined && !socket.destroyed) socket.write(out);
        }
      });
    });
  };

  /** Runs `body` with a one-connection MemcacheWire to `p`, then closes both. */
  const withWire = async (p: Peer, body: (wire: MemcacheWire) => Promise<void>) => {
    const wire = new MemcacheWire(p.address, 1);
    try {
      await body(wire);
    } finally {
      wire.close();
      await p.close();
    }
  };

  it('should reject on SERVER_ERROR and go on on the same connection', async () => {
    const p = await scripted((n) => (n === 0 ? 'SERVER_ERROR out of memory writing get response\r\n' : 'END\r\n'));
    await withWire(p, async (wire) => {
      await expect(wire.gats('k', 10)).rejects.toThrow(MemcachedReplyError);
      await expect(wire.gats('k', 10)).resolves.toBeUndefined();
      expect(p.connections()).toBe(1);
    });
  });

  it.each(['ERROR\r\n', 'CLIENT_ERROR bad command line format\r\n'])('should reject on %j and start again on a new connection', async (error) => {
    const p = await scripted((n) => (n === 0 ? error : 'END\r\n'));
    await withWire(p, async (wire) => {
      await expect(wire.gats('k', 10)).rejects.toThrow(error.split(' ')[0]!.trim());
      await expect(wire.gats('k', 10)).resolves.toBeUndefined();
      expect(p.connections()).toBe(2);
    });
  });

  it.each([
    ['junk', 'HELLO\r\n'],
    ['a key not asked for', 'VALUE other 0 1 1\r\nx\r\nEND\r\n'],
    ['a header without CAS', 'VALUE k 0 1\r\nx\r\nEND\r\n'],
    ['a negative length', 'VALUE k 0 -1 1\r\nx\r\nEND\r\n'],
    ['a data block that is longer than announced', 'VALUE k 0 1 1\r\nxyz\r\nEND\r\n'],
    ['two items for one key', 'VALUE k 0 1 1\r\nx\r\nVALUE k 0 1 1\r\nx\r\nEND\r\n'],
    ['an endless line', 'x'.repeat(20_000)],
    ['a store reply', 'STORED\r\n'],
  ])('should reject on %s, reset the connection, and serve the next command', async (_, bad) => {
    const p = await scripted((n) => (n === 0 ? bad : 'END\r\n'));
    await withWire(p, async (wire) => {
      const err = await wire.gats('k', 10).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String(err)).not.toContain('xyz');
      await sleep(20);
      await expect(wire.gats('k', 10)).resolves.toBeUndefined();
      expect(p.connections()).toBe(2);
    });
  });

  it('should reset on a reply nobody asked for, then serve the next command', async () => {
    const p = await scripted((n, socket) => {
      if (n === 0) setTimeout(() => socket.write('END\r\n'), 10); // one more, unasked
      return 'END\r\n';
    });
    await withWire(p, async (wire) => {
      await expect(wire.gats('k', 10)).resolves.toBeUndefined();
      await sleep(50);
      await expect(wire.gats('k', 10)).resolves.toBeUndefined();
      expect(p.connections()).toBe(2);
    });
  });

  it('should answer several replies glued in one chunk, and one reply cut in many', async () => {
    const p = await peer((socket) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        const lines = text.split('\r\n');
        if (lines.length < 5) return; // four commands
        // one write for the first three replies, then the fourth cut byte by byte
        socket.write('VALUE a 0 5 7\r\nEND\r\n\r\nEND\r\n' + 'END\r\n' + 'VALUE b 2 1 8\r\nx\r\nEND\r\n');
        text = '';
        void (async () => {
          for (const c of 'VALUE d 0 3 9\r\na\r\n\r\nEND\r\n') {
            await sleep(1);
            socket.write(c);
          }
        })();
      });
    });
    await withWire(p, async (wire) => {
      const three = Promise.all([wire.gats('a', 1), wire.gats('c', 1), wire.gats('b', 1)]);
      const fourth = wire.gats('d', 1);
      await expect(three).resolves.toEqual([{ value: 'END\r\n', cas: '7' }, undefined, { value: null, cas: '8' }]);
      await expect(fourth).resolves.toEqual({ value: 'a\r\n', cas: '9' });
    });
  });

  it('should reject every waiting command when the connection drops mid-reply, then reconnect', async () => {
    let cut: net.Socket | undefined;
    const p = await scripted((_, socket) => {
      if (cut === undefined) {
        cut = socket; // the first connection: half a reply, then it drops
        socket.write('VALUE k 0 10 1\r\nabc');
        setTimeout(() => socket.destroy(), 20);
      }
      return socket === cut ? undefined : 'END\r\n';
    });
    await withWire(p, async (wire) => {
      const results = await Promise.allSettled([wire.gats('k', 1), wire.gats('k', 1), wire.gats('k', 1)]);
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status))).toEqual(Array(3).fill('Error: memcached closed the connection'));
      await expect(wire.gats('k', 1)).resolves.toBeUndefined();
    });
  });

  it('should reject commands after close, and those waiting at close', async () => {
    const p = await scripted(() => undefined);
    const wire = new MemcacheWire(p.address, 1);
    const waiting = wire.gats('k', 1);
    wire.close();
    await expect(waiting).rejects.toThrow(/closed/);
    await expect(wire.gats('k', 1)).rejects.toThrow(/closed/);
    await p.close();
  });

  it('should reach MemcacheStorage as a StorageError naming the operation, never with the id', async () => {
    const p = await scripted(() => 'SERVER_ERROR boom\r\n');
    const storage = new MemcacheStorage(p.address, { commandTimeout: 500 });
    try {
      const id = generateId();
      const err = await storage.getSession(id, 60_000).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).operation).toBe('getSession');
      expect((err as StorageError).message).toContain('SERVER_ERROR boom');
      expect((err as StorageError).message).not.toContain(id);
    } finally {
      await storage.close();
      await p.close();
    }
  });

  it('should time out on a silent peer within commandTimeout and reset the connection', async () => {
    const p = await scripted(() => undefined);
    const storage = new MemcacheStorage(p.address, { commandTimeout: 200 });
    try {
      const start = Date.now();
      await expect(storage.getSession(generateId(), 60_000)).rejects.toThrow(/did not answer within 200 ms/);
      expect(Date.now() - start).toBeLessThan(700);
      await sleep(50);
      await expect(storage.getSession(generateId(), 60_000)).rejects.toThrow(StorageError);
      expect(p.connections()).toBe(2);
    } finally {
      await storage.close();
      await p.close();
    }
  });
});

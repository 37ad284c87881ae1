/**
 * memcached killed and restarted under a live MemcacheStorage (a server spawned for this file):
 * calls fail fast with a StorageError naming the operation, requests that don't touch the session
 * are served, nothing is left unhandled, and the same storage recovers by itself once memcached is
 * back (empty: memcached keeps nothing).
 */
import request from 'supertest';
import net from 'node:net';
import { MemcacheClient } from 'memcache-client';
import { generateId } from 'sessionware';
import { MemcacheStorage } from 'sessionware/memcache';
import { freePort, sleep } from '../helpers/redis';
import { MemcachedServer } from '../helpers/memcached';
import { appFor, failure, retrying } from '../helpers/outage';

const TIMEOUT = 500;
const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const HOUR = 3_600_000;
const MOVE = { keep: undefined, forwardTTL: 60_000 };

const eventually = retrying(10_000);

type Kind = 'owned client (host:port)' | 'client passed in';

describe('MemcacheStorage while memcached goes down and comes back', () => {
  it.each<Kind>(['owned client (host:port)', 'client passed in'])('should fail fast and recover by itself (%s)', async (kind) => {
    const server = await MemcachedServer.start();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    const userClient = kind === 'client passed in' ? new MemcacheClient({ server: server.address, cmdTimeout: TIMEOUT }) : undefined;
    try {
      const storage = new MemcacheStorage(userClient ?? server.address, { commandTimeout: TIMEOUT });
      const app = appFor(storage);
      const id = generateId();
      await storage.setSession(id, ONE, HOUR, { create: true });
      await expect(storage.getSession(id, HOUR)).resolves.toBeDefined();

      await server.stop();

      for (const [operation, call] of [
        ['getSession', () => storage.getSession(id, HOUR)],
        ['setSession', () => storage.setSession(id, ONE, HOUR, { create: false })],
        ['setSession', () => storage.setSession(generateId(), ONE, HOUR, { create: true })],
        ['compareAndSet', () => storage.compareAndSet(id, 'a', '1', '2', HOUR, { create: false })],
        ['moveSession', () => storage.moveSession(id, generateId(), ONE, HOUR, MOVE)],
        ['removeAll', () => storage.removeAll(id)],
        ['updateTTL', () => storage.updateTTL(generateId(), HOUR)],
      ] as const) {
        const { err, ms } = await failure(call());
        expect(err.operation).toBe(operation);
        expect(err.message).toContain(`MemcacheStorage.${operation}`);
        expect(err.message).not.toContain(id);
        expect(ms).toBeLessThan(TIMEOUT + 500);
      }

      const start = Date.now();
      await request(app).get('/untouched').expect(200, 'ok');
      const res = await request(app).get('/set').expect(503);
      expect(res.body).toEqual({ code: 'ERR_SESSION_STORAGE', operation: 'setSession' });
      expect(Date.now() - start).toBeLessThan(TIMEOUT + 1500);

      await server.resume(); // empty again: no persistence

      const fresh = generateId();
      await eventually(() => storage.setSession(fresh, ONE, HOUR, { create: true }));
      await expect(storage.getSession(fresh, HOUR)).resolves.toEqual(new Map([['a', '1']]));
      await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined(); // memcached forgot it
      await eventually(async () => {
        await request(app).get('/set').expect(200);
      });

      await server.stop();
      await storage.close(); // resolves with memcached down
      await sleep(100);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
      userClient?.shutdown();
      await server.stop();
    }
  });

  it('should fail within commandTimeout when memcached accepts connections but never answers', async () => {
    // A TCP server that accepts and stays silent: like a hung memcached or a black-holed route.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const storage = new MemcacheStorage(`127.0.0.1:${port}`, { commandTimeout: TIMEOUT });
    try {
      const { err, ms } = await failure(storage.getSession(generateId(), HOUR));
      expect(err.operation).toBe('getSession');
      expect(err.message).toMatch(/did not answer within 500 ms|timeout/i);
      expect(ms).toBeLessThan(TIMEOUT + 500);
    } finally {
      await storage.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('a MemcacheStorage started while memcached is down', () => {
  it('should fail fast, then work once memcached starts', async () => {
    const port = await freePort();
    const storage = new MemcacheStorage(`127.0.0.1:${port}`, { commandTimeout: TIMEOUT });
    const { err, ms } = await failure(storage.getSession(generateId(), HOUR));
    expect(err.operation).toBe('getSession');
    expect(ms).toBeLessThan(TIMEOUT + 500);
    const server = await MemcachedServer.start({ port });
    try {
      const id = generateId();
      await eventually(() => storage.setSession(id, ONE, HOUR, { create: true }));
      await expect(storage.getSession(id, HOUR)).resolves.toBeDefined();
      await storage.close();
    } finally {
      await server.stop();
    }
  });
});

/**
 * Redis stopped and restarted under a live storage (a server spawned for this file): calls fail
 * fast with a StorageError naming the operation, requests that don't touch the session are served,
 * and the same storage recovers by itself once Redis is back.
 */
import request from 'supertest';
import { Redis } from 'ioredis';
import { generateId, StorageError } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { freePort, RedisServer, sleep } from '../helpers/redis';
import { appFor, failure, retrying } from '../helpers/outage';

const TIMEOUT = 500;
const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const HOUR = 3_600_000;

const eventually = retrying(15_000);

type Kind = 'owned client (URL)' | 'client passed in';
const STORAGES = [['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const;

describe.each(STORAGES)('%s while Redis goes down and comes back', (_name, Storage) => {
  it.each<Kind>(['owned client (URL)', 'client passed in'])('should fail fast and recover by itself (%s)', async (kind) => {
    const server = await RedisServer.start();
    let userClient: Redis | undefined;
    const backgroundErrors: StorageError[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      if (kind === 'client passed in') {
        userClient = new Redis(server.url);
        userClient.on('error', () => undefined); // the application's own listener
      }
      const storage = new Storage(userClient ?? server.url, { commandTimeout: TIMEOUT, updateTTLInterval: 60_000, onError: (e) => backgroundErrors.push(e) });
      const app = appFor(storage);
      const id = generateId();
      await storage.setSession(id, ONE, HOUR, { create: true });
      await expect(storage.getSession(id, HOUR)).resolves.toBeDefined();

      await server.stop();

      for (const [operation, call] of [
        ['getSession', () => storage.getSession(id, HOUR)],
        ['setSession', () => storage.setSession(id, ONE, HOUR, { create: false })],
        ['removeAll', () => storage.removeAll(id)],
      ] as const) {
        const { err, ms } = await failure(call());
        expect(err.operation).toBe(operation);
        expect(err.message).toContain(`.${operation}`);
        expect(err.message).not.toContain(id);
        expect(ms).toBeLessThan(TIMEOUT + 1000);
      }
      await storage.updateTTL(id, HOUR);
      const flushed = await failure(storage.flush());
      expect(flushed.err.operation).toBe('updateTTL');

      const start = Date.now();
      await request(app).get('/untouched').expect(200, 'ok');
      const res = await request(app).get('/set').expect(503);
      expect(res.body).toEqual({ code: 'ERR_SESSION_STORAGE', operation: 'setMap' in storage ? 'setMap' : 'setSession' });
      expect(Date.now() - start).toBeLessThan(TIMEOUT + 1500);

      await server.resume(); // empty again: no persistence

      const fresh = generateId();
      await eventually(() => storage.setSession(fresh, ONE, HOUR, { create: true }));
      await expect(storage.getSession(fresh, HOUR)).resolves.toEqual(new Map([['a', '1']]));
      await eventually(async () => {
        await request(app).get('/set').expect(200);
      });

      await storage.updateTTL(fresh, HOUR);
      await server.stop();
      await storage.close(); // the failed final flush goes to onError; close still resolves
      expect(backgroundErrors.some((e) => e.operation === 'updateTTL')).toBe(true);
      if (userClient) expect(userClient.status).not.toBe('end'); // left open for its owner
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      userClient?.disconnect();
      await server.stop();
    }
  });
});

describe('a Redis storage started while Redis is down', () => {
  it('should fail fast, then work once Redis starts', async () => {
    const port = await freePort();
    const storage = new RedisStorage(`redis://127.0.0.1:${port}`, { commandTimeout: TIMEOUT });
    const { err, ms } = await failure(storage.getSession(generateId(), HOUR));
    expect(err.operation).toBe('getSession');
    expect(ms).toBeLessThan(TIMEOUT + 1000);
    const server = await RedisServer.start({ port });
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

describe.each(STORAGES)('%s: a write that timed out while Redis was frozen', (_name, Storage) => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await RedisServer.start({ args: ['--enable-debug-command', 'yes'] });
    admin = new Redis(server.url);
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  /** Blocks the server for `ms` (another client's `DEBUG SLEEP`), like a stalled or paused Redis. */
  function freeze(ms: number): Promise<unknown> {
    return admin.call('DEBUG', 'SLEEP', String(ms / 1000));
  }

  it('should never create the session when Redis runs it after the call failed', async () => {
    const storage = new Storage(server.url, { commandTimeout: TIMEOUT });
    const [viaSetSession, viaCas] = [generateId(), generateId()];
    await storage.getSession(generateId(), HOUR); // connected and ready
    const frozen = freeze(TIMEOUT * 3);
    await sleep(50);
    await failure(storage.setSession(viaSetSession, ONE, HOUR, { create: true }));
    await failure(storage.compareAndSet(viaCas, 'n', undefined, '1', HOUR, { create: true }));
    await frozen; // Redis now runs the writes it had queued: both are past their deadline
    await expect(storage.getSession(viaSetSession, HOUR)).resolves.toBeUndefined();
    await expect(storage.getSession(viaCas, HOUR)).resolves.toBeUndefined();
    // and a write in time still creates
    await expect(storage.setSession(viaSetSession, ONE, HOUR, { create: true })).resolves.toBe(true);
    await expect(storage.getSession(viaSetSession, HOUR)).resolves.toEqual(new Map([['a', '1']]));
    await storage.close();
  });

  it('should learn how far its clock is from Redis and create in time all the same', async () => {
    const storage = new Storage(server.url, { commandTimeout: TIMEOUT });
    const realNow = Date.now.bind(Date);
    const behind = jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 60_000); // this server's clock is a minute behind
    try {
      const id = generateId();
      await expect(storage.setSession(id, ONE, HOUR, { create: true })).resolves.toBe(true);
      await expect(storage.getSession(id, HOUR)).resolves.toEqual(new Map([['a', '1']]));
      await expect(storage.compareAndSet(generateId(), 'n', undefined, '1', HOUR, { create: true })).resolves.toBe('ok');
    } finally {
      behind.mockRestore();
    }
    await storage.close();
  });
});

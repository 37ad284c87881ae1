/**
 * Redis stopped and restarted under a live storage (a server spawned for this file): calls fail
 * fast with a StorageError naming the operation, requests that don't touch the session are served,
 * and the same storage recovers by itself once Redis is back.
 */
import request from 'supertest';
import express from 'express';
import { Redis } from 'ioredis';
import { generateId, session, StorageError, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { freePort, RedisServer, sleep } from '../helpers/redis';

const TIMEOUT = 500;
const ONE = { set: new Map([['a', '1']]), removed: new Set<string>() };
const HOUR = 3_600_000;

/** Resolves the StorageError `promise` rejects with, and how long that took. */
async function failure(promise: Promise<unknown>): Promise<{ err: StorageError; ms: number }> {
  const start = Date.now();
  const err = await promise.then(
    () => {
      throw new Error('expected a StorageError, but the call succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return { err: err as StorageError, ms: Date.now() - start };
}

/** Retries `fn` until it succeeds (Redis reconnects by itself) or `ms` ran out. */
async function eventually<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

function appFor(storage: Storage) {
  const app = express();
  app.use(session(storage, { onError: () => undefined }));
  app.get('/untouched', (_req, res) => {
    res.send('ok');
  });
  app.get('/set', async (req, res, next) => {
    try {
      await req.session.set('k', 'v');
      res.send('ok');
    } catch (err) {
      next(err);
    }
  });
  app.use((err: StorageError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(503).json({ code: err.code, operation: err.operation });
  });
  return app;
}

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

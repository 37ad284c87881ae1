/**
 * StoreAdapter's own behaviour: the stored format, the reserved key, the in-process memory of
 * removed ids, TTL refresh modes, callback and promise stores, failures and store events. Real
 * express-session MemoryStores where a real store shows it; small stores written here where a test
 * needs a store API style or a failure no real store produces on demand.
 */
import { EventEmitter } from 'node:events';
import { CorruptSessionError, generateId, SessionOptionsError, SessionValueError, StorageError } from 'sessionware';
import { StoreAdapter, type ExpressStoreCallback, type StoreSession } from 'sessionware/express-session-store';
import express from 'express';
import request from 'supertest';
import { buildApp, cookieValue } from '../helpers/app';
import { IdMemory } from '../../lib/storage/express-store/id-memory';
import { KeyLock } from '../../lib/storage/express-store/key-lock';
import { expressSession, type Store } from '../helpers/express-stores';

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const changes = (set: Record<string, unknown>, removed: string[] = []) => ({
  set: new Map(Object.entries(set).map(([k, v]) => [k, JSON.stringify(v)])),
  removed: new Set(removed),
});
const plain = (record: ReadonlyMap<string, string> | undefined) => record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));

function memoryStore(): Store & { sessions: Record<string, string> } {
  return new expressSession.MemoryStore() as Store & { sessions: Record<string, string> };
}
const raw = (store: { sessions: Record<string, string> }, id: string) => JSON.parse(store.sessions[id] as string) as Record<string, unknown>;
const storeSet = (store: Store, id: string, session: Record<string, unknown>) =>
  new Promise<void>((resolve, reject) => store.set(id, session as StoreSession, (err) => (err ? reject(err as Error) : resolve())));

/** A store that keeps sessions as JSON in a Map and never expires them (like @google-cloud/connect-firestore). */
class KeepForeverStore extends EventEmitter {
  readonly data = new Map<string, string>();
  sets = 0;
  get(sid: string, cb: ExpressStoreCallback): void {
    const text = this.data.get(sid);
    setImmediate(() => cb(null, text === undefined ? null : JSON.parse(text)));
  }
  set(sid: string, session: StoreSession, cb: ExpressStoreCallback): void {
    this.sets++;
    this.data.set(sid, JSON.stringify(session));
    setImmediate(() => cb(null));
  }
  destroy(sid: string, cb: ExpressStoreCallback): void {
    this.data.delete(sid);
    setImmediate(() => cb(null));
  }
}

/** connect-memcached's touch, as it behaves: it writes the session it is given over the stored one. */
class MemcachedStore extends KeepForeverStore {
  touch(sid: string, session: StoreSession, cb: ExpressStoreCallback): void {
    this.data.set(sid, JSON.stringify(session));
    setImmediate(() => cb(null));
  }
}

/** A store whose methods only return Promises (they ignore the callback). */
class PromiseStore {
  readonly data = new Map<string, string>();
  async get(sid: string): Promise<unknown> {
    const text = this.data.get(sid);
    return text === undefined ? undefined : JSON.parse(text);
  }
  async set(sid: string, session: StoreSession): Promise<void> {
    this.data.set(sid, JSON.stringify(session));
  }
  async destroy(sid: string): Promise<void> {
    this.data.delete(sid);
  }
  async length(): Promise<number> {
    return this.data.size;
  }
}

describe('StoreAdapter', () => {
  describe('stored format', () => {
    it('should store values as plain properties next to a cookie the store takes its expiry from', async () => {
      const store = memoryStore();
      const now = Date.now();
      const adapter = new StoreAdapter(store, { now: () => now });
      const id = generateId();
      await adapter.setSession(id, changes({ user: { id: 7 }, n: 3 }), HOUR, CREATE);
      expect(raw(store, id)).toEqual({
        cookie: { originalMaxAge: HOUR, maxAge: HOUR, expires: new Date(now + HOUR).toISOString(), httpOnly: true, path: '/' },
        user: { id: 7 },
        n: 3,
      });
    });

    it('should read a session express-session wrote, without its cookie', async () => {
      const store = memoryStore();
      const id = generateId();
      await storeSet(store, id, { cookie: { originalMaxAge: HOUR, expires: new Date(Date.now() + HOUR).toISOString(), httpOnly: true, path: '/' }, passport: { user: 'alice' }, views: 2 });
      const adapter = new StoreAdapter(store);
      expect(plain(await adapter.getSession(id, HOUR))).toEqual({ passport: { user: 'alice' }, views: 2 });
    });

    it('should treat a session whose cookie.expires has passed as missing when the store never expires data', async () => {
      const store = new KeepForeverStore();
      let now = Date.now();
      const adapter = new StoreAdapter(store, { now: () => now });
      expect(adapter.touchMode).toBe('rewrite');
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), 1000, CREATE);
      now += 999;
      expect(plain(await adapter.getSession(id, 1000))).toEqual({ a: 1 });
      now += 1;
      expect(await adapter.getSession(id, 1000)).toBeUndefined();
      expect(await adapter.setSession(id, changes({ b: 1 }), 1000, UPDATE)).toBe(false);
      expect(store.data.has(id)).toBe(true); // still there, but never read or written again
    });

    it('should reject the reserved key "cookie" with an error that says what to do', async () => {
      const adapter = new StoreAdapter(memoryStore());
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      const rejected = adapter.setSession(id, changes({ cookie: { consent: true } }), HOUR, UPDATE);
      await expect(rejected).rejects.toBeInstanceOf(SessionValueError);
      await expect(rejected).rejects.toMatchObject({ key: 'cookie', message: expect.stringMatching(/reserved.*rename/) });
      await expect(adapter.compareAndSet(id, 'cookie', undefined, '1', HOUR, UPDATE)).rejects.toBeInstanceOf(SessionValueError);
      await expect(adapter.moveSession(id, generateId(), changes({ cookie: 1 }), HOUR, { keep: undefined, forwardTTL: 1000 })).rejects.toBeInstanceOf(SessionValueError);
      expect(plain(await adapter.getSession(id, HOUR))).toEqual({ a: 1 });
    });
  });

  describe('removed sessions and processes', () => {
    it('should keep an id removed here removed, even when a racing write of another process puts it back', async () => {
      const store = memoryStore();
      const adapter = new StoreAdapter(store);
      const id = generateId();
      await adapter.setSession(id, changes({ user: 'alice' }), HOUR, CREATE);
      expect(await adapter.removeAll(id)).toBe(true);
      await storeSet(store, id, { cookie: { expires: new Date(Date.now() + HOUR).toISOString() }, user: 'alice', cart: [1] });
      expect(await adapter.getSession(id, HOUR)).toBeUndefined();
      expect(await adapter.setSession(id, changes({ more: 1 }), HOUR, UPDATE)).toBe(false);
      expect(await adapter.compareAndSet(id, 'more', undefined, '1', HOUR, UPDATE)).toBe('gone');
      await adapter.updateTTL(id, HOUR);
      expect(await adapter.removeAll(id)).toBe(false);
      expect(store.sessions[id]).toBeUndefined(); // and the logout deleted it again
    });

    it('should not re-create a session another process removed before this one read it', async () => {
      const store = memoryStore();
      const [a, b] = [new StoreAdapter(store), new StoreAdapter(store)];
      const id = generateId();
      await a.setSession(id, changes({ user: 'alice' }), HOUR, CREATE);
      await b.removeAll(id);
      expect(await a.setSession(id, changes({ cart: [1] }), HOUR, UPDATE)).toBe(false);
      expect(store.sessions[id]).toBeUndefined();
    });

    it('should show the limit it documents: two processes writing at once can lose one write', async () => {
      const store = new KeepForeverStore();
      const [a, b] = [new StoreAdapter(store), new StoreAdapter(store)];
      const id = generateId();
      await a.setSession(id, changes({ base: 1 }), HOUR, CREATE);
      // Both processes read before either writes back: an express-session store has no atomic merge.
      await Promise.all([a.setSession(id, changes({ fromA: 1 }), HOUR, UPDATE), b.setSession(id, changes({ fromB: 1 }), HOUR, UPDATE)]);
      const keys = Object.keys(JSON.parse(store.data.get(id) as string) as object);
      expect(keys).toContain('base');
      expect(keys.includes('fromA') && keys.includes('fromB')).toBe(false);
      // The same two writes through one adapter (one process) keep both.
      await Promise.all([a.setSession(id, changes({ fromA: 2 }), HOUR, UPDATE), a.setSession(id, changes({ fromB: 2 }), HOUR, UPDATE)]);
      expect(plain(await a.getSession(id, HOUR))).toMatchObject({ fromA: 2, fromB: 2 });
    });
  });

  describe('updateTTL', () => {
    it("should use touch ('auto') on express-session's MemoryStore: the data stays, the expiry moves", async () => {
      const store = memoryStore();
      const adapter = new StoreAdapter(store);
      expect(adapter.touchMode).toBe('touch');
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), 1000, CREATE);
      const before = Date.parse((raw(store, id)['cookie'] as { expires: string }).expires);
      await adapter.updateTTL(id, HOUR);
      expect(raw(store, id)['a']).toBe(1);
      expect(Date.parse((raw(store, id)['cookie'] as { expires: string }).expires)).toBeGreaterThan(before + HOUR - 5000);
    });

    it("should never call a touch that writes over the data ('auto' rewrites connect-memcached-style stores), and rewrite only past half the TTL", async () => {
      const store = new MemcachedStore();
      let now = Date.now();
      const adapter = new StoreAdapter(store, { now: () => now });
      expect(adapter.touchMode).toBe('rewrite');
      const id = generateId();
      await adapter.setSession(id, changes({ user: 'alice' }), 1000, CREATE);
      now += 400;
      await adapter.updateTTL(id, 1000);
      expect(store.sets).toBe(1); // more than half the TTL left: nothing written
      now += 200;
      await adapter.updateTTL(id, 1000);
      expect(store.sets).toBe(2);
      now += 900; // past the first expiry, within the refreshed one
      expect(plain(await adapter.getSession(id, 1000))).toEqual({ user: 'alice' });
    });

    it("should write nothing with 'none', and refuse options it cannot honour", async () => {
      const store = new MemcachedStore();
      const adapter = new StoreAdapter(store, { touch: 'none' });
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), 1000, CREATE);
      await adapter.updateTTL(id, 1000);
      expect(store.sets).toBe(1);
      expect(() => new StoreAdapter(new KeepForeverStore(), { touch: 'touch' })).toThrow(/no touch method/);
      expect(() => new StoreAdapter(store, { touch: 'sometimes' as 'none' })).toThrow(SessionOptionsError);
      expect(() => new StoreAdapter(store, { timeout: 0 })).toThrow(SessionOptionsError);
      expect(() => new StoreAdapter({ get() {} } as unknown as Store)).toThrow(/get, set and destroy/);
    });
  });

  describe('store styles, failures and events', () => {
    it('should work with a store that only returns Promises', async () => {
      const store = new PromiseStore();
      const adapter = new StoreAdapter(store);
      const id = generateId();
      expect(await adapter.setSession(id, changes({ a: 1 }), HOUR, CREATE)).toBe(true);
      expect(await adapter.setSession(id, changes({ b: 2 }), HOUR, UPDATE)).toBe(true);
      expect(plain(await adapter.getSession(id, HOUR))).toEqual({ a: 1, b: 2 });
      expect(await adapter.count?.()).toBe(1);
      expect(await adapter.removeAll(id)).toBe(true);
      expect(await adapter.getSession(id, HOUR)).toBeUndefined();
    });

    it('should turn errors, throws, rejections and silence into StorageErrors naming the operation', async () => {
      const boom = new Error('backend down');
      const cases: Array<[string, Store]> = [
        ['callback error', { get: (_s: string, cb: ExpressStoreCallback) => cb(boom), set() {}, destroy() {} } as unknown as Store],
        ['throw', { get: () => { throw boom; }, set() {}, destroy() {} } as unknown as Store],
        ['rejection', { get: () => Promise.reject(boom), set() {}, destroy() {} } as unknown as Store],
      ];
      for (const [, store] of cases) {
        const err = await new StoreAdapter(store).getSession(generateId(), HOUR).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(StorageError);
        expect(err).toMatchObject({ operation: 'getSession', cause: boom, message: expect.stringContaining('backend down') });
      }
      const silent = { get() {}, set() {}, destroy() {} } as unknown as Store;
      await expect(new StoreAdapter(silent, { timeout: 30 }).getSession(generateId(), HOUR)).rejects.toThrow(/did not answer within 30 ms/);
    });

    it("should treat get's ENOENT as a missing session and a non-object as corrupt", async () => {
      const enoent = Object.assign(new Error('no file'), { code: 'ENOENT' });
      const adapter = new StoreAdapter({ get: (_s: string, cb: ExpressStoreCallback) => cb(enoent), set() {}, destroy() {} } as unknown as Store);
      expect(await adapter.getSession(generateId(), HOUR)).toBeUndefined();
      const errors: StorageError[] = [];
      const corrupt = new StoreAdapter({ get: (_s: string, cb: ExpressStoreCallback) => cb(null, 'text'), set() {}, destroy() {} } as unknown as Store, { onError: (e) => errors.push(e) });
      expect(await corrupt.getSession(generateId(), HOUR)).toBeUndefined();
      expect(errors[0]).toBeInstanceOf(CorruptSessionError);
    });

    it("should fail fast while the store is disconnected, report 'disconnect' and 'error', and detach on close", async () => {
      const store = memoryStore();
      const errors: StorageError[] = [];
      const adapter = new StoreAdapter(store, { onError: (e) => errors.push(e) });
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      store.emit('disconnect');
      expect(errors[0]).toMatchObject({ operation: 'disconnect' });
      await expect(adapter.getSession(id, HOUR)).rejects.toThrow(/disconnected/);
      await expect(adapter.setSession(id, changes({ b: 1 }), HOUR, UPDATE)).rejects.toBeInstanceOf(StorageError);
      store.emit('connect');
      expect(plain(await adapter.getSession(id, HOUR))).toEqual({ a: 1 });
      expect(() => store.emit('error', new Error('socket closed'))).not.toThrow();
      expect(errors[1]).toMatchObject({ operation: 'error', message: expect.stringContaining('socket closed') });
      await adapter.close();
      expect((store as unknown as EventEmitter).listenerCount('disconnect')).toBe(0);
    });

    it('should let close() wait for a TTL refresh in flight, so closing the store next cuts none off', async () => {
      const store = memoryStore();
      const touch = (store as unknown as { touch: (id: string, s: unknown, cb: ExpressStoreCallback) => void }).touch.bind(store);
      let answered = false;
      // A touch that answers 50 ms late (a store whose backend is slow): the refresh after the last response.
      (store as unknown as { touch: unknown }).touch = (id: string, s: unknown, cb: ExpressStoreCallback) =>
        setTimeout(() => touch(id, s, (err?: unknown) => ((answered = true), cb(err))), 50);
      const adapter = new StoreAdapter(store, { touch: 'touch' });
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      const refresh = adapter.updateTTL(id, HOUR);
      await adapter.close();
      expect(answered).toBe(true);
      await expect(refresh).resolves.toBeUndefined();
    });

    it('should let close() wait for both calls of a refresh by rewrite (get, then set)', async () => {
      const store = memoryStore();
      const adapter = new StoreAdapter(store, { touch: 'rewrite' });
      const id = generateId();
      await adapter.setSession(id, changes({ a: 1 }), 1000, CREATE); // soon due: the refresh rewrites it
      const { get, set } = store as unknown as Record<'get' | 'set', (...args: unknown[]) => void>;
      let written = false;
      // A slow backend: the read answers 30 ms late, then the write 30 ms late.
      Object.assign(store, {
        get: (...args: unknown[]) => setTimeout(() => get.apply(store, args), 30),
        set: (sid: string, session: unknown, cb: ExpressStoreCallback) => setTimeout(() => set.call(store, sid, session, (err?: unknown) => ((written = true), cb(err))), 30),
      });
      const refresh = adapter.updateTTL(id, HOUR);
      await adapter.close();
      expect(written).toBe(true);
      await expect(refresh).resolves.toBeUndefined();
    });
  });

  it("should answer a request with the error, not without a session, while the store is disconnected", async () => {
    const store = memoryStore();
    const adapter = new StoreAdapter(store, { onError: () => undefined });
    const app = buildApp(express, adapter);
    const id = cookieValue((await request(app).get('/set?k=user&v=alice').expect(200)).headers['set-cookie']) as string;
    store.emit('disconnect');
    const down = await request(app).get('/get?k=user').set('Cookie', `sessionid=${id}`);
    expect(down.status).toBe(500);
    expect(down.body).toEqual({ error: 'StorageError', code: 'ERR_SESSION_STORAGE' });
    await request(app).get('/set?k=cart&v=1').set('Cookie', `sessionid=${id}`).expect(500);
    store.emit('connect');
    await request(app).get('/data').set('Cookie', `sessionid=${id}`).expect(200, { user: 'alice' });
    await adapter.close();
  });

  describe('count', () => {
    it('should be store.length, and absent without it or with count: false', async () => {
      const store = memoryStore();
      const adapter = new StoreAdapter(store);
      await adapter.setSession(generateId(), changes({ a: 1 }), HOUR, CREATE);
      await adapter.setSession(generateId(), changes({ a: 1 }), HOUR, CREATE);
      expect(await adapter.count?.()).toBe(2);
      expect(new StoreAdapter(new KeepForeverStore()).count).toBeUndefined();
      expect(new StoreAdapter(store, { count: false }).count).toBeUndefined();
    });
  });
});

describe('StoreAdapter internals', () => {
  it('should release every per-id lock, whatever the calls did', async () => {
    const lock = new KeyLock();
    const order: number[] = [];
    const slow = lock.run(['a'], async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push(1);
    });
    const failing = lock.run(['b', 'a'], async () => {
      order.push(2);
      throw new Error('fails');
    });
    const after = lock.run(['a'], async () => order.push(3));
    await expect(failing).rejects.toThrow('fails');
    await Promise.all([slow, after]);
    expect(order).toEqual([1, 2, 3]);
    expect(lock.size).toBe(0);
  });

  it('should forget remembered ids after their time, and the oldest beyond the bound', () => {
    let now = 0;
    const memory = new IdMemory<true>(() => now, 3);
    memory.set('a', true, 100);
    memory.set('b', true, 200);
    now = 150;
    expect(memory.has('a')).toBe(false);
    expect(memory.has('b')).toBe(true);
    for (const id of ['c', 'd', 'e']) memory.set(id, true, 1000);
    expect(memory.size).toBe(3);
    expect(memory.has('b')).toBe(false);
    expect(['c', 'd', 'e'].every((id) => memory.has(id))).toBe(true);
  });
});

import { Manager, MemoryStorage, session, SessionError, SessionOptionsError, SessionStateError, SessionValueError, StorageError, type Storage } from 'sessionware';

/** A MemoryStorage without moveSession, as a third-party storage written before it existed. */
function withoutMove(storage: MemoryStorage): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'moveSession') return undefined;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('session values', () => {
  let storage: MemoryStorage;
  let manager: Manager;
  beforeEach(() => {
    storage = new MemoryStorage();
    manager = new Manager({ storage, ttl: 60_000 });
  });
  afterEach(() => storage.close());

  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
    toJSON() {
      return [this.x, this.y];
    }
  }
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const withExtra = Object.assign([1, 2], { extra: true });
  const symbolKeyed = { a: 1, [Symbol('hidden')]: 2 };

  it.each([
    ['a RegExp', /x/g, 'a RegExp', 'bad'],
    ['an Error', new Error('boom'), 'an Error', 'bad'],
    ['a WeakRef', new WeakRef({}), 'WeakRef', 'bad'],
    ['a Uint8Array', new Uint8Array([1, 2]), 'Uint8Array', 'bad'],
    ['a Buffer', Buffer.from('hi'), 'a Buffer', 'bad'],
    ['a class instance with toJSON', new Point(1, 2), 'Point', 'bad'],
    ['a boxed string', new String('x'), 'boxed', 'bad'],
    ['[undefined]', [undefined], 'undefined', 'bad[0]'],
    ['a sparse array', sparse, 'hole', 'bad[1]'],
    ['an array with extra properties', withExtra, 'extra properties', 'bad'],
    ['an object with a symbol key', symbolKeyed, 'symbol key', 'bad'],
    ['an invalid Date', new Date(NaN), 'invalid Date', 'bad'],
    ['a nested Map', { user: { roles: new Map() } }, 'a Map', 'bad.user.roles'],
    ['a function deep in an array', { list: [{ ok: 1 }, { f: () => 1 }] }, 'a function', 'bad.list[1].f'],
    ['a Promise', { p: Promise.resolve(1) }, 'a Promise', 'bad.p'],
    ['-Infinity under an odd key', { 'a b': -Infinity }, 'not a finite number', 'bad["a b"]'],
  ])('should reject %s, naming the key and the path', async (_what, value, problem, path) => {
    const s = manager.new();
    const err = (await s.set('bad', value).catch((e: unknown) => e)) as SessionValueError;
    expect(err).toBeInstanceOf(SessionValueError);
    expect(err.key).toBe('bad');
    expect(err.message).toContain(problem);
    const at = path === 'bad' ? undefined : path.slice('bad'.length).replace(/^\./, '');
    if (at !== undefined) expect(err.message).toContain(`at "${at}"`);
    await expect(s.size()).resolves.toBe(0);
    await s.close();
  });

  it('should reject values nested too deeply', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    await expect(manager.new().set('deep', deep)).rejects.toThrow(/nested more than 256/);
  });

  it('should report a getter that throws as a SessionValueError with the cause', async () => {
    const value = {
      get boom(): never {
        throw new Error('getter failed');
      },
    };
    const err = (await manager.new().set('g', value).catch((e: unknown) => e)) as SessionValueError;
    expect(err).toBeInstanceOf(SessionValueError);
    expect((err.cause as Error).message).toBe('getter failed');
  });

  it('should accept plain data exactly, Dates as ISO strings, -0 as 0, and shared (non-circular) references', async () => {
    const shared = { n: 1 };
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: [1, 'two', null, true] });
    const value = { shared, again: shared, nullProto, at: new Date(0), zero: -0, text: 'lone \ud800 surrogate', nested: [[[]], {}], big: 1e21 };
    const s = manager.new();
    await s.set('v', value);
    const id = await s.id();
    await s.close();
    const back = await manager.new(id).get('v');
    expect(back).toEqual({ shared: { n: 1 }, again: { n: 1 }, nullProto: { a: [1, 'two', null, true] }, at: '1970-01-01T00:00:00.000Z', zero: 0, text: 'lone \ud800 surrogate', nested: [[[]], {}], big: 1e21 });
    expect(Object.is((back as { zero: number }).zero, 0)).toBe(true);
  });

  it('should reject keys that are not well-formed UTF-16, at set, setMap, get, contains and remove', async () => {
    const spy = jest.spyOn(storage, 'getSession');
    const s = manager.new('0123456789abcdef');
    for (const key of ['\ud800', 'a\udc00b', '\udbff']) {
      await expect(s.set(key, 1)).rejects.toThrow(SessionValueError);
      await expect(s.setMap({ ok: 1, [key]: 2 })).rejects.toThrow(SessionValueError);
      await expect(s.get(key)).rejects.toThrow(/well-formed/);
      await expect(s.contains(key)).rejects.toThrow(SessionValueError);
      await expect(s.remove('fine', key)).rejects.toThrow(SessionValueError);
    }
    expect(spy).not.toHaveBeenCalled(); // refused before any storage access
    await s.set('\ud83d\ude00 emoji', 1); // a proper surrogate pair is fine
    await expect(s.get('\ud83d\ude00 emoji')).resolves.toBe(1);
  });

  it('should refuse keys that are not strings, whatever they are', async () => {
    const s = manager.new();
    const hostile = { toString: () => { throw new Error('no'); } };
    for (const key of [1, null, Symbol('k'), hostile]) {
      await expect(s.set(key as unknown as string, 1)).rejects.toThrow(SessionValueError);
      await expect(s.get(key as unknown as string)).rejects.toThrow(/must be a string/);
    }
  });

  it('should refuse a setMap argument that is not a plain object', async () => {
    const s = manager.new();
    await expect(s.setMap(new Map([['a', 1]]) as unknown as Record<string, unknown>)).rejects.toThrow(SessionValueError);
    await expect(s.setMap(null as unknown as Record<string, unknown>)).rejects.toThrow(SessionValueError);
  });

  it('should serialise with JSON.stringify to a placeholder, without data or id, and without enumerable fields', async () => {
    const s = manager.new();
    await s.set('secret', 'do-not-leak');
    s.host = { ended: false, willRun() {}, settled() {} };
    const id = await s.id();
    const text = JSON.stringify({ session: s });
    expect(text).not.toContain('do-not-leak');
    expect(text).not.toContain(id);
    expect(Object.keys(s)).toEqual([]);
    await s.close();
  });
});

describe('callbacks and express-session methods', () => {
  const manager = new Manager({ storage: new MemoryStorage(), ttl: 60_000 });
  const cb = () => undefined;

  /** Calls `call` and collects what reaches the callback (on a later tick) and what the returned promise does. */
  async function refusal(call: (cb: (err: unknown) => void) => unknown): Promise<{ sync: boolean; viaCallback: unknown; viaPromise: unknown }> {
    let viaCallback: unknown;
    let sync = true;
    const called = new Promise<void>((resolve) => {
      const result = call((err) => {
        viaCallback = err;
        resolve();
      }) as Promise<unknown>;
      sync = viaCallback !== undefined;
      void result.catch((e: unknown) => e);
      viaPromiseHolder.value = result;
    });
    await called;
    const viaPromise = await (viaPromiseHolder.value as Promise<unknown>).then(() => 'fulfilled', (e: unknown) => e);
    return { sync, viaCallback, viaPromise };
  }
  const viaPromiseHolder: { value: unknown } = { value: undefined };

  it.each(['regenerate', 'removeAll', 'close', 'id', 'data', 'size'] as const)('should hand a callback given to %s() a SessionStateError on a later tick, never throwing', async (method) => {
    const s = manager.new();
    const { sync, viaCallback, viaPromise } = await refusal((callback) => (s[method] as (arg: unknown) => unknown)(callback));
    expect(sync).toBe(false);
    expect(viaCallback).toBeInstanceOf(SessionStateError);
    expect((viaCallback as Error).message).toMatch(/sessionware\/express-session/);
    expect(viaPromise).toBe(viaCallback);
  });

  it('should refuse remove(key, cb), contains(key, cb), regenerate(options, cb) and increment(key, cb) the same way', async () => {
    const s = manager.new();
    for (const call of [
      (callback: unknown) => (s.remove as (...a: unknown[]) => unknown)('a', callback),
      (callback: unknown) => (s.contains as (...a: unknown[]) => unknown)('a', callback),
      (callback: unknown) => (s.regenerate as (...a: unknown[]) => unknown)({ keep: [] }, callback),
      (callback: unknown) => (s.increment as (...a: unknown[]) => unknown)('a', callback),
    ]) {
      const { viaCallback } = await refusal(call);
      expect(viaCallback).toBeInstanceOf(SessionStateError);
    }
    expect(() => (s.remove as (...a: unknown[]) => unknown)('a', cb)).not.toThrow();
  });

  it.each(['save', 'destroy', 'reload', 'touch'] as const)('should have %s() as a non-enumerable method that throws a SessionError without a callback, and hands it to a callback', async (method) => {
    const s = manager.new();
    expect(Object.keys(s)).not.toContain(method);
    expect(() => s[method]()).toThrow(SessionError);
    expect(() => s[method]()).toThrow(/sessionware\/express-session/);
    const { sync, viaCallback } = await refusal((callback) => s[method](callback));
    expect(sync).toBe(false);
    expect(viaCallback).toBeInstanceOf(SessionStateError);
  });
});

describe('maxSessionBytes', () => {
  let storage: MemoryStorage;
  afterEach(() => storage.close());

  it('should reject a set that would exceed the limit before anything is written, counting what was loaded', async () => {
    storage = new MemoryStorage();
    const manager = new Manager({ storage, maxSessionBytes: 100 });
    const s = manager.new();
    await s.set('a', 'x'.repeat(40)); // 1 + 42 bytes
    const id = await s.id();
    await s.close();

    const spy = jest.spyOn(storage, 'setSession');
    const t = manager.new(id);
    const err = (await t.set('b', 'y'.repeat(60)).catch((e: unknown) => e)) as SessionValueError; // 43 + 63 > 100
    expect(err).toBeInstanceOf(SessionValueError);
    expect(err.key).toBe('b');
    expect(err.message).toMatch(/106 bytes, more than maxSessionBytes \(100\)/);
    await t.set('a', 'z'); // replacing a value frees its bytes
    await t.set('b', 'y'.repeat(60)); // 1 + 3 + 1 + 62 fits
    await t.remove('b');
    await t.setMap({ c: 'w'.repeat(40), d: 1 });
    await expect(t.setMap({ e: 'v'.repeat(60) })).rejects.toThrow(SessionValueError); // 4 + 43 + 2 + 63
    await t.close();
    expect(spy).toHaveBeenCalledTimes(1);
    await expect(manager.new(id).data()).resolves.toEqual({ a: 'z', c: 'w'.repeat(40), d: 1 });
  });

  it('should be an option of session(), validated at once', () => {
    storage = new MemoryStorage();
    expect(() => session(storage, { maxSessionBytes: 64 * 1024 })).not.toThrow();
    expect(() => session(storage, { maxSessionBytes: Infinity })).not.toThrow();
    for (const bad of [0, 2.5, -1]) expect(() => session(storage, { maxSessionBytes: bad })).toThrow(SessionOptionsError);
  });

  it('should count UTF-8 bytes of keys and values', async () => {
    storage = new MemoryStorage();
    const manager = new Manager({ storage, maxSessionBytes: 10 });
    await expect(manager.new().set('é', 'ééé')).resolves.toBeUndefined(); // 2 + 8
    await expect(manager.new().set('é', 'éééé')).rejects.toThrow(SessionValueError); // 2 + 10
  });

  it('should default to 1 MiB and validate the option', async () => {
    storage = new MemoryStorage();
    expect(new Manager({ storage }).maxSessionBytes).toBe(1_048_576);
    for (const bad of [0, -1, 1.5, NaN, '1' as unknown as number]) {
      expect(() => new Manager({ storage, maxSessionBytes: bad })).toThrow(SessionOptionsError);
    }
    const s = new Manager({ storage }).new();
    await expect(s.set('big', 'x'.repeat(1_048_576))).rejects.toThrow(/maxSessionBytes/);
    await expect(new Manager({ storage, maxSessionBytes: Infinity }).new().set('big', 'x'.repeat(1_048_576))).resolves.toBeUndefined();
  });
});

describe('regenerate', () => {
  let storage: MemoryStorage;
  beforeEach(() => {
    storage = new MemoryStorage();
  });
  afterEach(() => storage.close());

  it('should reject with a StorageError on a storage without moveSession', async () => {
    const manager = new Manager({ storage: withoutMove(storage) });
    const err = (await manager.new().regenerate().catch((e: unknown) => e)) as StorageError;
    expect(err).toBeInstanceOf(StorageError);
    expect(err.operation).toBe('moveSession');
  });

  it('should hand unsent changes to moveSession, keep only the listed keys, and leave a forward', async () => {
    const manager = new Manager({ storage, ttl: 60_000 });
    const s0 = manager.new();
    await s0.setMap({ csrf: 'planted', cart: ['book'], flags: { admin: true } });
    const oldId = await s0.id();
    await s0.close();

    const move = jest.spyOn(storage, 'moveSession');
    const s = manager.new(oldId);
    await s.set('cart', ['book', 'pen']);
    await s.set('locale', 'fr');
    await s.regenerate({ keep: ['cart', 'locale'] });
    expect(move).toHaveBeenCalledWith(oldId, expect.any(String), { set: new Map([['cart', '["book","pen"]'], ['locale', '"fr"']]), removed: new Set() }, 60_000, { keep: new Set(['cart', 'locale', '$sw:ttl', '$sw:created', '$sw:flash', '$sw:owner']), forwardTTL: 60_000 });
    const newId = await s.id();
    await expect(s.data()).resolves.toEqual({ cart: ['book', 'pen'], locale: 'fr' });
    await s.close();
    await expect(manager.new(newId).data()).resolves.toEqual({ cart: ['book', 'pen'], locale: 'fr' });
    await expect(storage.getSession(oldId)).resolves.toBeUndefined();

    const late = manager.new(oldId); // the forward does not let the old id be adopted
    await expect(late.get('cart')).resolves.toBeUndefined();
    expect(late.isNew()).toBe(true);
  });

  it('should use a forward of at most the TTL', async () => {
    const manager = new Manager({ storage, ttl: 5_000 });
    const s0 = manager.new();
    await s0.set('a', 1);
    const id = await s0.id();
    await s0.close();
    const move = jest.spyOn(storage, 'moveSession');
    const s = manager.new(id);
    await s.regenerate();
    expect(move.mock.calls[0]?.[4]).toEqual({ keep: undefined, forwardTTL: 5_000 });
    await s.close();
  });

  it('should give a session never stored a new id, keeping only the listed unsent changes', async () => {
    const manager = new Manager({ storage });
    const move = jest.spyOn(storage, 'moveSession');
    const s = manager.new();
    await s.setMap({ keep: 1, drop: 2 });
    const before = await s.id();
    await s.regenerate({ keep: ['keep'] });
    const after = await s.id();
    expect(after).not.toBe(before);
    await s.close();
    expect(move).not.toHaveBeenCalled();
    await expect(manager.new(after).data()).resolves.toEqual({ keep: 1 });
    await expect(storage.getSession(before)).resolves.toBeUndefined();
  });

  it('should keep nothing with keep: [], and move again on a second regenerate', async () => {
    const manager = new Manager({ storage });
    const s0 = manager.new();
    await s0.setMap({ csrf: 'planted', flags: ['admin'] });
    const first = await s0.id();
    await s0.close();
    const s = manager.new(first);
    await s.regenerate({ keep: [] });
    await expect(s.data()).resolves.toEqual({});
    const second = await s.id();
    await s.set('user', 'alice');
    await s.regenerate();
    const third = await s.id();
    await s.close();
    expect(new Set([first, second, third]).size).toBe(3);
    await expect(manager.new(third).data()).resolves.toEqual({ user: 'alice' });
    for (const old of [first, second]) await expect(storage.getSession(old)).resolves.toBeUndefined();
  });

  it('should refuse a keep that is not an array of keys', async () => {
    const manager = new Manager({ storage });
    await expect(manager.new().regenerate({ keep: 'cart' as unknown as string[] })).rejects.toThrow(SessionOptionsError);
    await expect(manager.new().regenerate({ keep: ['\ud800'] })).rejects.toThrow(SessionValueError);
  });
});

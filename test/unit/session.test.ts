import {
  Manager,
  MemoryStorage,
  SessionOptionsError,
  SessionStateError,
  SessionValueError,
  generateId,
} from 'sessionware';

declare module 'sessionware' {
  interface SessionData {
    profile: { id: number; name: string };
    visits: number;
  }
}

describe('Session', () => {
  let storage: MemoryStorage;
  let manager: Manager;
  beforeEach(() => {
    storage = new MemoryStorage();
    manager = new Manager({ storage, ttl: 60_000 });
  });
  afterEach(() => storage.close());

  it('should start lazily: no storage access until a method is awaited', async () => {
    const spy = jest.spyOn(storage, 'getSession');
    const s = manager.new(generateId());
    expect(s.isDirty()).toBe(false);
    expect(spy).not.toHaveBeenCalled();
    await s.get('profile');
    expect(spy).toHaveBeenCalledTimes(1);
    await s.get('visits');
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('should type declared keys and leave others unknown', async () => {
    const s = manager.new();
    await s.set('profile', { id: 1, name: 'a' });
    const user = await s.get('profile');
    const name: string | undefined = user?.name;
    expect(name).toBe('a');
    const visits: number = await s.get('visits', 0);
    expect(visits).toBe(0);
    const other: unknown = await s.get('anything');
    expect(other).toBeUndefined();
    // @ts-expect-error a declared key only takes its declared type
    await s.set('visits', 'many');
  });

  it('should return copies: mutating a read value changes nothing until set', async () => {
    const s = manager.new();
    await s.set('profile', { id: 1, name: 'a' });
    const user = await s.get('profile');
    if (user) user.name = 'mutated';
    await expect(s.get('profile')).resolves.toEqual({ id: 1, name: 'a' });
    const all = await s.data();
    (all['profile'] as { name: string }).name = 'mutated';
    await expect(s.get('profile')).resolves.toEqual({ id: 1, name: 'a' });
  });

  it.each([
    ['a function', () => 1],
    ['a BigInt', 10n],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a Map', new Map([[1, 2]])],
    ['a Set', new Set([1])],
    ['a nested function', { a: { b: () => 1 } }],
    ['undefined', undefined],
    ['a symbol', Symbol('x')],
  ])('should reject %s with a SessionValueError and store nothing', async (_what, value) => {
    const s = manager.new();
    const err = await s.set('bad', value).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionValueError);
    expect((err as SessionValueError).key).toBe('bad');
    expect((err as SessionValueError).code).toBe('ERR_SESSION_VALUE');
    expect(s.isDirty()).toBe(false);
  });

  it('should reject circular structures', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    await expect(manager.new().set('c', cyclic)).rejects.toThrow(SessionValueError);
  });

  it('should reject a setMap as a whole when one value is bad', async () => {
    const s = manager.new();
    await expect(s.setMap({ ok: 1, bad: () => 1 })).rejects.toThrow(SessionValueError);
    await expect(s.size()).resolves.toBe(0);
  });

  it('should store Dates as ISO strings and keep undefined-valued properties out', async () => {
    const s = manager.new();
    const when = new Date(Date.UTC(2026, 0, 2));
    await s.set('when', { at: when, gone: undefined });
    await expect(s.get('when')).resolves.toEqual({ at: '2026-01-02T00:00:00.000Z' });
  });

  it('should apply setId/setIdFunc only before the session starts', async () => {
    const s = manager.new();
    s.setIdFunc(() => 'custom_session_id');
    await s.set('a', 1);
    await expect(s.id()).resolves.toBe('custom_session_id');
    expect(() => s.setId('another-id-123')).toThrow(SessionStateError);
    expect(() => s.setIdFunc(() => 'x')).toThrow(SessionStateError);

    const t = manager.new();
    expect(() => t.setId('../etc')).toThrow(SessionOptionsError);
    t.setId('app-chosen-id');
    await t.set('b', 2);
    await t.close();
    await expect(manager.new('app-chosen-id').get('b')).resolves.toBe(2);
  });

  it('should reject an id function that returns an unusable id', async () => {
    const s = manager.new();
    s.setIdFunc(() => 'bad id!');
    await expect(s.set('a', 1)).rejects.toThrow(SessionOptionsError);
  });

  it('should report isNew and isDirty', async () => {
    const s = manager.new();
    expect(s.isNew()).toBe(true);
    await s.set('a', 1);
    expect(s.isDirty()).toBe(true);
    const id = await s.id();
    await s.close();
    const t = manager.new(id);
    await t.get('a');
    expect(t.isNew()).toBe(false);
    expect(t.isDirty()).toBe(false);
    await t.remove('nope');
    expect(t.isDirty()).toBe(true);
  });

  it('should run operations in call order, even without awaiting each', async () => {
    const s = manager.new();
    const results = await Promise.all([s.set('n', 1), s.get('n'), s.set('n', 2), s.get('n'), s.remove('n'), s.get('n', 'default')]);
    expect(results).toEqual([undefined, 1, undefined, 2, undefined, 'default']);
  });

  it('should reject use after close, and close only once', async () => {
    const spy = jest.spyOn(storage, 'setSession');
    const s = manager.new();
    await s.set('a', 1);
    await Promise.all([s.close(), s.close()]);
    await s.close();
    expect(spy).toHaveBeenCalledTimes(1);
    await expect(s.get('a')).rejects.toThrow(SessionStateError);
  });

  it('should do nothing on remove/removeAll without an id', async () => {
    const spy = jest.spyOn(storage, 'removeAll');
    const s = manager.new();
    await s.remove('a');
    await s.removeAll();
    expect(spy).not.toHaveBeenCalled();
    await expect(s.data()).resolves.toEqual({});
  });

  it('should not let a regenerate carry on data a concurrent logout removed', async () => {
    const s0 = manager.new();
    await s0.set('profile', { id: 1, name: 'a' });
    const id = await s0.id();
    await s0.close();

    const slow = manager.new(id);
    await slow.get('profile');
    await storage.removeAll(id); // another request logged out
    await slow.regenerate();
    const newId = await slow.id();
    await slow.close();
    await expect(storage.getSession(newId)).resolves.toBeUndefined();
  });
});

describe('Manager', () => {
  it('should hold the storage and the TTL', async () => {
    const a = new MemoryStorage();
    const b = new MemoryStorage();
    const manager = new Manager({ storage: a, ttl: 1000 });
    expect(manager.getTTL()).toBe(1000);
    manager.setStorage(b);
    expect(manager.getStorage()).toBe(b);
    expect(manager.getTTL()).toBe(1000);
    manager.setTTL(60_000);
    expect(manager.getTTL()).toBe(60_000);
    expect(new Manager({ storage: a }).getTTL()).toBe(24 * 60 * 60 * 1000);
    await a.close();
    await b.close();
  });

  it.each([0, -1, NaN, Infinity])('should refuse a TTL of %p', (ttl) => {
    expect(() => new Manager({ storage: new MemoryStorage(), ttl })).toThrow(SessionOptionsError);
  });

  it('should answer 0 for the size of an unknown id and ignore malformed ids', async () => {
    const storage = new MemoryStorage();
    const manager = new Manager({ storage });
    await expect(manager.new(generateId()).size()).resolves.toBe(0);
    const s = manager.new('../../x');
    await s.set('a', 1);
    expect(await s.id()).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await storage.close();
  });
});

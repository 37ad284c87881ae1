import { MemoryStorage, Signer, SessionOptionsError, generateId, isValidId, session, type SessionOptions } from 'sessionware';

describe('session() options', () => {
  const storage = new MemoryStorage();
  afterAll(() => storage.close());

  it.each<[string, SessionOptions]>([
    ['an invalid cookie name', { name: 'bad name' }],
    ['an invalid header name', { header: 'x:y' }],
    ['neither cookie nor header', { cookie: false, header: false }],
    ['a relative cookie path', { cookie: { path: 'admin' } }],
    ['a bad domain', { cookie: { domain: 'exa mple.com' } }],
    ['a zero maxAge', { cookie: { maxAge: 0 } }],
    ['SameSite=None without Secure', { cookie: { sameSite: 'none', secure: false } }],
    ['Partitioned without Secure', { cookie: { partitioned: true, secure: false } }],
    ['a __Host- cookie that is not Secure', { name: '__Host-sid', cookie: { secure: 'auto' } }],
    ['a __Host- cookie with a domain', { name: '__Host-sid', cookie: { secure: true, domain: 'example.com' } }],
    ['a __Secure- cookie that is not Secure', { name: '__Secure-sid' }],
    ['a short secret', { secret: 'short' }],
    ['an empty secret array', { secret: [] }],
    ['a negative ttl', { ttl: -5 }],
  ])('should throw a SessionOptionsError at once for %s', (_what, options) => {
    expect(() => session(storage, options)).toThrow(SessionOptionsError);
  });

  it.each<[string, unknown, RegExp]>([
    ['idFunc: "bogus"', { idFunc: 'bogus' }, /options\.idFunc must be a function/],
    ['onError: 3', { onError: 3 }, /options\.onError must be a function/],
    ['ttl: "x"', { ttl: 'x' }, /options\.ttl must be a positive number/],
    ['ttl: NaN', { ttl: Number.NaN }, /options\.ttl/],
    ['an unknown option', { ttll: 5 }, /options\.ttll is not an option; the options are: ttl, name/],
    ['an unknown cookie option', { cookie: { sameSight: 'lax' } }, /options\.cookie\.sameSight is not an option/],
    ['cookie: true', { cookie: true }, /options\.cookie must be an object/],
    ['a numeric cookie path', { cookie: { path: 5 } }, /options\.cookie\.path must be a string/],
    ['httpOnly: "yes"', { cookie: { httpOnly: 'yes' } }, /options\.cookie\.httpOnly must be true or false/],
    ['partitioned: 1', { cookie: { partitioned: 1 } }, /options\.cookie\.partitioned/],
    ['priority: "urgent"', { cookie: { priority: 'urgent' } }, /options\.cookie\.priority/],
    ['secret: 42', { secret: 42 }, /options\.secret must be a string or an array/],
    ['options that are not an object', 'fast', /options must be an object/],
  ])('should name the option and the fix for %s', (_what, options, message) => {
    let thrown: unknown;
    try {
      session(storage, options as SessionOptions);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SessionOptionsError);
    expect((thrown as Error).message).toMatch(message);
  });

  it('should accept a complete, valid configuration', () => {
    expect(() =>
      session(storage, {
        ttl: 60_000,
        name: '__Host-sid',
        header: 'X-Session-Id',
        cookie: { secure: true, sameSite: 'none', partitioned: true, maxAge: 60_000, priority: 'low', httpOnly: true },
        secret: ['x'.repeat(32), 'y'.repeat(40)],
        idFunc: () => generateId(),
        onError: () => undefined,
      }),
    ).not.toThrow();
  });
});

describe('ids and signatures', () => {
  it('should generate unique 32-character url-safe ids', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => generateId()));
    expect(ids.size).toBe(10_000);
    for (const id of ids) expect(isValidId(id)).toBe(true);
  });

  it.each(['', 'short', '../../etc/passwd', 'a/b/c/d/e', 'with space12', 'dot.dot.dot', 'a'.repeat(129), 'CON', 'nul\u0000nul0', '%2e%2e%2f123'])(
    'should refuse %p as an id',
    (id) => expect(isValidId(id)).toBe(false),
  );

  it('should sign with the first secret and verify with any', () => {
    const older = new Signer('o'.repeat(32));
    const rotated = new Signer(['n'.repeat(32), 'o'.repeat(32)]);
    const id = generateId();
    expect(rotated.unsign(older.sign(id))).toBe(id);
    expect(older.unsign(rotated.sign(id))).toBeUndefined();
    expect(rotated.unsign(`${id}.`)).toBeUndefined();
    expect(rotated.unsign(id)).toBeUndefined();
    expect(rotated.unsign(`${id}.${rotated.sign(id).split('.')[1]?.slice(1)}`)).toBeUndefined();
  });
});

/**
 * CookieStorage's seal: tampering, expiry, rotation, revocation and the exact length formula.
 */
import { generateId, MemoryStorage, SessionOptionsError } from 'sessionware';
import { CookieStorage } from '../../lib/storage/cookie/cookie-storage';
import { TestClock } from '../helpers/clock';

const A = 'a'.repeat(32) + '-secret-one';
const B = 'b'.repeat(32) + '-secret-two';
const HOUR = 3_600_000;

function sample(clock: TestClock, data: Record<string, unknown> = { user: { id: 7, name: 'Ada "q" ключ 😀' }, n: 1.5, list: [1, null, 'x'] }) {
  const now = clock.now();
  return { sid: generateId(), iat: now, exp: now + HOUR, abs: now + 24 * HOUR, data: new Map(Object.entries(data).map(([k, v]) => [k, JSON.stringify(v)])) };
}

describe('CookieStorage seal', () => {
  it('should round-trip a session exactly, with the length it predicts', async () => {
    const clock = new TestClock();
    const storage = new CookieStorage({ secrets: A, now: clock.now });
    const session = sample(clock, { ['__proto__']: 1, constructor: 'c', '': [], big: 12345678901234567, f: 0.1 + 0.2, s: '\u2028<>&' });
    const value = storage.seal(session, 'sessionid');
    expect(value).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(value.length).toBe(storage.sealedLength(session));
    const opened = await storage.open(value, 'sessionid');
    expect(opened && { ...opened, data: [...opened.data] }).toEqual({ ...session, data: [...session.data], staleKey: false });
  });

  it('should refuse every single flipped character, truncation and extension', async () => {
    const clock = new TestClock();
    const storage = new CookieStorage({ secrets: A, now: clock.now });
    const value = storage.seal(sample(clock, { a: 1 }), 'sessionid');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < value.length; i++) {
      const c = value.charAt(i);
      const other = i < 3 ? '!' : alphabet.charAt((alphabet.indexOf(c) + 1) % alphabet.length);
      const flipped = value.slice(0, i) + other + value.slice(i + 1);
      // base64url's last character may carry unused bits: only a change that alters the bytes counts
      if (i >= 3 && Buffer.from(flipped.slice(3), 'base64url').equals(Buffer.from(value.slice(3), 'base64url'))) continue;
      await expect(storage.open(flipped, 'sessionid')).resolves.toBeUndefined();
    }
    for (let n = 0; n < value.length; n += 7) await expect(storage.open(value.slice(0, n), 'sessionid')).resolves.toBeUndefined();
    await expect(storage.open(`${value}AA`, 'sessionid')).resolves.toBeUndefined();
    await expect(storage.open('', 'sessionid')).resolves.toBeUndefined();
    await expect(storage.open('v1.', 'sessionid')).resolves.toBeUndefined();
    await expect(storage.open('v1.%%%', 'sessionid')).resolves.toBeUndefined();
  });

  it('should not open a seal under another cookie name', async () => {
    const clock = new TestClock();
    const storage = new CookieStorage({ secrets: A, now: clock.now });
    const value = storage.seal(sample(clock), 'admin');
    await expect(storage.open(value, 'user')).resolves.toBeUndefined();
    await expect(storage.open(value, 'admin ')).resolves.toBeUndefined();
    await expect(storage.open(value, 'admin')).resolves.toBeDefined();
  });

  it('should open with an older key and say so, and refuse a removed key', async () => {
    const clock = new TestClock();
    const old = new CookieStorage({ secrets: A, now: clock.now });
    const value = old.seal(sample(clock), 'sessionid');
    const rotated = new CookieStorage({ secrets: [B, A], now: clock.now });
    await expect(rotated.open(value, 'sessionid')).resolves.toMatchObject({ staleKey: true });
    await expect(rotated.open(rotated.seal(sample(clock), 'sessionid'), 'sessionid')).resolves.toMatchObject({ staleKey: false });
    await expect(new CookieStorage({ secrets: B, now: clock.now }).open(value, 'sessionid')).resolves.toBeUndefined();
  });

  it('should treat idle and absolute expiry as no session', async () => {
    const clock = new TestClock();
    const storage = new CookieStorage({ secrets: A, now: clock.now });
    const session = sample(clock);
    const idle = storage.seal({ ...session, exp: clock.now() + 1000 }, 'sessionid');
    const absolute = storage.seal({ ...session, abs: clock.now() + 2000 }, 'sessionid');
    clock.advance(1000);
    await expect(storage.open(idle, 'sessionid')).resolves.toBeUndefined();
    await expect(storage.open(absolute, 'sessionid')).resolves.toBeDefined();
    clock.advance(1000);
    await expect(storage.open(absolute, 'sessionid')).resolves.toBeUndefined();
  });

  it('should refuse a revoked session until its expiry, and only with a revocation storage', async () => {
    const clock = new TestClock();
    const revocation = new MemoryStorage({ now: clock.now });
    const storage = new CookieStorage({ secrets: A, now: clock.now, revocation });
    const session = sample(clock);
    const value = storage.seal(session, 'sessionid');
    expect(storage.revocable).toBe(true);
    await storage.revoke(session.sid, session.exp);
    await expect(storage.open(value, 'sessionid')).resolves.toBeUndefined();
    const plain = new CookieStorage({ secrets: A, now: clock.now });
    await plain.revoke(session.sid, session.exp);
    await expect(plain.open(value, 'sessionid')).resolves.toBeDefined();
    expect(plain.revocable).toBe(false);
    await revocation.close();
  });

  it('should reject bad options', () => {
    expect(() => new CookieStorage({ secrets: 'short' })).toThrow(SessionOptionsError);
    expect(() => new CookieStorage({ secrets: [] })).toThrow(SessionOptionsError);
    expect(() => new CookieStorage({ secrets: [A, A] })).toThrow(/same secret twice/);
    expect(() => new CookieStorage({ secrets: A, absoluteTTL: 0 })).toThrow(SessionOptionsError);
    expect(() => new CookieStorage({ secrets: A, revocation: {} as never })).toThrow(/revocation/);
    expect(() => new CookieStorage(undefined as never)).toThrow(/secrets/);
  });
});

import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptSessionError, generateId, SessionOptionsError, StorageError, type StorageError as StorageErrorType } from 'sessionware';
import { FileStorage, type FileStorageOptions } from '../../lib/storage/file/file-storage';
import { FileLocks } from '../../lib/storage/file/file-lock';
import { TestClock } from '../helpers/clock';
import { describeStorage } from 'sessionware/testing';

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const changes = (set: Record<string, unknown>, removed: string[] = []) => ({
  set: new Map(Object.entries(set).map(([k, v]) => [k, JSON.stringify(v)])),
  removed: new Set(removed),
});
const plain = (record: ReadonlyMap<string, string> | undefined) =>
  record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));
const fileOf = (dir: string, id: string) => join(dir, id.charAt(0), id.charAt(1), id);

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionware-file-test-'));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

describeStorage('FileStorage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sessionware-file-contract-'));
  const clock = new TestClock();
  const errors: StorageErrorType[] = [];
  const storage = new FileStorage(dir, { now: clock.now, onError: (err) => errors.push(err) });
  return {
    storage,
    advance: async (ms) => clock.advance(ms),
    flush: () => storage.flush(),
    cleanup: async () => {
      await rm(dir, { recursive: true, force: true });
      expect(errors).toEqual([]); // nothing in the contract may be reported as corrupt or failed
    },
  };
});

/** A storage on a fresh temp dir with a test clock; errors reported through onError are collected. */
async function setup(options: FileStorageOptions = {}) {
  const dir = await tempDir();
  const clock = new TestClock();
  const errors: StorageErrorType[] = [];
  const storage = new FileStorage(dir, { now: clock.now, onError: (err) => errors.push(err), ...options });
  return { dir, clock, errors, storage };
}

describe('FileStorage', () => {
  describe('options', () => {
    it('should reject bad options with a SessionOptionsError', async () => {
      const dir = await tempDir();
      for (const options of [
        { updateTTLInterval: 0 },
        { clearExpiredInterval: -1 },
        { lockStale: 500 },
        { lockRetries: -1 },
        { lockRetries: 1.5 },
        { lockRetryMinWait: 0 },
        { encryptionKeys: [] },
        { encryptionKeys: 'short' },
        { encryptionKeys: Buffer.alloc(16) },
        { encryptionKeys: 'z'.repeat(64) },
        { now: 'soon' },
        { onError: 'log' },
      ] as FileStorageOptions[]) {
        expect(() => new FileStorage(dir, options)).toThrow(SessionOptionsError);
      }
    });

    it('should refuse a path that is a file', async () => {
      const file = join(await tempDir(), 'file');
      await writeFile(file, 'x');
      expect(() => new FileStorage(file)).toThrow(SessionOptionsError);
    });

    it('should default to <tmpdir>/sessionware', async () => {
      const storage = new FileStorage();
      expect(storage.path).toBe(join(tmpdir(), 'sessionware'));
      expect((await stat(storage.path)).isDirectory()).toBe(true);
      await storage.close();
    });

    it('should accept hex, base64 and Buffer keys', async () => {
      const dir = await tempDir();
      const key = randomBytes(32);
      for (const k of [key, key.toString('hex'), key.toString('base64'), key.toString('base64url')]) {
        const storage = new FileStorage(dir, { encryptionKeys: k });
        await storage.close();
      }
    });
  });

  describe('files on disk', () => {
    it('should create missing directories with mode 0700', async () => {
      const dir = join(await tempDir(), 'a', 'b');
      const storage = new FileStorage(dir);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      await storage.close();
    });

    it('should shard files two levels deep with private modes', async () => {
      const { dir, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      expect(await readdir(dir)).toEqual([id.charAt(0)]);
      expect(await readdir(join(dir, id.charAt(0)))).toEqual([id.charAt(1)]);
      expect(await readdir(join(dir, id.charAt(0), id.charAt(1)))).toEqual([id]);
      expect((await stat(join(dir, id.charAt(0)))).mode & 0o777).toBe(0o700);
      expect((await stat(join(dir, id.charAt(0), id.charAt(1)))).mode & 0o777).toBe(0o700);
      expect((await stat(fileOf(dir, id))).mode & 0o777).toBe(0o600);
      await storage.close();
    });

    it('should write a versioned header with the expiry, then the record', async () => {
      const { dir, clock, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      expect(await readFile(fileOf(dir, id), 'utf8')).toBe(`SWF1 ${clock.now() + HOUR} p\n{"a":"1"}`);
      await storage.close();
    });

    it('should persist across instances on the same path', async () => {
      const { dir, clock, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ user: { name: 'alice' } }), HOUR, CREATE);
      await storage.close();
      const again = new FileStorage(dir, { now: clock.now });
      expect(plain(await again.getSession(id, HOUR))).toEqual({ user: { name: 'alice' } });
      await expect(again.setSession(id, changes({ n: 1 }), HOUR, UPDATE)).resolves.toBe(true);
      expect(plain(await again.getSession(id, HOUR))).toEqual({ user: { name: 'alice' }, n: 1 });
      await again.close();
    });

    it('should answer a missing session at once', async () => {
      const { storage } = await setup();
      const started = performance.now();
      for (let i = 0; i < 20; i++) await expect(storage.getSession(generateId(), HOUR)).resolves.toBeUndefined();
      expect(performance.now() - started).toBeLessThan(200);
      await storage.close();
    });

    it('should leave no temp files or lock directories behind', async () => {
      const { dir, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      await Promise.all(Array.from({ length: 10 }, (_, i) => storage.setSession(id, changes({ [`k${i}`]: i }), HOUR, UPDATE)));
      expect(await readdir(join(dir, id.charAt(0), id.charAt(1)))).toEqual([id]);
      await storage.close();
    });
  });

  describe('untrusted ids', () => {
    const crafted = [
      '../sentinel', '../../sentinel', '..%2fsentinel', '%2e%2e%2fsentinel', '/etc/passwd', 'abc/../../sentinel',
      '..\\..\\sentinel', 'abcdefgh\0', 'abc\0defgh', 'CON', 'nul.txt', 'NUL', 'COM1.txt', 'abcdefgh.signature123',
      'a.b', 'x'.repeat(129), '', '.', '..', '........', 'abcdefg', 'abcd efgh', 'ab\ncdefgh',
    ];

    async function snapshot(root: string): Promise<string[]> {
      const entries = await readdir(root, { recursive: true });
      return entries.map(String).sort();
    }

    it.each(crafted)('should never touch the file system for %j', async (id) => {
      const parent = await tempDir();
      const dir = join(parent, 'store');
      await writeFile(join(parent, 'sentinel'), 'keep me');
      const storage = new FileStorage(dir, { onError: (err) => { throw err; } });
      const before = await snapshot(parent);

      await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
      await expect(storage.setSession(id, changes({ a: 1 }), HOUR, CREATE)).rejects.toThrow(StorageError);
      await expect(storage.setSession(id, changes({ a: 1 }), HOUR, UPDATE)).rejects.toThrow(StorageError);
      await expect(storage.updateTTL(id, HOUR)).rejects.toThrow(StorageError);
      await expect(storage.removeAll(id)).rejects.toThrow(StorageError);
      await storage.close();

      expect(await snapshot(parent)).toEqual(before);
      expect(await readdir(dir)).toEqual([]);
      expect(await readFile(join(parent, 'sentinel'), 'utf8')).toBe('keep me');
    });

    it('should not put the id in error messages', async () => {
      const { storage } = await setup();
      const id = '../../sentinel/with/a/long/name';
      const error = await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).not.toContain('sentinel');
      await storage.close();
    });
  });

  describe('damaged files', () => {
    const SECRET = 'top-secret-value-123';

    async function damaged(content: (original: Buffer) => Buffer | string) {
      const ctx = await setup();
      const id = generateId();
      await ctx.storage.setSession(id, changes({ secret: SECRET }), HOUR, CREATE);
      const file = fileOf(ctx.dir, id);
      await writeFile(file, content(await readFile(file)));
      return { ...ctx, id };
    }

    it.each([
      ['truncated in the body', (b: Buffer) => b.subarray(0, b.length - 4)],
      ['truncated in the header', (b: Buffer) => b.subarray(0, 6)],
      ['empty', () => ''],
      ['garbage', () => randomBytes(200)],
      ['an unknown version', (b: Buffer) => Buffer.concat([Buffer.from('SWF9'), b.subarray(4)])],
      ['a body that is not a record', () => 'SWF1 99999999999999 p\n["x"]'],
      ['a body with non-string values', () => `SWF1 99999999999999 p\n{"secret":{"v":"${SECRET}"}}`],
      ['encrypted without keys', () => 'SWF1 99999999999999 g\n0123456789012345678901234567890'],
    ])('should treat a file %s as missing and report a CorruptSessionError', async (_name, content) => {
      const { storage, errors, id } = await damaged(content);
      await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(CorruptSessionError);
      expect(errors[0]?.code).toBe('ERR_SESSION_CORRUPT');
      expect(errors[0]?.message).not.toContain(SECRET);
      expect(errors[0]?.message).not.toContain(id);
      // A damaged session is a missing one: an update does not revive it, a create replaces it.
      await expect(storage.setSession(id, changes({ a: 1 }), HOUR, UPDATE)).resolves.toBe(false);
      await expect(storage.setSession(id, changes({ a: 1 }), HOUR, CREATE)).resolves.toBe(true);
      expect(plain(await storage.getSession(id, HOUR))).toEqual({ a: 1 });
      await storage.close();
    });

    it('should report through console.error by default, without data', async () => {
      const dir = await tempDir();
      const id = generateId();
      const storage = new FileStorage(dir);
      await storage.setSession(id, changes({ secret: SECRET }), HOUR, CREATE);
      const file = fileOf(dir, id);
      await writeFile(file, (await readFile(file)).subarray(0, 30));
      const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
      try {
        await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
        expect(spy).toHaveBeenCalledTimes(1);
        const line = String(spy.mock.calls[0]?.[0]);
        expect(line).toContain('CorruptSessionError');
        expect(line).toContain('ERR_SESSION_CORRUPT');
        expect(line).not.toContain(SECRET);
        expect(line).not.toContain(id);
      } finally {
        spy.mockRestore();
        await storage.close();
      }
    });

    it('should survive an onError that throws', async () => {
      const dir = await tempDir();
      const id = generateId();
      const storage = new FileStorage(dir, { onError: () => { throw new Error('boom'); } });
      await mkdir(join(dir, id.charAt(0), id.charAt(1)), { recursive: true });
      await writeFile(fileOf(dir, id), 'junk');
      const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      try {
        await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
        expect(spy).toHaveBeenCalledWith('[sessionware] FileStorage options.onError threw:', expect.any(Error));
      } finally {
        spy.mockRestore();
        await storage.close();
      }
    });
  });

  describe('encryption', () => {
    const SECRET = 'plaintext-canary-value';
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);

    it('should round-trip and never write the plaintext', async () => {
      const { dir, clock, storage, errors } = await setup({ encryptionKeys: k1.toString('hex') });
      const id = generateId();
      await storage.setSession(id, changes({ secret: SECRET, n: 1 }), HOUR, CREATE);
      const raw = await readFile(fileOf(dir, id));
      expect(raw.toString('latin1')).toMatch(new RegExp(`^SWF1 ${clock.now() + HOUR} g\n`));
      expect(raw.toString('latin1')).not.toContain(SECRET);
      expect(raw.toString('latin1')).not.toContain('secret');
      expect(plain(await storage.getSession(id, HOUR))).toEqual({ secret: SECRET, n: 1 });
      await storage.setSession(id, changes({ n: 2 }), HOUR, UPDATE);
      expect(plain(await storage.getSession(id, HOUR))).toEqual({ secret: SECRET, n: 2 });
      expect(errors).toEqual([]);
      await storage.close();
    });

    it('should rotate keys: old keys decrypt, the first key encrypts', async () => {
      const { dir, clock, storage: old } = await setup({ encryptionKeys: k1 });
      const id = generateId();
      await old.setSession(id, changes({ a: 1 }), HOUR, CREATE);

      const errors: StorageErrorType[] = [];
      const rotated = new FileStorage(dir, { now: clock.now, encryptionKeys: [k2, k1.toString('base64')], onError: (e) => errors.push(e) });
      expect(plain(await rotated.getSession(id, HOUR))).toEqual({ a: 1 });
      await rotated.setSession(id, changes({ b: 2 }), HOUR, UPDATE);

      const newOnly = new FileStorage(dir, { now: clock.now, encryptionKeys: k2, onError: (e) => errors.push(e) });
      expect(plain(await newOnly.getSession(id, HOUR))).toEqual({ a: 1, b: 2 });
      expect(errors).toEqual([]);

      const oldOnly = new FileStorage(dir, { now: clock.now, encryptionKeys: k1, onError: (e) => errors.push(e) });
      await expect(oldOnly.getSession(id, HOUR)).resolves.toBeUndefined();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(CorruptSessionError);
      await Promise.all([old.close(), rotated.close(), newOnly.close(), oldOnly.close()]);
    });

    it('should reject tampered ciphertext, a file moved to another id, and unencrypted files', async () => {
      const { dir, storage, errors } = await setup({ encryptionKeys: k1 });
      const [a, b, c] = [generateId(), generateId(), generateId()];
      await storage.setSession(a, changes({ x: 1 }), HOUR, CREATE);
      await storage.setSession(b, changes({ x: 2 }), HOUR, CREATE);
      const raw = await readFile(fileOf(dir, a));
      const flipped = Buffer.from(raw);
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
      await writeFile(fileOf(dir, a), flipped);
      await writeFile(fileOf(dir, b), raw); // a's file under b's name
      await mkdir(join(dir, c.charAt(0), c.charAt(1)), { recursive: true });
      await writeFile(fileOf(dir, c), 'SWF1 99999999999999 p\n{"x":"3"}');
      for (const id of [a, b, c]) await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
      expect(errors.map((e) => e.constructor)).toEqual([CorruptSessionError, CorruptSessionError, CorruptSessionError]);
      await storage.close();
    });

    it('should keep a file encrypted through a TTL refresh', async () => {
      const { dir, clock, storage } = await setup({ encryptionKeys: k1 });
      const id = generateId();
      await storage.setSession(id, changes({ secret: SECRET }), 5000, CREATE);
      clock.advance(3000);
      await storage.updateTTL(id, 5000);
      const raw = await readFile(fileOf(dir, id), 'latin1');
      expect(raw.startsWith(`SWF1 ${clock.now() + 5000} g\n`)).toBe(true);
      expect(raw).not.toContain(SECRET);
      clock.advance(3000);
      expect(plain(await storage.getSession(id, 5000))).toEqual({ secret: SECRET });
      await storage.close();
    });
  });

  describe('TTL', () => {
    const header = async (dir: string, id: string) => (await readFile(fileOf(dir, id), 'latin1')).split('\n')[0];

    it('should hide an expired session on read before any sweep', async () => {
      const { dir, clock, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), 1000, CREATE);
      clock.advance(1000);
      await expect(storage.getSession(id, 1000)).resolves.toBeUndefined();
      await expect(stat(fileOf(dir, id))).resolves.toBeDefined(); // still on disk, just dead
      await expect(storage.setSession(id, changes({ b: 1 }), 1000, UPDATE)).resolves.toBe(false);
      await expect(storage.removeAll(id)).resolves.toBe(false);
      await storage.close();
    });

    it('should queue long-TTL refreshes until flush()', async () => {
      const { dir, clock, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      const before = await header(dir, id);
      clock.advance(1000);
      await storage.updateTTL(id, HOUR);
      expect(await header(dir, id)).toBe(before);
      await storage.flush();
      expect(await header(dir, id)).toBe(`SWF1 ${clock.now() + HOUR} p`);
      await storage.close();
    });

    it('should apply short-TTL refreshes at once (TTL under two intervals)', async () => {
      const { dir, clock, storage } = await setup({ updateTTLInterval: 10_000 });
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), 19_000, CREATE);
      clock.advance(5000);
      await storage.updateTTL(id, 19_000);
      expect(await header(dir, id)).toBe(`SWF1 ${clock.now() + 19_000} p`);
      await storage.close();
    });

    it('should flush pending refreshes on close', async () => {
      const { dir, clock, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      clock.advance(1000);
      await storage.updateTTL(id, HOUR);
      await storage.close();
      expect(await header(dir, id)).toBe(`SWF1 ${clock.now() + HOUR} p`);
    });

    it('should never create a file, even a directory, for a missing session', async () => {
      const { dir, storage } = await setup();
      await storage.updateTTL(generateId(), 1000);
      await storage.updateTTL(generateId(), HOUR);
      await storage.flush();
      expect(await readdir(dir)).toEqual([]);
      await storage.close();
    });

    it('should not resurrect a session removed while its refresh was queued', async () => {
      const { dir, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      await storage.updateTTL(id, HOUR);
      await storage.removeAll(id);
      await storage.flush();
      await expect(stat(fileOf(dir, id))).rejects.toMatchObject({ code: 'ENOENT' });
      await storage.close();
    });

    it('should never shorten an expiry', async () => {
      const { dir, clock, storage } = await setup();
      const id = generateId();
      await storage.setSession(id, changes({ a: 1 }), HOUR, CREATE);
      const before = await header(dir, id);
      await storage.updateTTL(id, 1000);
      expect(await header(dir, id)).toBe(before);
      clock.advance(2000);
      await expect(storage.getSession(id, HOUR)).resolves.toBeDefined();
      await storage.close();
    });
  });

  describe('sweep', () => {
    it('should delete expired and unreadable files, and keep live ones, locks and fresh temp files', async () => {
      const { dir, clock, storage } = await setup();
      const [live, dead, broken, locked] = [generateId(), generateId(), generateId(), generateId()];
      await storage.setSession(live, changes({ a: 1 }), 10_000, CREATE);
      await storage.setSession(dead, changes({ a: 1 }), 1000, CREATE);
      await storage.setSession(broken, changes({ a: 1 }), 1000, CREATE);
      await storage.setSession(locked, changes({ a: 1 }), 1000, CREATE);
      await writeFile(fileOf(dir, broken), 'SWF1 12');
      const shard = join(dir, live.charAt(0), live.charAt(1));
      const freshTemp = join(shard, `.${live}.1.abcdef01.tmp`);
      const oldTemp = join(shard, `.${live}.2.abcdef01.tmp`);
      await writeFile(freshTemp, 'partial');
      await writeFile(oldTemp, 'partial');
      const twoHoursAgo = new Date(Date.now() - 2 * HOUR);
      await utimes(oldTemp, twoHoursAgo, twoHoursAgo);
      const release = await new FileLocks({ stale: 10_000, retries: 0, minWait: 5, maxWait: 5 }, () => {}).acquire(fileOf(dir, locked)); // a writer holds it

      clock.advance(2000);
      await expect(storage.sweep()).resolves.toBe(2);
      await expect(stat(fileOf(dir, dead))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(fileOf(dir, broken))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(fileOf(dir, live))).resolves.toBeDefined();
      await expect(stat(fileOf(dir, locked))).resolves.toBeDefined();
      await expect(stat(`${fileOf(dir, locked)}.lock`)).resolves.toBeDefined();
      await expect(stat(freshTemp)).resolves.toBeDefined();
      await expect(stat(oldTemp)).rejects.toMatchObject({ code: 'ENOENT' });

      await release();
      await expect(storage.sweep()).resolves.toBe(1);
      await expect(stat(fileOf(dir, locked))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(plain(await storage.getSession(live, 10_000))).toEqual({ a: 1 });
      await storage.close();
    });

    it('should share one pass between concurrent calls and ignore foreign entries', async () => {
      const { dir, clock, storage } = await setup();
      await writeFile(join(dir, 'README'), 'not a shard');
      await mkdir(join(dir, 'x', 'y', 'nested'), { recursive: true });
      for (let i = 0; i < 5; i++) await storage.setSession(generateId(), changes({ i }), 1000, CREATE);
      clock.advance(1000);
      const [a, b] = [storage.sweep(), storage.sweep()];
      expect(a).toBe(b);
      await expect(a).resolves.toBe(5);
      await expect(stat(join(dir, 'README'))).resolves.toBeDefined();
      await storage.close();
    });
  });
});

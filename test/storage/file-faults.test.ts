/**
 * FileStorage under file-system faults: every error other than a lock held by a live process
 * reaches the caller after one attempt, as a StorageError naming the operation and the errno.
 *
 * "One attempt" is checked without timing: these storages wait 10 minutes before any retry
 * (`lockRetryMinWait`), so a retried error would time the test out instead of rejecting.
 * The read-only and full-disk cases mount a small tmpfs, which needs root: they skip with a
 * message otherwise, and never skip with `CI=true`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { generateId, LockTimeoutError, session, StorageError } from 'sessionware';
import { FileStorage, type FileStorageOptions } from '../../lib/storage/file/file-storage';
import { processScope } from '../../lib/storage/file/file-lock';
import { TestClock } from '../helpers/clock';

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const MOVE = { keep: undefined, forwardTTL: 1000 } as const;
const one = (key: string, value: unknown) => ({ set: new Map([[key, JSON.stringify(value)]]), removed: new Set<string>() });
const fileOf = (dir: string, id: string) => join(dir, id.charAt(0), id.charAt(1), id);
/** Any retry would wait 10 minutes: an error that is retried times the test out. */
const NO_RETRY_WAIT: FileStorageOptions = { lockRetryMinWait: 600_000, lockRetryMaxWait: 600_000, lockRetries: 3 };

const canMount = process.getuid?.() === 0;
const mustRun = process.env['CI'] === 'true';
if (!canMount && !mustRun) console.warn('file-faults: skipping the read-only and full-disk tests: mounting a tmpfs needs root');
const describeMounted = canMount || mustRun ? describe : describe.skip;

const temps: string[] = [];
const mounts: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionware-file-faults-'));
  temps.push(dir);
  return dir;
}
async function mountTmpfs(options: string): Promise<string> {
  const dir = await tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `${options},mode=0700`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of mounts) execFileSync('umount', ['-l', dir]);
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Calls `operation` and returns what it rejected with. */
async function failure(operation: () => Promise<unknown>): Promise<StorageError> {
  const error = await operation().then(() => undefined, (err: unknown) => err);
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describeMounted('FileStorage on a read-only file system', () => {
  it('should fail every write at once with EROFS, naming the operation, and keep serving reads', async () => {
    const dir = await mountTmpfs('size=1m');
    const clock = new TestClock();
    const storage = new FileStorage(dir, { ...NO_RETRY_WAIT, now: clock.now, updateTTLInterval: HOUR, onError: () => {} });
    const [id, other] = [generateId(), generateId()];
    await storage.setSession(id, one('user', 'alice'), HOUR, CREATE);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    clock.advance(1000);

    const cases: Array<[string, () => Promise<unknown>]> = [
      ['setSession', () => storage.setSession(id, one('a', 1), HOUR, UPDATE)],
      ['setSession', () => storage.setSession(other, one('a', 1), HOUR, CREATE)],
      ['compareAndSet', () => storage.compareAndSet(id, 'n', undefined, '1', HOUR, UPDATE)],
      ['moveSession', () => storage.moveSession(id, generateId(), one('a', 1), HOUR, MOVE)],
      ['removeAll', () => storage.removeAll(id)],
      ['updateTTL', () => storage.updateTTL(id, HOUR)], // TTL under 2 × updateTTLInterval: refreshed at once
    ];
    for (const [operation, call] of cases) {
      const error = await failure(call);
      expect({ code: error.code, operation: error.operation }).toEqual({ code: 'ERR_SESSION_STORAGE', operation });
      expect(error.message).toMatch(new RegExp(`^FileStorage\\.${operation}: EROFS during `));
      expect(error.message).not.toContain(id);
    }
    expect(Object.fromEntries((await storage.getSession(id, HOUR)) ?? [])).toEqual({ user: '"alice"' });
    await storage.close();
  });
});

describeMounted('FileStorage on a read-only file system, over HTTP', () => {
  it('should answer 500 through next(err) at once, with the StorageError naming the operation and EROFS', async () => {
    const dir = await mountTmpfs('size=1m');
    const storage = new FileStorage(dir, { ...NO_RETRY_WAIT, onError: () => {} });
    const seen: unknown[] = [];
    const app = express();
    app.use(session(storage));
    app.get('/set', async (req, res, next) => {
      try {
        await req.session.set('views', 1);
        res.send('ok');
      } catch (err) {
        next(err);
      }
    });
    app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(err);
      res.status(500).send((err as StorageError).code);
    });
    const agent = request.agent(app);
    await agent.get('/set').expect(200);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const response = await agent.get('/set');
    expect(response.status).toBe(500);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(StorageError);
    expect((seen[0] as StorageError).message).toMatch(/^FileStorage\.setSession: EROFS during /);
    await storage.close();
  });
});

describeMounted('FileStorage on a full file system', () => {
  it('should fail a write that does not fit at once with ENOSPC, leaving the old file and no temp file', async () => {
    const dir = await mountTmpfs('size=1m');
    const storage = new FileStorage(dir, { ...NO_RETRY_WAIT, onError: () => {} });
    const id = generateId();
    await storage.setSession(id, one('small', 1), HOUR, CREATE);
    const error = await failure(() => storage.setSession(id, one('big', 'x'.repeat(2_000_000)), HOUR, UPDATE));
    expect(error.message).toMatch(/^FileStorage\.setSession: ENOSPC during write/);
    expect(await readdir(join(dir, id.charAt(0), id.charAt(1)))).toEqual([id]); // no temp file, no lock
    expect(Object.fromEntries((await storage.getSession(id, HOUR)) ?? [])).toEqual({ small: '1' });
    await expect(storage.setSession(id, one('after', true), HOUR, UPDATE)).resolves.toBe(true); // the lock was released
    await storage.close();
  });

  it('should fail at once when no inode is left for the lock', async () => {
    const dir = await mountTmpfs('size=1m,nr_inodes=6');
    const storage = new FileStorage(dir, { ...NO_RETRY_WAIT, onError: () => {} });
    const id = generateId();
    await storage.setSession(id, one('a', 1), HOUR, CREATE); // root, 2 shards, file: 4 inodes
    await writeFile(join(dir, 'filler'), 'x'); // the 5th and last free one (the 6th is the lock's own)
    const error = await failure(() => storage.setSession(id, one('b', 2), HOUR, UPDATE));
    expect(error.message).toMatch(/^FileStorage\.setSession: ENOSPC during mkdir/);
    await storage.close();
  });
});

describe('FileStorage lock path taken by something else', () => {
  async function setup() {
    const dir = await tempDir();
    const storage = new FileStorage(dir, { ...NO_RETRY_WAIT, onError: () => {} });
    const id = generateId();
    await storage.setSession(id, one('a', 1), HOUR, CREATE);
    return { dir, storage, id, lock: `${fileOf(dir, id)}.lock` };
  }

  it.each([
    ['a symlink to a file', async (lock: string, dir: string) => { await writeFile(join(dir, 'target'), 'x'); await symlink(join(dir, 'target'), lock); }, /symbolic link, not a lock directory/],
    ['a symlink to a directory', async (lock: string, dir: string) => { await mkdir(join(dir, 'elsewhere')); await symlink(join(dir, 'elsewhere'), lock); }, /symbolic link, not a lock directory/],
    ['a regular file', async (lock: string) => writeFile(lock, 'x'), /is a file, not a lock directory/],
    ['a directory with foreign entries', async (lock: string) => mkdir(join(lock, 'not-an-owner'), { recursive: true }), /not lock owners/],
  ])('should fail at once when the lock is %s', async (_name, plant, message) => {
    const { dir, storage, id, lock } = await setup();
    await plant(lock, dir);
    const error = await failure(() => storage.setSession(id, one('b', 2), HOUR, UPDATE));
    expect(error.code).toBe('ERR_SESSION_STORAGE');
    expect(error.message).toMatch(/^FileStorage\.setSession: session .{6}…: /);
    expect(error.message).toMatch(message);
    await expect(storage.removeAll(id)).rejects.toThrow(message);
    if (await stat(join(dir, 'elsewhere')).catch(() => undefined)) expect(await readdir(join(dir, 'elsewhere'))).toEqual([]); // nothing created through the link
    await storage.close();
  });
});

describe('FileStorage lock owners', () => {
  const token = '0123456789abcdef';
  async function setup(options: FileStorageOptions) {
    const dir = await tempDir();
    const storage = new FileStorage(dir, { lockStale: 60_000, onError: () => {}, ...options });
    const id = generateId();
    await storage.setSession(id, one('a', 1), HOUR, CREATE);
    const lock = `${fileOf(dir, id)}.lock`;
    return { storage, id, lock };
  }
  const ago = (ms: number) => new Date(Date.now() - ms);

  it('should break the lock of a dead process at once, without waiting for lockStale', async () => {
    const { storage, id, lock } = await setup({ lockRetries: 0 }); // not a single wait
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
    await mkdir(join(lock, `${dead}-${processScope()}-0-${token}`), { recursive: true });
    await expect(storage.setSession(id, one('b', 2), HOUR, UPDATE)).resolves.toBe(true);
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
    await storage.close();
  });

  it.each([
    ['a process whose pid was reused (same pid, another start time)', () => `1-${processScope()}-99999999999-${token}`],
    ['an earlier process with our pid', () => `${process.pid}-${processScope()}-1-${token}`],
  ])('should break the lock of %s at once', async (_name, owner) => {
    const { storage, id, lock } = await setup({ lockRetries: 0 });
    await mkdir(join(lock, owner()), { recursive: true });
    await expect(storage.setSession(id, one('b', 2), HOUR, UPDATE)).resolves.toBe(true);
    await storage.close();
  });

  it.each([
    ['a live process of this machine', () => `1-${processScope()}-0-${token}`],
    ['a process of another machine', () => `4242-ffffffff-0-${token}`],
    ['an owner not yet written (empty lock)', () => undefined],
  ])('should wait for %s while it is fresh, and break it once stale', async (_name, owner) => {
    const { storage, id, lock } = await setup({ lockRetries: 2, lockRetryMinWait: 5, lockRetryMaxWait: 5 });
    const name = owner();
    const entry = name === undefined ? lock : join(lock, name);
    await mkdir(entry, { recursive: true });
    await expect(storage.setSession(id, one('b', 2), HOUR, UPDATE)).rejects.toBeInstanceOf(LockTimeoutError);
    await utimes(entry, ago(61_000), ago(61_000));
    await expect(storage.setSession(id, one('b', 2), HOUR, UPDATE)).resolves.toBe(true);
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
    await storage.close();
  });

  it('should never take a lock this process holds, even from another storage instance', async () => {
    const { storage, id } = await setup({ lockRetries: 100, lockRetryMinWait: 5, lockRetryMaxWait: 20 });
    const dir = storage.path;
    const other = new FileStorage(dir, { lockStale: 60_000, lockRetries: 100, lockRetryMinWait: 5, lockRetryMaxWait: 20 });
    // Many overlapping writes from two instances in one process: no write may be lost.
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? storage : other).setSession(id, one(`k${i}`, i), HOUR, UPDATE)));
    expect((await storage.getSession(id, HOUR))?.size).toBe(41);
    await Promise.all([storage.close(), other.close()]);
  });
});

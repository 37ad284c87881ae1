/**
 * FileStorage group commit: writes to one session that queue behind the one in progress share one
 * lock, read, fsync and rename; a logout (or any other operation) closes the open batch.
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateId } from 'sessionware';
import { FileStorage } from '../../lib/storage/file/file-storage';

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const one = (key: string, value: unknown, removed: string[] = []) => ({ set: new Map([[key, JSON.stringify(value)]]), removed: new Set(removed) });

let dir: string;
let storage: FileStorage;
/** The fsync of each atomic write (`fs.fsync`), which the tests count or fail. */
const fsyncSpy = () => jest.spyOn(fs, 'fsync');
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sessionware-file-batch-'));
  storage = new FileStorage(dir, {});
});
afterEach(async () => {
  jest.restoreAllMocks();
  await storage.close();
  await rm(dir, { recursive: true, force: true });
});

describe('FileStorage group commit', () => {
  it('should commit the writes queued behind the one in progress together, each key kept, in order', async () => {
    const id = generateId();
    await storage.setSession(id, one('n', 0), HOUR, CREATE);
    const fsyncs = fsyncSpy();
    const writes = Array.from({ length: 20 }, (_, i) => storage.setSession(id, one(`k${i}`, i), HOUR, UPDATE));
    writes.push(storage.setSession(id, one('n', 1), HOUR, UPDATE), storage.setSession(id, one('n', 2), HOUR, UPDATE));
    expect(await Promise.all(writes)).toEqual(writes.map(() => true));
    const record = await storage.getSession(id);
    for (let i = 0; i < 20; i++) expect(record?.get(`k${i}`)).toBe(String(i));
    expect(record?.get('n')).toBe('2'); // the later write wins, as if each ran alone
    // the batch stays open until it holds the lock and reads: all 22 joined it
    expect(fsyncs.mock.calls.length).toBe(1);
    // a write queued behind one in progress joins the next batch
    const inProgress = storage.setSession(id, one('x', 1), HOUR, UPDATE);
    await new Promise((resolve) => setTimeout(resolve, 1));
    const queued = [storage.setSession(id, one('y', 1), HOUR, UPDATE), storage.setSession(id, one('z', 1), HOUR, UPDATE)];
    expect(await Promise.all([inProgress, ...queued])).toEqual([true, true, true]);
    expect(fsyncs.mock.calls.length).toBeLessThanOrEqual(3);
    expect([...((await storage.getSession(id)) ?? new Map()).keys()]).toEqual(expect.arrayContaining(['x', 'y', 'z']));
  });

  it('should answer false to the writes of a batch whose session is gone, and create when one may', async () => {
    const id = generateId();
    const results = await Promise.all([
      storage.setSession(id, one('a', 1), HOUR, UPDATE),
      storage.setSession(id, one('b', 2), HOUR, CREATE),
      storage.setSession(id, one('c', 3), HOUR, UPDATE),
    ]);
    const record = await storage.getSession(id);
    // the first ran alone and found nothing; the other two shared a batch: b created it, c landed on it
    expect(results).toEqual([false, true, true]);
    expect(record && Object.fromEntries(record)).toEqual({ b: '2', c: '3' });
  });

  it('should never merge a write that arrives after a logout into a batch that runs before it', async () => {
    const id = generateId();
    await storage.setSession(id, one('user', 'alice'), HOUR, CREATE);
    const first = storage.setSession(id, one('a', 1), HOUR, UPDATE); // in progress
    const before = storage.setSession(id, one('b', 2), HOUR, UPDATE); // queued: opens a batch
    const logout = storage.removeAll(id); // closes that batch
    const after = storage.setSession(id, one('c', 3), HOUR, UPDATE); // must run after the logout
    expect(await Promise.all([first, before, logout, after])).toEqual([true, true, true, false]);
    expect(await storage.getSession(id)).toBeUndefined();
  });

  it('should fail every write of a batch whose commit failed, and keep working afterwards', async () => {
    const id = generateId();
    await storage.setSession(id, one('n', 0), HOUR, CREATE);
    const spy = fsyncSpy();
    spy.mockImplementationOnce((_fd, callback) => callback(Object.assign(new Error('disk full'), { code: 'ENOSPC', syscall: 'fsync' })));
    const batch = ['a', 'b', 'c'].map((key) => storage.setSession(id, one(key, 1), HOUR, UPDATE));
    for (const write of batch) await expect(write).rejects.toMatchObject({ code: 'ERR_SESSION_STORAGE', message: expect.stringContaining('ENOSPC') });
    expect(spy.mock.calls.length).toBe(1);
    expect((await storage.getSession(id))?.has('a')).toBe(false);
    spy.mockRestore();
    expect(await storage.setSession(id, one('d', 4), HOUR, UPDATE)).toBe(true);
    expect((await storage.getSession(id))?.get('d')).toBe('4');
  });
});

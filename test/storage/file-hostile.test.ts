/**
 * FileStorage against hostile or careless directory contents: links below the root, foreign files
 * named like ids, unsafe modes, files whose header was changed. Each attack of issue 10 has a test.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptSessionError, generateId, SessionOptionsError, StorageError } from 'sessionware';
import { FileStorage, type FileStorageOptions } from '../../lib/storage/file/file-storage';
import { prepareDirectory } from '../../lib/storage/file/file-io';
import { processScope } from '../../lib/storage/file/file-lock';
import { TestClock } from '../helpers/clock';

const HOUR = 3_600_000;
const CREATE = { create: true } as const;
const UPDATE = { create: false } as const;
const one = (key: string, value: unknown) => ({ set: new Map([[key, JSON.stringify(value)]]), removed: new Set<string>() });
const fileOf = (dir: string, id: string) => join(dir, id.charAt(0), id.charAt(1), id);
/** A valid id that starts with `prefix`. */
const idWith = (prefix: string) => prefix + generateId().slice(prefix.length);
const FORGED = 'SWF1 99999999999999 p\n{"role":"\\"admin\\""}';

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionware-file-hostile-'));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A storage root and, beside it, a directory outside the root that must never be touched. */
async function setup(options: FileStorageOptions = {}) {
  const parent = await tempDir();
  const dir = join(parent, 'store');
  const outside = join(parent, 'outside');
  await mkdir(outside);
  const clock = new TestClock();
  const errors: StorageError[] = [];
  const storage = new FileStorage(dir, { now: clock.now, onError: (err) => errors.push(err), ...options });
  return { dir, outside, clock, errors, storage };
}

describe('FileStorage never follows a link below its root', () => {
  it.each([
    ['the first shard level', (dir: string, id: string) => join(dir, id.charAt(0))],
    ['the second shard level', (dir: string, id: string) => join(dir, id.charAt(0), id.charAt(1))],
  ])('should refuse to write through a symlinked %s, and write nothing outside', async (_name, linkOf) => {
    const { dir, outside, errors, storage } = await setup();
    const id = idWith('zq');
    const link = linkOf(dir, id);
    await mkdir(join(link, '..'), { recursive: true });
    await symlink(outside, link);

    const error = await storage.setSession(id, one('a', 1), HOUR, CREATE).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/^FileStorage\.setSession: .*symbolic link; it is never followed/);
    expect((error as Error).message).not.toContain(id);
    await expect(storage.removeAll(id)).rejects.toThrow(/symbolic link/);
    expect(await readdir(outside, { recursive: true })).toEqual([]);
    // Reads do not look through it either: the link is reported, the session is missing.
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    expect(errors.map((e) => e.constructor)).toEqual([CorruptSessionError]);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    await storage.close();
  });

  it('should not read a session planted outside through a symlinked shard', async () => {
    const { dir, outside, storage } = await setup();
    const id = idWith('yq');
    await mkdir(join(outside, 'q'));
    await writeFile(join(outside, 'q', id), FORGED);
    await mkdir(dir, { recursive: true });
    await symlink(outside, join(dir, 'y'));
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    await expect(storage.count()).resolves.toBe(0);
    await storage.close();
  });

  it('should not read a symlinked session file as a session (a forged admin session)', async () => {
    const { dir, outside, errors, storage } = await setup();
    const id = generateId();
    const forged = join(outside, 'forged');
    await writeFile(forged, FORGED);
    await mkdir(join(dir, id.charAt(0), id.charAt(1)), { recursive: true });
    await symlink(forged, fileOf(dir, id));

    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CorruptSessionError);
    expect(errors[0]?.message).toContain('symbolic link');
    await expect(storage.setSession(id, one('a', 1), HOUR, UPDATE)).resolves.toBe(false);
    await expect(storage.compareAndSet(id, 'role', '"admin"', '"root"', HOUR, UPDATE)).resolves.toBe('gone');
    await expect(storage.moveSession(id, generateId(), one('b', 2), HOUR, { keep: undefined, forwardTTL: 1000 })).resolves.toBeUndefined();
    await expect(storage.removeAll(id)).resolves.toBe(false);
    await expect(storage.count()).resolves.toBe(0);
    expect(await readFile(forged, 'utf8')).toBe(FORGED);
    expect((await lstat(fileOf(dir, id))).isSymbolicLink()).toBe(true);
    await storage.close();
  });

  it('should not hang on a FIFO named like a session', async () => {
    const { dir, storage, errors } = await setup();
    const id = generateId();
    await mkdir(join(dir, id.charAt(0), id.charAt(1)), { recursive: true });
    execFileSync('mkfifo', [fileOf(dir, id)]);
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    expect(errors.map((e) => e.constructor)).toEqual([CorruptSessionError]);
    await storage.close();
  });
});

describe('FileStorage sweep deletes only its own files', () => {
  it('should not delete foreign files named like ids, nor anything through a link', async () => {
    const { dir, outside, clock, storage } = await setup();
    // A symlinked shard leading to a directory with precious files named like ids.
    const precious = { authorized_keys: 'ssh-ed25519 AAAA', Makefile: 'all:\n', id_ed25519: '-----BEGIN OPENSSH PRIVATE KEY-----' };
    for (const [name, content] of Object.entries(precious)) await writeFile(join(outside, name), content);
    await mkdir(join(dir, 'k'), { recursive: true });
    await symlink(outside, join(dir, 'k', 'e'));
    // In a real shard: a foreign file without our header, and a link to an expired session file.
    const shard = join(dir, 'M', 'a');
    await mkdir(shard, { recursive: true });
    await writeFile(join(shard, 'Makefile'), 'all:\n');
    const expiredOutside = join(outside, 'expired-session');
    await writeFile(expiredOutside, 'SWF1 1 p\n{}');
    const linked = idWith('Ma');
    await symlink(expiredOutside, join(shard, linked));
    // And real expired sessions, which must go.
    const dead = [generateId(), generateId()];
    for (const id of dead) await storage.setSession(id, one('a', 1), 1000, CREATE);
    clock.advance(2000);

    await expect(storage.sweep()).resolves.toBe(2);
    for (const [name, content] of Object.entries(precious)) expect(await readFile(join(outside, name), 'utf8')).toBe(content);
    expect(await readFile(join(shard, 'Makefile'), 'utf8')).toBe('all:\n');
    expect(await readFile(expiredOutside, 'utf8')).toBe('SWF1 1 p\n{}');
    expect((await lstat(join(shard, linked))).isSymbolicLink()).toBe(true);
    for (const id of dead) await expect(stat(fileOf(dir, id))).rejects.toMatchObject({ code: 'ENOENT' });
    await storage.close();
  });

  it('should delete expired forwards, and temp files and locks of dead processes at once', async () => {
    const { dir, clock, storage } = await setup();
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, one('a', 1), HOUR, CREATE);
    await storage.moveSession(oldId, newId, one('b', 2), HOUR, { keep: undefined, forwardTTL: 1000 });
    const deadPid = exitedPid();
    const shard = join(dir, newId.charAt(0), newId.charAt(1));
    const deadTemp = join(shard, `.${newId}.${deadPid}-${processScope()}.0123abcd.tmp`);
    const liveTemp = join(shard, `.${newId}.${process.pid}-${processScope()}.0123abcd.tmp`);
    const foreignTemp = join(shard, `.${newId}.${deadPid}-${processScope()}.notours.tmp`);
    const earlierOwnPid = join(shard, `.${newId}.${process.pid}-${processScope()}-1.0123abcd.tmp`); // our pid, another start time
    for (const file of [deadTemp, liveTemp, foreignTemp, earlierOwnPid]) await writeFile(file, 'partial');
    const deadLock = `${fileOf(dir, newId)}.lock`;
    await mkdir(join(deadLock, `${deadPid}-${processScope()}-0-0123456789abcdef`), { recursive: true });
    clock.advance(2000);

    await expect(storage.sweep()).resolves.toBe(1); // the forward
    await expect(stat(fileOf(dir, oldId))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(deadTemp)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(earlierOwnPid)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(deadLock)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(liveTemp)).resolves.toBeDefined(); // a writer of this process may still be on it
    await expect(stat(foreignTemp)).resolves.toBeDefined(); // not our naming
    expect(Object.fromEntries(await storage.getSession(newId, HOUR) ?? [])).toEqual({ a: '1', b: '2' });
    await storage.close();
  });
});

describe('FileStorage root directory', () => {
  it('should accept a root reached through a symlink, resolved once', async () => {
    const parent = await tempDir();
    const real = join(parent, 'releases', 'shared-sessions');
    await mkdir(real, { recursive: true, mode: 0o700 });
    const link = join(parent, 'current-sessions');
    await symlink(real, link);
    const storage = new FileStorage(link);
    expect(storage.path).toBe(await realpath(real));
    const id = generateId();
    await storage.setSession(id, one('a', 1), HOUR, CREATE);
    await expect(stat(fileOf(real, id))).resolves.toBeDefined();
    await storage.close();
  });

  it('should refuse a link as the shared default directory in the OS temp dir', async () => {
    const parent = await tempDir();
    await mkdir(join(parent, 'elsewhere'), { mode: 0o700 });
    await symlink(join(parent, 'elsewhere'), join(parent, 'sessionware'));
    expect(() => prepareDirectory(join(parent, 'sessionware'), true)).toThrow(/is a symbolic link \(refused for the shared default directory\)/);
  });

  it.each(['0777', '0770', '0722', '1777', '0707'])('should refuse a root with mode %s, saying how to fix it', async (octal) => {
    const mode = parseInt(octal, 8);
    const dir = join(await tempDir(), 'store');
    await mkdir(dir);
    await chmod(dir, mode);
    expect(() => new FileStorage(dir)).toThrow(SessionOptionsError);
    expect(() => new FileStorage(dir)).toThrow(new RegExp(`writable by its group or by others \\(mode ${mode.toString(8).padStart(4, '0')}\\).*chmod 700`));
    expect((await stat(dir)).mode & 0o7777).toBe(mode); // refused, not silently changed
  });

  it.each(['0700', '0750', '0755'])('should accept a root with mode %s', async (octal) => {
    const dir = join(await tempDir(), 'store');
    await mkdir(dir);
    await chmod(dir, parseInt(octal, 8));
    await new FileStorage(dir).close();
  });
});

describe('FileStorage encryption authenticates the header', () => {
  const key = randomBytes(32);

  it('should reject a file whose expiry was pushed into the future', async () => {
    const { dir, clock, errors, storage } = await setup({ encryptionKeys: key });
    const id = generateId();
    await storage.setSession(id, one('user', 'alice'), 1000, CREATE);
    const raw = await readFile(fileOf(dir, id), 'latin1');
    const forged = raw.replace(/^SWF1 \d+ g\n/, `SWF1 ${clock.now() + 100 * HOUR} g\n`);
    expect(forged).not.toBe(raw);
    await writeFile(fileOf(dir, id), forged, 'latin1');
    clock.advance(2000); // the real expiry has passed
    await expect(storage.getSession(id, 1000)).resolves.toBeUndefined();
    expect(errors.map((e) => e.constructor)).toEqual([CorruptSessionError]);
    expect(errors[0]?.message).toContain('header was changed');
    await expect(storage.setSession(id, one('x', 1), HOUR, UPDATE)).resolves.toBe(false);
    await storage.close();
  });

  it('should reject a record relabelled as a forward, and seal forwards (the new id is not on disk)', async () => {
    const { dir, errors, storage } = await setup({ encryptionKeys: key });
    const [a, oldId, newId] = [generateId(), generateId(), generateId()];
    await storage.setSession(a, one('user', 'alice'), HOUR, CREATE);
    const raw = await readFile(fileOf(dir, a), 'latin1');
    await writeFile(fileOf(dir, a), raw.replace(/ g\n/, ' e\n'), 'latin1');
    await expect(storage.setSession(a, one('x', 1), HOUR, UPDATE)).resolves.toBe(false);
    expect(errors.map((e) => e.constructor)).toEqual([CorruptSessionError]);

    await storage.setSession(oldId, one('user', 'bob'), HOUR, CREATE);
    await storage.moveSession(oldId, newId, one('n', 1), HOUR, { keep: undefined, forwardTTL: 60_000 });
    const forward = await readFile(fileOf(dir, oldId), 'latin1');
    expect(forward).toMatch(/^SWF1 \d+ e\n/);
    expect(forward).not.toContain(newId);
    await expect(storage.setSession(oldId, one('late', true), HOUR, UPDATE)).resolves.toBe(true);
    expect(Object.fromEntries(await storage.getSession(newId, HOUR) ?? [])).toEqual({ user: '"bob"', n: '1', late: 'true' });
    await storage.close();
  });

  it('should keep a TTL refresh verifiable (re-sealed with the new header)', async () => {
    const { clock, errors, storage } = await setup({ encryptionKeys: key });
    const id = generateId();
    await storage.setSession(id, one('a', 1), 5000, CREATE);
    clock.advance(4000);
    await storage.updateTTL(id, 5000);
    clock.advance(4000);
    expect(Object.fromEntries(await storage.getSession(id, 5000) ?? [])).toEqual({ a: '1' });
    expect(errors).toEqual([]);
    await storage.close();
  });
});

describe('FileStorage forwards on disk', () => {
  it('should write a plain forward naming the new id, invisible to reads and count', async () => {
    const { dir, clock, storage } = await setup();
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, one('a', 1), HOUR, CREATE);
    await expect(storage.moveSession(oldId, newId, one('b', 2), HOUR, { keep: new Set(['b']), forwardTTL: 60_000 })).resolves.toEqual(new Map([['b', '2']]));
    expect(await readFile(fileOf(dir, oldId), 'latin1')).toBe(`SWF1 ${clock.now() + 60_000} f\n${newId}`);
    await expect(storage.getSession(oldId, HOUR)).resolves.toBeUndefined();
    await expect(storage.count()).resolves.toBe(1);
    await storage.close();
  });

  it('should stop following a forward whose target was replaced by a loop', async () => {
    const { dir, storage } = await setup();
    const [a, b] = [generateId(), generateId()];
    await mkdir(join(dir, a.charAt(0), a.charAt(1)), { recursive: true });
    await mkdir(join(dir, b.charAt(0), b.charAt(1)), { recursive: true });
    await writeFile(fileOf(dir, a), `SWF1 99999999999999 f\n${b}`);
    await writeFile(fileOf(dir, b), `SWF1 99999999999999 f\n${a}`);
    await expect(storage.setSession(a, one('x', 1), HOUR, UPDATE)).resolves.toBe(false);
    await expect(storage.compareAndSet(a, 'x', undefined, '1', HOUR, UPDATE)).resolves.toBe('gone');
    await expect(storage.removeAll(a)).resolves.toBe(false);
    await storage.close();
  });

  it('should age old temp files out by their mtime', async () => {
    const { dir, storage } = await setup();
    const id = generateId();
    await storage.setSession(id, one('a', 1), HOUR, CREATE);
    const temp = join(dir, id.charAt(0), id.charAt(1), `.${id}.1-ffffffff.0123abcd.tmp`); // pid 1 of another machine
    await writeFile(temp, 'partial');
    await storage.sweep();
    await expect(stat(temp)).resolves.toBeDefined();
    const old = new Date(Date.now() - 2 * HOUR);
    await utimes(temp, old, old);
    await storage.sweep();
    await expect(stat(temp)).rejects.toMatchObject({ code: 'ENOENT' });
    await storage.close();
  });
});

/** The pid of a process that has exited (and was reaped). */
function exitedPid(): number {
  return Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
}

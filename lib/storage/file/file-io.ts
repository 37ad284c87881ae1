/**
 * File-system helpers of `FileStorage`: the atomic replace of a file, reads that never follow a
 * link, the storage directory's and the shard directories' checks.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { accessSync, close, constants, fsync, lstatSync, mkdirSync, open as openFile, read, realpathSync, rename, statSync, unlink as unlinkFile, write, type Stats } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCause, SessionOptionsError } from '../../errors';
import { ownerPrefix } from './file-lock';
import { MAX_HEADER } from './file-format';

/**
 * Flags of every read of a session file: a symbolic link is not followed (`ELOOP`), and a FIFO
 * planted under a session's name cannot block the read. (Both are 0 where the OS lacks them.)
 */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** Temp file names: `.<id>.<pid>-<scope>-<start>.<random>.tmp` (older versions: `.<id>.<pid>.<random>.tmp`). @internal */
export const TEMP_NAME = /^\.([A-Za-z0-9_-]{8,128})\.([1-9]\d{0,9})(?:-([0-9a-f]{8})(?:-(\d{1,20}))?)?\.[0-9a-f]{8}\.tmp$/;

/**
 * Replaces `file` with `data` atomically: writes a temp file next to it (mode 0600, created with
 * `O_EXCL`, so never through a link), `fsync`s it and renames it over `file` (which replaces a
 * link rather than following it). A reader sees the old or the new content, never a mix; a crash
 * leaves at most a stray temp file, which the sweep removes.
 * @internal
 */
export function writeFileAtomic(file: string, name: string, data: Buffer): Promise<void> {
  const temp = `${file.slice(0, -name.length)}.${name}.${ownerPrefix()}.${randomBytes(4).toString('hex')}.tmp`;
  // Callback fs, as in readNoFollow: the same five operations as with a FileHandle, without its promises.
  return new Promise((resolve, reject) => {
    openFile(temp, 'wx', 0o600, (openErr, fd) => {
      if (openErr) return reject(openErr);
      const removeTemp = (err: Error): void => unlinkFile(temp, () => reject(err));
      const failOpen = (err: Error): void => close(fd, () => removeTemp(err)); // the fd is closed once, here or below
      const writeFrom = (offset: number): void => {
        if (offset < data.length) {
          write(fd, data, offset, data.length - offset, null, (writeErr, written) => (writeErr ? failOpen(writeErr) : writeFrom(offset + written)));
          return;
        }
        fsync(fd, (syncErr) => {
          if (syncErr) return failOpen(syncErr);
          close(fd, (closeErr) => {
            if (closeErr) return removeTemp(closeErr);
            rename(temp, file, (renameErr) => (renameErr ? removeTemp(renameErr) : resolve()));
          });
        });
      };
      writeFrom(0);
    });
  });
}

/** The first read of a session file: most fit (under Buffer's pool size, so it is a slice of the pool). */
const FIRST_READ = 4095;

/** Reads a whole session file without following a link (`ELOOP` when it is one). @internal */
export function readNoFollow(file: string): Promise<Buffer> {
  // Callback fs (much faster under load than fs/promises), and open + read + close: fs.readFile
  // adds an fstat for the size, one more trip through the thread pool. `open` takes the numeric
  // flags that say O_NOFOLLOW.
  return new Promise((resolve, reject) => {
    openFile(file, READ_FLAGS, (openErr, fd) => {
      if (openErr) return reject(openErr);
      let buffer = Buffer.allocUnsafe(FIRST_READ);
      let length = 0;
      const finish = (err: Error | null): void => {
        close(fd, (closeErr) => {
          const failure = err ?? closeErr;
          if (failure) reject(failure);
          else resolve(buffer.subarray(0, length));
        });
      };
      const next = (): void => {
        read(fd, buffer, length, buffer.length - length, null, (readErr, bytes) => {
          if (readErr) return finish(readErr);
          length += bytes;
          // A short read of a regular file is its end: a file renamed over meanwhile stays whole
          // behind this fd. (Anything else is not a session file, and its content fails to decode.)
          if (length < buffer.length) return finish(null);
          const bigger = Buffer.allocUnsafe(buffer.length * 4);
          buffer.copy(bigger, 0, 0, length);
          buffer = bigger;
          next();
        });
      };
      next();
    });
  });
}

/** Reads the first bytes of a file (enough for its header) without following a link. @internal */
export async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, READ_FLAGS);
  try {
    const buffer = Buffer.alloc(MAX_HEADER + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Creates the storage directory (mode 0700) if missing and checks it; returns its real path.
 * A given directory may be reached through a symbolic link (resolved once, here). The default
 * directory, shared by everyone in the OS temp dir, must be a real directory that belongs to the
 * current user. Either must not be writable by group or others, and must be usable.
 * @throws {SessionOptionsError}
 * @internal
 */
export function prepareDirectory(dir: string, isDefault: boolean): string {
  let real: string;
  let stats: Stats;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    real = isDefault ? dir : realpathSync(dir);
    stats = isDefault ? lstatSync(dir) : statSync(real);
  } catch (err) {
    throw new SessionOptionsError(`FileStorage: cannot create the storage directory ${dir} (${describeCause(err)}); pass a writable path.`, { cause: err });
  }
  if (!stats.isDirectory()) {
    const what = stats.isSymbolicLink() ? 'a symbolic link (refused for the shared default directory)' : 'not a directory';
    throw new SessionOptionsError(`FileStorage: ${dir} is ${what}; pass the path of a directory of your own (it is created if missing).`);
  }
  if (isDefault && typeof process.getuid === 'function' && stats.uid !== process.getuid()) {
    throw new SessionOptionsError(`FileStorage: the default directory ${dir} belongs to another user; pass a directory of your own.`);
  }
  // Windows reports no POSIX permission bits (directories read as 0o777): its ACLs are not checked here.
  if (process.platform !== 'win32' && (stats.mode & 0o022) !== 0) {
    const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
    throw new SessionOptionsError(
      `FileStorage: the storage directory ${real} is writable by its group or by others (mode ${mode}), so another user could plant, replace or delete sessions; restrict it (chmod 700 ${real}) or pass another directory.`,
    );
  }
  try {
    accessSync(real, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new SessionOptionsError(`FileStorage: the storage directory ${real} is not readable and writable by this process (${describeCause(err)}).`, { cause: err });
  }
  return real;
}

/** A shard directory is a symbolic link or not a directory. @internal */
export class ForeignShardError extends Error {
  override readonly name = 'ForeignShardError';
}

/**
 * Checks (and with `create`, creates) the two shard directories of `<root>/<a>/<b>/`, each with
 * `lstat`, so that nothing is ever written or read through a link below the root.
 * @returns `false` when a level is missing and `create` is not set.
 * @throws {ForeignShardError} when a level is a link or not a directory.
 * @internal
 */
export async function checkShard(root: string, a: string, b: string, create: boolean): Promise<boolean> {
  for (const dir of [join(root, a), join(root, a, b)]) {
    let stats: Stats;
    try {
      stats = await lstat(dir);
    } catch (err) {
      if (!isMissing(err) || !create) {
        if (isMissing(err)) return false;
        throw err;
      }
      await mkdir(dir, 0o700).catch((mkdirErr: unknown) => {
        if ((mkdirErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirErr;
      });
      stats = await lstat(dir);
    }
    if (!stats.isDirectory()) {
      throw new ForeignShardError(`shard directory ${dir.slice(root.length + 1)} is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; it is never followed (remove it)`);
    }
  }
  return true;
}

/** Whether `err` means "no such file" (also when a parent is not a directory). @internal */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Rethrows `err` unless it means "no such file". @internal */
export function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}

/**
 * File-system helpers of `FileStorage`: the atomic replace of a file, the storage directory's
 * preparation, and reading just a session file's header.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { describeCause, SessionOptionsError } from '../../errors';
import { MAX_HEADER, parseHeader, type FileHeader } from './file-format';

const noop = (): void => {};

/**
 * Replaces `file` with `data` atomically: writes a temp file next to it (mode 0600, named
 * `.<name>.<pid>.<random>.tmp`), `fsync`s it and renames it over `file`. A reader sees the old or
 * the new content, never a mix; a crash leaves at most a stray temp file.
 * @internal
 */
export async function writeFileAtomic(file: string, name: string, data: Buffer): Promise<void> {
  const temp = `${file.slice(0, -name.length)}.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    await rename(temp, file);
  } catch (err) {
    await handle.close().catch(noop);
    await unlink(temp).catch(noop);
    throw err;
  }
}

/**
 * Creates the storage directory (mode 0700) if missing and checks it is a directory; the default
 * directory, shared by everyone in the OS temp dir, must also belong to the current user.
 * @throws {SessionOptionsError}
 * @internal
 */
export function prepareDirectory(dir: string, isDefault: boolean): void {
  let stats;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    stats = lstatSync(dir);
  } catch (err) {
    throw new SessionOptionsError(`FileStorage: cannot create the storage directory ${dir} (${describeCause(err)}); pass a writable path.`, { cause: err });
  }
  if (!stats.isDirectory()) {
    throw new SessionOptionsError(`FileStorage: ${dir} is not a directory; pass the path of a directory (it is created if missing).`);
  }
  if (isDefault && typeof process.getuid === 'function' && stats.uid !== process.getuid()) {
    throw new SessionOptionsError(`FileStorage: the default directory ${dir} belongs to another user; pass a directory of your own.`);
  }
}

/**
 * Reads only the header of a session file: `null` when the file is missing, `undefined` when it
 * has no valid header.
 * @internal
 */
export async function readHeader(file: string): Promise<FileHeader | undefined | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  try {
    const buffer = Buffer.alloc(MAX_HEADER + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return parseHeader(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
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

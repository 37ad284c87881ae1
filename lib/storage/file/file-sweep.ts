/**
 * The walks of `FileStorage` over its directory: the background sweep (expired sessions and
 * forwards, temp files and locks left by dead processes) and `count()`. Neither follows a link:
 * shard directories are taken only when they are real directories, files only when they are
 * regular files, and a session file is deleted only when it carries the storage's own header.
 * @module
 */
import { lstat, opendir, unlink } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { ID_PATTERN } from '../../id';
import { hasMagic, parseHeader, type FileHeader } from './file-format';
import { isMissing, readHead, TEMP_NAME } from './file-io';
import { processIsDead, type FileLocks } from './file-lock';

/** Temp files older than this (wall clock, from their mtime) belong to a dead writer. */
const TEMP_MAX_AGE = 3_600_000;
/** Shard directory names: one id character. */
const SHARD = /^[A-Za-z0-9_-]$/;
const LOCK_NAME = /^[A-Za-z0-9_-]{8,128}\.lock$/;

/** What a sweep needs from its storage. @internal */
export interface SweepContext {
  /** The storage's clock, for expiry. */
  readonly now: () => number;
  /** The storage's locks; the sweep never waits for one. */
  readonly locks: FileLocks;
  /** Receives per-file failures; the sweep goes on with the next file. */
  readonly report: (err: unknown) => void;
}

type Kind = 'file' | 'dir' | 'other';

async function kindOf(entry: Dirent, path: string): Promise<Kind> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink() || entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice()) return 'other';
  const stats = await lstat(path).catch(() => undefined); // the file system did not say: ask
  return stats?.isFile() ? 'file' : stats?.isDirectory() ? 'dir' : 'other';
}

async function list(dir: string): Promise<Dirent[]> {
  const entries: Dirent[] = [];
  try {
    for await (const entry of await opendir(dir)) entries.push(entry);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  return entries;
}

/** Calls `visit` for every entry of every real shard directory `<dir>/<c>/<c>/`. */
async function walk(dir: string, visit: (shard: string, entry: Dirent, kind: Kind) => Promise<void>): Promise<void> {
  for (const first of await list(dir)) {
    if (!SHARD.test(first.name) || (await kindOf(first, join(dir, first.name))) !== 'dir') continue;
    for (const second of await list(join(dir, first.name))) {
      const shard = join(dir, first.name, second.name);
      if (!SHARD.test(second.name) || (await kindOf(second, shard)) !== 'dir') continue;
      for (const entry of await list(shard)) await visit(shard, entry, await kindOf(entry, join(shard, entry.name)));
    }
  }
}

/** The header of one of our files: `null` when missing, a link or foreign; `undefined` when ours but damaged. */
async function ownHeader(file: string): Promise<FileHeader | undefined | null> {
  let head: Buffer;
  try {
    head = await readHead(file);
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return null;
    throw err;
  }
  return hasMagic(head) ? parseHeader(head) : null;
}

async function isDead(file: string, now: () => number): Promise<boolean> {
  const header = await ownHeader(file);
  return header !== null && (header === undefined || header.expiresAt <= now());
}

/**
 * Deletes session files and forwards that are expired or damaged (only regular files that start
 * with the storage's header; each under its lock, skipped while a writer holds it), temp files
 * whose writer is dead or that are older than an hour, and locks whose owner is dead or stale.
 * Foreign entries, links and files without the header are left alone.
 * @returns how many session files (and forwards) were deleted.
 * @internal
 */
export async function sweepExpired(dir: string, context: SweepContext): Promise<number> {
  let removed = 0;
  await walk(dir, async (shard, entry, kind) => {
    const path = join(shard, entry.name);
    try {
      if (kind === 'file' && ID_PATTERN.test(entry.name)) removed += (await sweepSession(path, context)) ? 1 : 0;
      else if (kind === 'file' && TEMP_NAME.test(entry.name)) await sweepTemp(path, entry.name);
      else if (kind === 'dir' && LOCK_NAME.test(entry.name)) await sweepLock(path.slice(0, -'.lock'.length), context);
    } catch (err) {
      context.report(err);
    }
  });
  return removed;
}

/** Counts live sessions (not forwards): one header read per file. @internal */
export async function countLive(dir: string, now: () => number, report: (err: unknown) => void): Promise<number> {
  let count = 0;
  const at = now();
  await walk(dir, async (shard, entry, kind) => {
    if (kind !== 'file' || !ID_PATTERN.test(entry.name)) return;
    try {
      const header = await ownHeader(join(shard, entry.name));
      if (header?.kind === 'record' && header.expiresAt > at) count++;
    } catch (err) {
      report(err);
    }
  });
  return count;
}

async function sweepSession(file: string, { now, locks, report }: SweepContext): Promise<boolean> {
  if (!(await isDead(file, now))) return false;
  const release = await locks.tryAcquire(file);
  if (release === undefined) return false; // busy: a live writer is on it, leave it for the next sweep
  try {
    if (!(await isDead(file, now))) return false; // refreshed or replaced meanwhile
    await unlink(file);
    return true;
  } finally {
    await release().catch(report);
  }
}

/** A temp file: deleted when its writer is dead or it is older than an hour. @internal */
export async function sweepTemp(file: string, name: string): Promise<void> {
  const stats = await lstat(file).catch(() => undefined);
  if (!stats?.isFile()) return;
  const [, , pid, scope, start] = TEMP_NAME.exec(name) ?? [];
  if (Date.now() - stats.mtimeMs > TEMP_MAX_AGE || (await processIsDead(Number(pid), scope, start))) {
    await unlink(file).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
}

/** A lock directory: taken over if its owner is dead or stale (busy ones are skipped), then removed. @internal */
export async function sweepLock(file: string, { locks }: SweepContext): Promise<void> {
  const release = await locks.tryAcquire(file);
  if (release !== undefined) await release();
}

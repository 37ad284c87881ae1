/**
 * The background sweep of `FileStorage`: deletes expired and unreadable session files, and temp
 * files left behind by crashed writers.
 * @module
 */
import { opendir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lock, type LockOptions } from 'proper-lockfile';
import { ID_PATTERN } from '../../id';
import { ignoreMissing, isMissing, readHeader } from './file-io';

/** Temp files older than this (wall clock, from their mtime) belong to a dead writer. */
const TEMP_MAX_AGE = 3_600_000;
/** Shard directory names: one id character. */
const SHARD = /^[A-Za-z0-9_-]$/;

/** What a sweep needs from its storage. @internal */
export interface SweepContext {
  /** The storage's clock, for expiry. */
  readonly now: () => number;
  /** The storage's lock options; the sweep never waits for a lock. */
  readonly lockOptions: LockOptions;
  /** Receives per-file failures; the sweep goes on with the next file. */
  readonly report: (err: unknown) => void;
}

/**
 * Walks `<dir>/<c>/<c>/` and deletes session files that are expired or have no valid header,
 * each under its lock (a file locked by a writer is skipped), and `.tmp` files older than an hour.
 * Lock directories and foreign entries are left alone.
 * @returns how many session files were deleted.
 * @internal
 */
export async function sweepExpired(dir: string, context: SweepContext): Promise<number> {
  let removed = 0;
  for (const first of await listDir(dir)) {
    if (!SHARD.test(first)) continue;
    for (const second of await listDir(join(dir, first))) {
      if (!SHARD.test(second)) continue;
      const shard = join(dir, first, second);
      for (const name of await listDir(shard)) {
        try {
          if (ID_PATTERN.test(name)) removed += (await sweepSession(join(shard, name), context)) ? 1 : 0;
          else if (name.startsWith('.') && name.endsWith('.tmp')) await sweepTemp(join(shard, name));
        } catch (err) {
          context.report(err);
        }
      }
    }
  }
  return removed;
}

async function isDead(file: string, now: () => number): Promise<boolean> {
  const header = await readHeader(file);
  return header !== null && (header === undefined || header.expiresAt <= now());
}

async function sweepSession(file: string, { now, lockOptions, report }: SweepContext): Promise<boolean> {
  if (!(await isDead(file, now))) return false;
  let release: () => Promise<void>;
  try {
    release = await lock(file, { ...lockOptions, retries: 0 });
  } catch {
    return false; // busy: a live writer is on it, leave it for the next sweep
  }
  try {
    if (!(await isDead(file, now))) return false; // refreshed or replaced meanwhile
    await unlink(file);
    return true;
  } finally {
    await release().catch(report);
  }
}

async function sweepTemp(file: string): Promise<void> {
  const stats = await stat(file).catch(() => undefined);
  if (stats && Date.now() - stats.mtimeMs > TEMP_MAX_AGE) await unlink(file).catch(ignoreMissing);
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of await opendir(dir)) names.push(entry.name);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  return names;
}

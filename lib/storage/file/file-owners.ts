/**
 * The owner index of `FileStorage` ("log out everywhere"): one index file per owner,
 * `<path>/owners/<sha256 of the owner, hex>`, changed only under the storage's own cross-process
 * lock (`file-lock.ts`) and replaced atomically, so several processes sharing the directory keep
 * one consistent index. Each file lists `<id> <until>` lines: the session ids added for the owner,
 * each with the deadline `addOwner` gave it. Dead ids (session gone, deadline passed) are pruned
 * when the owner is listed or added to, and by the storage's sweep.
 * @module
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, opendir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptSessionError, LockTimeoutError } from '../../errors';
import type { OwnedSession } from '../storage';
import { toFileError } from './file-gate';
import { ignoreMissing, isMissing, readNoFollow, TEMP_NAME, writeFileAtomic } from './file-io';
import { LockBusyError, type FileLocks, type Release } from './file-lock';
import { sweepLock, sweepTemp, type SweepContext } from './file-sweep';

const NAME = 'FileStorage';
/** The directory of index files, below the storage's own (not a shard: shards are one character). */
export const OWNERS_DIR = 'owners';
const MAGIC = 'SWO1';
const INDEX_NAME = /^[0-9a-f]{64}$/;
const LINE = /^([A-Za-z0-9_-]{8,128}) (\d{1,16})$/;
const LOCK_NAME = /^[0-9a-f]{64}\.lock$/;

/** id -> until (ms since the epoch, on the storage's clock). */
type Entries = Map<string, number>;

/** What the index needs from its storage. @internal */
export interface FileOwnerContext {
  readonly root: string;
  readonly locks: FileLocks;
  readonly now: () => number;
  /** The expiry of the live session `id` (not a forward), or `undefined`. */
  expiry(id: string): Promise<number | undefined>;
}

/** The owner index of one `FileStorage`. @internal */
export class FileOwnerIndex {
  readonly #context: FileOwnerContext;
  readonly #dir: string;
  /** One queue per index file, so that this process never contends with itself for a lock. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(context: FileOwnerContext) {
    this.#context = context;
    this.#dir = join(context.root, OWNERS_DIR);
  }

  /** Adds `id` (kept at least `ttl` ms, even before its session is written); prunes entries whose session is gone. */
  add(owner: string, id: string, ttl: number): Promise<void> {
    const until = this.#context.now() + ttl;
    return this.#change(owner, 'addOwner', async (entries) => {
      await this.#prune(entries, true);
      entries.set(id, Math.max(entries.get(id) ?? 0, until));
      return true;
    });
  }

  /** The live sessions of `owner`; entries of sessions that are gone (their deadline passed) are pruned. */
  async list(owner: string): Promise<OwnedSession[]> {
    const listed: OwnedSession[] = [];
    await this.#change(owner, 'ownerSessions', async (entries) => {
      const changed = await this.#prune(entries, false, listed);
      return changed;
    });
    return listed;
  }

  forget(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#change(owner, 'forgetOwner', async (entries) => {
      let changed = false;
      for (const id of ids) changed = entries.delete(id) || changed;
      return changed;
    });
  }

  /**
   * Prunes every index file (skipping those locked right now), deletes the empty ones, and the
   * temp files and locks that dead processes left in the index directory. Failures go to `report`.
   */
  async sweep(context: SweepContext): Promise<void> {
    let dir;
    try {
      if (!(await this.#isRealDir())) return;
      dir = await opendir(this.#dir);
    } catch (err) {
      if (!isMissing(err)) context.report(toFileError('sweep', err));
      return;
    }
    for await (const entry of dir) {
      const path = join(this.#dir, entry.name);
      try {
        if (entry.isFile() && INDEX_NAME.test(entry.name)) await this.#sweepIndex(path, entry.name, context);
        else if (entry.isFile() && TEMP_NAME.test(entry.name)) await sweepTemp(path, entry.name);
        else if (entry.isDirectory() && LOCK_NAME.test(entry.name)) await sweepLock(path.slice(0, -'.lock'.length), context);
      } catch (err) {
        context.report(toFileError('sweep', err));
      }
    }
  }

  async #sweepIndex(file: string, name: string, context: SweepContext): Promise<void> {
    const release = await context.locks.tryAcquire(file);
    if (release === undefined) return; // in use: the next sweep
    try {
      const entries = await this.#read(file, 'sweep');
      if (await this.#prune(entries, false)) await this.#write(file, name, entries);
    } finally {
      await release().catch(context.report);
    }
  }

  /**
   * Drops the entries whose deadline passed and whose session is gone (with `expiredOnly`, the
   * sessions of entries still within their deadline are not even looked at); pushes the live ones
   * onto `live`. Resolves whether anything was dropped.
   */
  async #prune(entries: Entries, expiredOnly: boolean, live?: OwnedSession[]): Promise<boolean> {
    const now = this.#context.now();
    let changed = false;
    for (const [id, until] of entries) {
      if (expiredOnly && until > now) continue;
      const expiresAt = await this.#context.expiry(id);
      if (expiresAt !== undefined) live?.push({ id, expiresAt });
      else if (until <= now) changed = entries.delete(id) || changed;
    }
    return changed;
  }

  /** Runs `change` on the owner's entries under the file's lock; writes them back when it resolves `true`. */
  #change(owner: string, operation: string, change: (entries: Entries) => Promise<boolean>): Promise<void> {
    const name = createHash('sha256').update(owner, 'utf8').digest('hex');
    const file = join(this.#dir, name);
    const run = (this.#queues.get(file) ?? Promise.resolve()).then(async () => {
      let release: Release | undefined;
      try {
        await this.#prepare();
        release = await this.#context.locks.acquire(file);
        const entries = await this.#read(file, operation);
        if (await change(entries)) await this.#write(file, name, entries);
      } catch (err) {
        if (err instanceof LockBusyError) throw new LockTimeoutError(NAME, operation, "an owner's index stayed locked by another writer; gave up", { cause: err });
        throw toFileError(operation, err);
      } finally {
        await release?.();
      }
    });
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(file, tail);
    void tail.then(() => this.#queues.get(file) === tail && this.#queues.delete(file));
    return run;
  }

  async #read(file: string, operation: string): Promise<Entries> {
    let text: string;
    try {
      text = (await readNoFollow(file)).toString('utf8');
    } catch (err) {
      if (isMissing(err)) return new Map();
      throw err;
    }
    const [magic, ...lines] = text.split('\n');
    const entries: Entries = new Map();
    if (magic !== MAGIC) throw damaged(operation);
    for (const line of lines) {
      if (line === '') continue;
      const match = LINE.exec(line);
      if (match === null) throw damaged(operation);
      entries.set(match[1] as string, Number(match[2]));
    }
    return entries;
  }

  async #write(file: string, name: string, entries: Entries): Promise<void> {
    if (entries.size === 0) return unlink(file).catch(ignoreMissing);
    const lines = [MAGIC, ...[...entries].map(([id, until]) => `${id} ${Math.floor(until)}`), ''];
    await writeFileAtomic(file, name, Buffer.from(lines.join('\n'), 'utf8'));
  }

  /** Creates the index directory (mode 0700) if missing; it must be a real directory, never a link. */
  async #prepare(): Promise<void> {
    await mkdir(this.#dir, 0o700).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    if (!(await this.#isRealDir())) throw new CorruptSessionError(NAME, 'addOwner', `${OWNERS_DIR}/ in the storage directory is not a directory (a link or a file); it is never followed: remove it`);
  }

  async #isRealDir(): Promise<boolean> {
    try {
      return (await lstat(this.#dir)).isDirectory();
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }
}

function damaged(operation: string): CorruptSessionError {
  return new CorruptSessionError(NAME, operation, `an owner index file in ${OWNERS_DIR}/ is damaged (not written by this storage); remove it (its owner's sessions are then no longer listed or revoked together)`);
}

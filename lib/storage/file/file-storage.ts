/**
 * `FileStorage`: one file per session in a local directory, safe for several Node processes that
 * share it. gsession's `StorageFile` made correct: atomic writes under a lock, expiry on read,
 * validated ids, no link ever followed below the root, private modes and optional authenticated
 * encryption.
 * @module
 */
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { StorageError, describeCause } from '../../errors';
import { isValidId } from '../../id';
import { applyChanges, encodeRecord } from '../record-codec';
import type { CompareAndSetResult, MoveOptions, OwnedSession, SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';
import { FileOwnerIndex } from './file-owners';
import { FileCodec } from './file-codec';
import { FileCipher } from './file-crypto';
import { GroupCommit, type WriteBatch } from './file-batch';
import { SessionGate, toFileError } from './file-gate';
import { FileReader, MISSING_FILE, type Found } from './file-reader';
import { ignoreMissing, prepareDirectory, writeFileAtomic } from './file-io';
import { FileLocks } from './file-lock';
import { resolveFileOptions, type FileStorageOptions } from './file-options';
import { countLive, sweepExpired } from './file-sweep';

export type { FileStorageOptions } from './file-options';

const NAME = 'FileStorage';
/** TTL refreshes applied in parallel by {@link FileStorage.flush}. */
const FLUSH_CONCURRENCY = 8;
/** Forwards followed by a write before it gives up (the contract's 4 hops). */
const MAX_HOPS = 4;

const noop = (): void => {};

/**
 * Stores each session in its own file, `<path>/<id[0]>/<id[1]>/<id>` (mode 0600, directories
 * 0700). Reads are one `readFile` without a lock (never through a link). Writes lock the session
 * (an own lock protocol, safe for several processes sharing the directory, that breaks the lock
 * of a killed process at once), apply the request's changes onto the file's current content, and
 * replace the file atomically (temp file, `fsync`, `rename`): a reader or a crash never sees a
 * partial file, overlapping requests keep each other's keys, and a removed session stays removed.
 * Expiry is stored in the file and checked on every read. File-system errors reject at once.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { session, FileStorage } from 'sessionware';
 *
 * const app = express();
 * app.use(session(new FileStorage('/var/lib/myapp/sessions', { encryptionKeys: process.env.SESSION_KEY! })));
 * ```
 */
export class FileStorage implements Storage {
  /** The storage directory (absolute; a given path is resolved through links once, here). */
  readonly path: string;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #onError: (error: StorageError) => void;
  readonly #codec: FileCodec;
  readonly #reader: FileReader;
  readonly #locks: FileLocks;
  readonly #gate: SessionGate;
  readonly #batches = new GroupCommit();
  readonly #updateTTLInterval: number;
  readonly #pending = new Map<string, number>();
  readonly #owners: FileOwnerIndex;
  #ttlTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  #closed = false;

  /**
   * @param path the directory, created (mode 0700) if missing; it may be a symbolic link to one.
   * It must not be writable by group or others. Default: `join(os.tmpdir(), 'sessionware')`, which
   * must then be a real directory (not a link) that belongs to the current user.
   * @throws {SessionOptionsError} on a bad option or a directory that cannot be created or is unsafe.
   */
  constructor(path?: string, options: FileStorageOptions = {}) {
    const o = resolveFileOptions(options);
    this.#codec = new FileCodec(o.encryptionKeys === undefined ? undefined : new FileCipher(o.encryptionKeys));
    this.#now = o.now;
    this.#reader = new FileReader(this.#codec, o.now, (err) => this.#report(err));
    this.#onError = o.onError;
    this.#updateTTLInterval = o.updateTTLInterval;
    this.path = prepareDirectory(resolve(path ?? join(tmpdir(), 'sessionware')), path === undefined);
    this.#prefix = this.path.endsWith(sep) ? this.path : this.path + sep;
    const timing = { stale: o.lockStale, retries: o.lockRetries, minWait: o.lockRetryMinWait, maxWait: Math.max(o.lockRetryMinWait, o.lockRetryMaxWait) };
    this.#locks = new FileLocks(timing, (err) => this.#report(new StorageError(NAME, 'lock', `a session lock was compromised (${describeCause(err)})`, { cause: err })));
    this.#owners = new FileOwnerIndex({ root: this.path, locks: this.#locks, now: o.now, expiry: (id) => this.#expiry(id) });
    this.#gate = new SessionGate(this.path, this.#locks, (id, operation) => this.#fileOrThrow(id, operation), (err) => this.#report(err));
    if (Number.isFinite(o.updateTTLInterval)) this.#ttlTimer = setInterval(() => void this.flush(), o.updateTTLInterval).unref();
    if (Number.isFinite(o.clearExpiredInterval)) {
      this.#sweepTimer = setInterval(() => void this.sweep().catch((err: unknown) => this.#report(toFileError('sweep', err))), o.clearExpiredInterval).unref();
    }
  }

  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const file = this.#file(id);
    if (file === undefined) return undefined;
    let found: Found;
    try {
      found = (await this.#gate.readable(id)) ? await this.#reader.load(id, file, 'getSession', true) : MISSING_FILE;
    } catch (err) {
      throw toFileError('getSession', err);
    }
    return found.kind === 'live' ? this.#reader.record(id, found, 'getSession') : undefined;
  }

  /**
   * Applies `changes` under the session's lock. Writes to one session that queue behind the one in
   * progress are committed together (see `file-batch`): one lock, one read, one `fsync`, one
   * `rename` for all of them, each resolving as if it ran alone, in arrival order.
   */
  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    finiteTTL(ttl, 'setSession');
    this.#fileOrThrow(id, 'setSession');
    return this.#batches.add(id, { changes, ttl, create: options.create }, (batch) => void this.#commit(id, batch));
  }

  /** Runs one batch of `setSession`s: each write applies onto the previous one's result. */
  async #commit(id: string, batch: WriteBatch): Promise<void> {
    let results: boolean[] | undefined;
    try {
      await this.#update(id, 'setSession', true, false, async (base, target, file, hop) => {
        let record = base;
        let ttl = 0;
        results = batch.take().map((write) => {
          if (record === undefined && !(write.create && hop === 0)) return false; // gone: dropped, as alone
          record = applyChanges(record, write.changes);
          ttl = write.ttl;
          return true;
        });
        if (record !== undefined && results.includes(true)) await this.#writeRecord(target, file, record, ttl);
        return true;
      }, false);
    } catch (err) {
      batch.reject(err);
      return;
    }
    batch.resolve(results ?? []);
  }

  /** Compares and writes one key under the session's lock (following forwards, like `setSession`). */
  async compareAndSet(id: string, key: string, expected: string | undefined, next: string | undefined, ttl: number, options: WriteOptions): Promise<CompareAndSetResult> {
    finiteTTL(ttl, 'compareAndSet');
    return this.#update<CompareAndSetResult>(id, 'compareAndSet', options.create, 'gone', async (base, target, file) => {
      if (base?.get(key) !== expected) return 'conflict';
      const record = new Map(base);
      if (next === undefined) record.delete(key);
      else record.set(key, next);
      await this.#writeRecord(target, file, record, ttl);
      return 'ok';
    });
  }

  /**
   * Moves a session under the locks of both ids (taken in sorted order): writes the new file, then
   * replaces the old one with a forward (`SWF1 <expiry> f`, sealed as `e` with keys) naming the
   * new id. A crash in between leaves the old session as it was, without `changes`.
   */
  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, { keep, forwardTTL }: MoveOptions): Promise<SessionRecord | undefined> {
    const oldFile = this.#fileOrThrow(oldId, 'moveSession');
    const newFile = this.#fileOrThrow(newId, 'moveSession');
    finiteTTL(ttl, 'moveSession');
    finiteTTL(forwardTTL, 'moveSession');
    if (oldId === newId) throw new StorageError(NAME, 'moveSession', 'the new id must differ from the old one');
    return this.#run([oldId, newId], 'moveSession', async () => {
      const found = await this.#reader.load(oldId, oldFile, 'moveSession', true);
      const base = found.kind === 'live' ? this.#reader.record(oldId, found, 'moveSession') : undefined;
      if (base === undefined) return undefined; // gone, expired or already moved: the logout wins
      const merged = applyChanges(base, changes);
      const record = keep === undefined ? merged : new Map([...merged].filter(([key]) => keep.has(key)));
      await this.#writeRecord(newId, newFile, record, ttl);
      try {
        await writeFileAtomic(oldFile, oldId, this.#codec.encode(oldId, 'forward', this.#now() + forwardTTL, Buffer.from(newId, 'latin1')));
      } catch (err) {
        await unlink(newFile).catch(noop);
        throw err;
      }
      return record;
    });
  }

  async updateTTL(id: string, ttl: number): Promise<void> {
    const file = this.#fileOrThrow(id, 'updateTTL');
    finiteTTL(ttl, 'updateTTL');
    const target = this.#now() + ttl;
    if (this.#closed || ttl < 2 * this.#updateTTLInterval) return this.#refresh(id, file, target);
    const queued = this.#pending.get(id);
    if (queued === undefined || target > queued) this.#pending.set(id, target);
  }

  async removeAll(id: string): Promise<boolean> {
    let target = id;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const file = this.#fileOrThrow(target, 'removeAll');
      const current = target;
      const step = await this.#run([current], 'removeAll', async (): Promise<{ removed: boolean } | { next: string | undefined }> => {
        const found = await this.#reader.load(current, file, 'removeAll', false);
        if (found.kind === 'missing' || found.kind === 'foreign') return { removed: false };
        const next = found.kind === 'forward' ? this.#reader.forward(current, found, 'removeAll') : undefined;
        await unlink(file).catch(ignoreMissing);
        return found.kind === 'forward' ? { next } : { removed: found.kind === 'live' };
      });
      if ('removed' in step) return step.removed;
      if (step.next === undefined) return false;
      target = step.next; // a moved session: the logout removes where it went too
    }
    return false;
  }

  /**
   * The number of live sessions (forwards and expired files not included). Costs a walk of the
   * directory and one header read per file: for monitoring, not for every request.
   */
  async count(): Promise<number> {
    return countLive(this.path, this.#now, (err) => this.#report(toFileError('count', err))).catch((err: unknown) => {
      throw toFileError('count', err);
    });
  }

  /**
   * Indexes `id` under `owner` ("log out everywhere", see `Storage.addOwner`): one line in the
   * owner's index file (`owners/<sha256 of the owner>`, so the owner itself is not written there),
   * changed under that file's lock; entries of sessions that are gone are pruned on the way.
   */
  addOwner(owner: string, id: string, ttl: number): Promise<void> {
    this.#fileOrThrow(id, 'addOwner');
    finiteTTL(ttl, 'addOwner');
    return this.#owners.add(owner, id, ttl);
  }

  /** The live sessions in `owner`'s index file (one header read each); prunes the dead ones. */
  ownerSessions(owner: string): Promise<readonly OwnedSession[]> {
    return this.#owners.list(owner);
  }

  /** Removes `ids` from `owner`'s index file (the sessions are not touched). */
  forgetOwner(owner: string, ids: readonly string[]): Promise<void> {
    return this.#owners.forget(owner, ids);
  }

  /** The expiry of the live session `id` (not a forward), read from its header. */
  async #expiry(id: string): Promise<number | undefined> {
    const file = this.#file(id);
    if (file === undefined || !(await this.#gate.readable(id))) return undefined;
    const found = await this.#reader.load(id, file, 'ownerSessions', false);
    return found.kind === 'live' ? found.header.expiresAt : undefined;
  }

  /** Applies the queued TTL refreshes now. Never rejects: failures go to `onError`. */
  async flush(): Promise<void> {
    const batch = [...this.#pending];
    this.#pending.clear();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let item = batch[next++]; item !== undefined; item = batch[next++]) {
        const [id, target] = item;
        const file = this.#file(id); // ids were validated when queued
        if (file !== undefined) await this.#refresh(id, file, target).catch((err: unknown) => this.#report(toFileError('updateTTL', err)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, batch.length) }, worker));
  }

  /**
   * Deletes expired and damaged session files and forwards (only regular files that carry this
   * storage's header; never through a link), temp files of dead writers (or older than an hour)
   * and locks of dead owners. Skips sessions locked by a writer. Runs by itself every
   * `clearExpiredInterval`; concurrent calls share one pass.
   * @returns how many session files (and forwards) were deleted.
   */
  sweep(): Promise<number> {
    const report = (err: unknown): void => this.#report(toFileError('sweep', err));
    const context = { now: this.#now, locks: this.#locks, report };
    this.#sweeping ??= sweepExpired(this.path, context)
      .then(async (removed) => {
        await this.#owners.sweep(context); // owner index files: pruned of dead ids, deleted when empty
        return removed;
      })
      .finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /** Stops both timers and applies pending TTL refreshes. Later `updateTTL` calls apply at once. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#ttlTimer);
    clearInterval(this.#sweepTimer);
    this.#ttlTimer = this.#sweepTimer = undefined;
    await this.flush();
  }

  /** The file of a valid id, or `undefined`: ids never reach the file system unchecked. */
  #file(id: string): string | undefined {
    if (!isValidId(id)) return undefined;
    const file = `${this.#prefix}${id.charAt(0)}${sep}${id.charAt(1)}${sep}${id}`;
    return file.startsWith(this.#prefix) && resolve(file) === file ? file : undefined;
  }

  #fileOrThrow(id: string, operation: string): string {
    const file = this.#file(id);
    if (file === undefined) throw new StorageError(NAME, operation, 'invalid session id (expected 8 to 128 characters of [A-Za-z0-9_-])');
    return file;
  }

  #writeRecord(id: string, file: string, record: SessionRecord, ttl: number): Promise<void> {
    return writeFileAtomic(file, id, this.#codec.encode(id, 'record', this.#now() + ttl, Buffer.from(encodeRecord(record), 'utf8')));
  }

  /** Runs `task` holding the sessions `ids` (see `SessionGate.run`), closing their open write batches first. */
  #run<T>(ids: readonly string[], operation: string, task: () => Promise<T>): Promise<T> {
    for (const id of ids) this.#batches.close(id);
    return this.#gate.run(ids, operation, task);
  }

  /**
   * Runs `apply` on the session `id` holds, under its lock, following forwards (a write that
   * follows never creates); resolves `gone` when there is no session and `create` is not set.
   * `closeBatches` (off only for a batch itself) closes the open write batch of each id first.
   */
  async #update<T>(
    id: string,
    operation: string,
    create: boolean,
    gone: T,
    apply: (base: Map<string, string> | undefined, target: string, file: string, hop: number) => Promise<T>,
    closeBatches = true,
  ): Promise<T> {
    let target = id;
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const file = this.#fileOrThrow(target, operation);
      const [current, mayCreate] = [target, create && hop === 0];
      const run = closeBatches ? this.#run.bind(this) : this.#gate.run.bind(this.#gate);
      const step = await run([current], operation, async (): Promise<{ done: T } | { next: string | undefined }> => {
        const found = await this.#reader.load(current, file, operation, true);
        if (found.kind === 'forward') return { next: this.#reader.forward(current, found, operation) };
        const base = found.kind === 'live' ? this.#reader.record(current, found, operation) : undefined;
        if (base === undefined && !mayCreate) return { done: gone };
        return { done: await apply(base, current, file, hop) };
      });
      if ('done' in step) return step.done;
      if (step.next === undefined) return gone;
      target = step.next;
    }
    return gone;
  }

  /** Extends a live session's expiry to `target`, under its lock; never creates a file. */
  async #refresh(id: string, file: string, target: number): Promise<void> {
    const peek = await this.#reader.load(id, file, 'updateTTL', false).catch(() => MISSING_FILE);
    if (peek.kind !== 'live' || peek.header.expiresAt >= target) return;
    await this.#run([id], 'updateTTL', async () => {
      const found = await this.#reader.load(id, file, 'updateTTL', false);
      if (found.kind !== 'live' || found.header.expiresAt >= target) return;
      const bytes = this.#reader.withExpiry(id, found, target);
      if (bytes === undefined) return;
      await writeFileAtomic(file, id, bytes);
    });
  }

  #report(error: StorageError): void {
    try {
      this.#onError(error);
    } catch (hookErr) {
      // a throwing onError must not turn a reported problem into a failed request
      console.error('[sessionware] FileStorage options.onError threw:', hookErr);
    }
  }
}

function finiteTTL(ttl: number, operation: string): void {
  if (!Number.isFinite(ttl)) throw new StorageError(NAME, operation, 'ttl must be a finite number of milliseconds');
}

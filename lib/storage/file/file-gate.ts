/**
 * Exclusive access to sessions of one `FileStorage`: an in-process queue per id (so a process
 * never contends with itself on the file system) and the cross-process lock of each id's file.
 * @module
 */
import { CorruptSessionError, LockTimeoutError, StorageError, redactId, toStorageError } from '../../errors';
import { checkShard, ForeignShardError, isMissing } from './file-io';
import { ForeignLockError, LockBusyError, type FileLocks, type Release } from './file-lock';

const NAME = 'FileStorage';
const noop = (): void => {};

/**
 * Wraps a failure of `operation` in a `StorageError`. A file-system error is described by its
 * code and syscall only (its own message holds the path, hence the session id), also when it
 * comes from another realm (e.g. a test runner's VM context), where `instanceof Error` fails.
 * @internal
 */
export function toFileError(operation: string, err: unknown): StorageError {
  const { code, syscall } = (err ?? {}) as Partial<NodeJS.ErrnoException>;
  if (!(err instanceof StorageError) && typeof code === 'string' && typeof syscall === 'string') {
    return new StorageError(NAME, operation, `${code} during ${syscall}`, { cause: err });
  }
  return toStorageError(NAME, operation, err);
}

/** Hands out exclusive access to one or more sessions. @internal */
export class SessionGate {
  readonly #root: string;
  readonly #locks: FileLocks;
  readonly #fileOf: (id: string, operation: string) => string;
  readonly #report: (error: StorageError) => void;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Shards whose two levels were found to be real directories (by a read). */
  readonly #shards = new Set<string>();

  constructor(root: string, locks: FileLocks, fileOf: (id: string, operation: string) => string, report: (error: StorageError) => void) {
    this.#root = root;
    this.#locks = locks;
    this.#fileOf = fileOf;
    this.#report = report;
  }

  /**
   * Runs `task` holding the queues and the locks of `ids`, taken in sorted order so that two
   * operations on the same pair of sessions (in any processes) cannot deadlock. Errors reject as
   * `StorageError`s naming `operation`.
   */
  run<T>(ids: readonly string[], operation: string, task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(ids)].sort();
    const run = Promise.all(sorted.map((id) => this.#queues.get(id))).then(async () => {
      const releases: Release[] = [];
      try {
        for (const id of sorted) releases.push(await this.#lock(id, operation));
        return await task();
      } catch (err) {
        throw toFileError(operation, err);
      } finally {
        for (const release of releases.reverse()) await release().catch((err: unknown) => this.#report(toFileError(operation, err)));
      }
    });
    const tail = run.then(noop, noop);
    for (const id of sorted) this.#queues.set(id, tail);
    void tail.then(() => sorted.forEach((id) => this.#queues.get(id) === tail && this.#queues.delete(id)));
    return run;
  }

  /**
   * Whether a read may look into the id's shard: both levels are real directories (checked with
   * `lstat` once per shard for reads; every write checks again). A link is reported, never followed.
   */
  async readable(id: string): Promise<boolean> {
    const key = id.slice(0, 2);
    if (this.#shards.has(key)) return true;
    try {
      if (!(await checkShard(this.#root, id.charAt(0), id.charAt(1), false))) return false;
    } catch (err) {
      if (!(err instanceof ForeignShardError)) throw err;
      this.#report(new CorruptSessionError(NAME, 'getSession', err.message, { cause: err }));
      return false;
    }
    this.#shards.add(key);
    return true;
  }

  /** Takes a session's cross-process lock; only a lock held by a live process is waited for. */
  async #lock(id: string, operation: string): Promise<Release> {
    const file = this.#fileOf(id, operation);
    for (let attempt = 0; ; attempt++) {
      try {
        await checkShard(this.#root, id.charAt(0), id.charAt(1), true);
        return await this.#locks.acquire(file);
      } catch (err) {
        if (err instanceof LockBusyError) throw new LockTimeoutError(NAME, operation, `session ${redactId(id)} stayed locked by another writer; gave up`, { cause: err });
        if (err instanceof ForeignShardError) this.#shards.delete(id.slice(0, 2));
        if (err instanceof ForeignLockError || err instanceof ForeignShardError) throw new StorageError(NAME, operation, `session ${redactId(id)}: ${err.message}`, { cause: err });
        if (isMissing(err) && attempt === 0) continue; // shard directory removed behind our back: recreate it
        throw toFileError(operation, err);
      }
    }
  }
}

/**
 * The cross-process lock of `FileStorage`, one per session file. No dependency, no signal
 * handlers, no patched `fs`: a lock left by a killed process is recognised by its owner's pid.
 *
 * Protocol, for the session file `F`:
 * - the lock is the directory `F.lock`, created with `mkdir` (atomic: one process wins);
 * - the winner creates the entry `F.lock/<pid>-<scope>-<token>` naming itself (`scope` identifies
 *   the pid namespace of one boot of one machine, `token` this acquisition) and refreshes the
 *   entry's mtime every `stale / 2` while it holds the lock;
 * - release removes the entry, then the directory (a holder whose entry is gone lost its lock and
 *   touches nothing else);
 * - a held lock is broken when its owner is **dead** (same scope, no such pid: at once) or
 *   **stale** (its entry not refreshed for `stale` ms: a hung or remote holder, or a pid that was
 *   reused). Breaking takes the lock over by removing the owner's entry, which exactly one
 *   breaker can do (the entry's name is unique), then creating its own: two breakers never both win.
 * Only "held by a live owner" is waited for; any other error (read-only or full file system, a
 * foreign file or link where the lock belongs) rejects at once.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { lstat, mkdir, readdir, rmdir, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Waiting and staleness of a lock (ms). @internal */
export interface LockTiming {
  /** Age after which an owner that stopped refreshing its entry is presumed gone. */
  readonly stale: number;
  /** How many times a busy lock is retried before {@link LockBusyError}. */
  readonly retries: number;
  /** First wait between attempts. */
  readonly minWait: number;
  /** Longest wait between attempts (each wait is multiplied by a random 1–2). */
  readonly maxWait: number;
}

/** Releases a held lock. */
export type Release = () => Promise<void>;

/** The lock stayed held by a live owner for every retry. @internal */
export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
}

/** Something other than a lock occupies the lock's path. @internal */
export class ForeignLockError extends Error {
  override readonly name = 'ForeignLockError';
}

/** `<pid>-<scope>-<token>` */
const OWNER = /^([1-9]\d{0,9})-([0-9a-f]{8})-([0-9a-f]{16})$/;
/** Scope of processes whose pids cannot be compared with ours. */
const NO_SCOPE = '00000000';
/**
 * Tokens of the locks this process holds, over every storage instance and every copy of this
 * module that the process loaded (a CJS and an ESM copy must not take each other's locks for a
 * dead process's).
 */
function heldHere(): Set<string> {
  const registry = globalThis as Record<symbol, unknown>;
  return (registry[HELD] ??= new Set<string>()) as Set<string>;
}
const HELD = Symbol.for('sessionware.fileLocks.held');
let scope: string | undefined;
const noop = (): void => {};
const noopAsync = async (): Promise<void> => {};

/**
 * Identifies the pid namespace of this boot of this machine (Linux: boot id and pid namespace
 * inode), so that a pid in a lock can be checked with `kill(pid, 0)` only where it means the same
 * process. Elsewhere pids are never compared and only staleness breaks a lock.
 * @internal
 */
export function processScope(): string {
  if (scope === undefined) {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const pidNamespace = readlinkSync('/proc/self/ns/pid');
      scope = createHash('sha256').update(`${boot}\0${pidNamespace}\0${hostname()}`).digest('hex').slice(0, 8);
      if (scope === NO_SCOPE) scope = '00000001';
    } catch {
      scope = NO_SCOPE;
    }
  }
  return scope;
}

/** Whether the owner named by a lock entry is certainly gone. */
function ownerIsDead(entry: string): boolean {
  const match = OWNER.exec(entry);
  if (!match) return false;
  const pid = Number(match[1]);
  if (pid === process.pid && match[2] === processScope()) return match[2] !== NO_SCOPE && !heldHere().has(match[3] as string); // an earlier process with our pid
  return processIsDead(pid, match[2] as string);
}

/**
 * Whether the process `pid` of pid namespace `processScope` certainly no longer exists: only
 * within our own scope, and never for ourselves.
 * @internal
 */
export function processIsDead(pid: number, ofScope: string | undefined): boolean {
  if (ofScope !== processScope() || ofScope === NO_SCOPE || pid === process.pid || !(pid >= 1)) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

type Attempt = { readonly held: Release } | 'busy' | 'again';

/**
 * The session locks of one storage. Holders are refreshed by one `unref`'d timer that runs only
 * while a lock is held.
 * @internal
 */
export class FileLocks {
  readonly #timing: LockTiming;
  readonly #onCompromised: (err: Error) => void;
  readonly #held = new Map<string, string>(); // entry path -> token
  #timer: NodeJS.Timeout | undefined;

  constructor(timing: LockTiming, onCompromised: (err: Error) => void) {
    this.#timing = timing;
    this.#onCompromised = onCompromised;
    processScope();
  }

  /**
   * Locks `file`, waiting while a live owner holds it.
   * @throws {LockBusyError} after `retries` waits; {@link ForeignLockError} or the `fs` error at once.
   */
  async acquire(file: string): Promise<Release> {
    const { retries, minWait, maxWait } = this.#timing;
    for (let attempt = 0; ; attempt++) {
      const result = await this.#attempt(`${file}.lock`);
      if (typeof result === 'object') return result.held;
      if (attempt >= retries) throw new LockBusyError('the lock stayed held by a live owner');
      if (result === 'busy') {
        const wait = Math.min(maxWait, minWait * 1.5 ** attempt) * (1 + Math.random());
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Locks `file` if that needs no waiting (dead or stale owners are still broken); `undefined` when busy. */
  async tryAcquire(file: string): Promise<Release | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await this.#attempt(`${file}.lock`);
      if (typeof result === 'object') return result.held;
      if (result === 'busy') return undefined;
    }
    return undefined;
  }

  async #attempt(dir: string): Promise<Attempt> {
    try {
      await mkdir(dir, 0o700);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      return this.#inspect(dir);
    }
    return this.#own(dir, async () => {
      await rmdir(dir).catch(noop);
    });
  }

  /**
   * Creates our entry in a lock directory we just created or took over. With `alone`, the
   * directory was found empty and stale: we hold it only if our entry is its only one (a
   * competing breaker that sees two entries withdraws; removing the directory instead could
   * remove a newer one).
   */
  async #own(dir: string, undo: () => Promise<void>, alone = false): Promise<Attempt> {
    const token = randomBytes(8).toString('hex');
    const entry = join(dir, `${process.pid}-${processScope()}-${token}`);
    // Registered before the entry exists: another storage of this process (or the sweep) that
    // sees the entry must never take it for one left by an earlier process with our pid.
    heldHere().add(token);
    try {
      await mkdir(entry, 0o700);
    } catch (err) {
      heldHere().delete(token);
      if (code(err) === 'ENOENT') return 'again'; // the directory was broken as empty and stale meanwhile
      await undo();
      throw err;
    }
    if (alone && (await readdir(dir).catch(() => [])).length !== 1) {
      await rmdir(entry).catch(noop);
      heldHere().delete(token);
      return 'busy';
    }
    this.#held.set(entry, token);
    this.#timer ??= setInterval(() => this.#refresh(), this.#timing.stale / 2).unref();
    return { held: () => this.#release(dir, entry, token) };
  }

  /** The lock exists: busy, or broken and taken over, or foreign. */
  async #inspect(dir: string): Promise<Attempt> {
    let stats;
    try {
      stats = await lstat(dir);
    } catch (err) {
      if (code(err) === 'ENOENT') return 'again';
      throw err;
    }
    if (!stats.isDirectory()) throw new ForeignLockError(`the lock path is a ${stats.isSymbolicLink() ? 'symbolic link' : 'file'}, not a lock directory; remove it`);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      if (code(err) === 'ENOENT') return 'again';
      throw err;
    }
    const [entry, ...others] = entries;
    if (entry === undefined) {
      // Created but not yet owned: a holder between its two mkdirs (busy), or one that died there.
      let age: number;
      try {
        age = Date.now() - (await lstat(dir)).mtimeMs;
      } catch (err) {
        if (code(err) === 'ENOENT') return 'again'; // released meanwhile
        throw err;
      }
      return age < this.#timing.stale ? 'busy' : this.#own(dir, noopAsync, true);
    }
    if (!OWNER.test(entry) || others.some((other) => !OWNER.test(other))) {
      throw new ForeignLockError('the lock directory holds entries that are not lock owners; remove it');
    }
    for (const name of entries) {
      if (!(await this.#gone(join(dir, name), name))) return 'busy';
    }
    if (others.length > 0) {
      // Never produced by this protocol; clear the leftovers, then compete again.
      await Promise.all(entries.map((name) => rmdir(join(dir, name)).catch(noop)));
      return 'again';
    }
    try {
      await rmdir(join(dir, entry)); // exactly one breaker removes this entry
    } catch (err) {
      if (code(err) === 'ENOENT') return 'busy';
      throw err;
    }
    return this.#own(dir, async () => {
      await rmdir(dir).catch(noop);
    });
  }

  /** Whether the owner of a lock entry is dead, or has not refreshed it for `stale` ms. */
  async #gone(path: string, name: string): Promise<boolean> {
    if (ownerIsDead(name)) return true;
    try {
      return Date.now() - (await lstat(path)).mtimeMs >= this.#timing.stale;
    } catch (err) {
      if (code(err) === 'ENOENT') return false; // released meanwhile: compete again after a wait
      throw err;
    }
  }

  async #release(dir: string, entry: string, token: string): Promise<void> {
    if (!this.#held.delete(entry)) return;
    try {
      await rmdir(entry);
    } catch (err) {
      if (code(err) === 'ENOENT') {
        this.#onCompromised(new Error('the lock was broken by another process while held (held longer than lockStale?)'));
        return;
      }
      throw err;
    } finally {
      heldHere().delete(token); // only now: until the entry is gone, it names a live owner
    }
    await rmdir(dir).catch((err: unknown) => {
      const c = code(err);
      if (c !== 'ENOENT' && c !== 'ENOTEMPTY' && c !== 'EEXIST') throw err;
    });
  }

  #refresh(): void {
    if (this.#held.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = new Date();
    for (const entry of this.#held.keys()) {
      utimes(entry, now, now).catch((err: unknown) => {
        if (this.#held.has(entry)) this.#onCompromised(err instanceof Error ? err : new Error(String(err)));
      });
    }
  }
}

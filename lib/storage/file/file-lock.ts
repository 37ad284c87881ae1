/**
 * The cross-process lock of `FileStorage`, one per session file. No dependency, no signal
 * handlers, no patched `fs`: a lock left by a killed process is recognised by its owner's pid.
 *
 * Protocol, for the session file `F`:
 * - the lock is the directory `F.lock`, created with `mkdir` (atomic: one process wins);
 * - the winner creates the entry `F.lock/<pid>-<scope>-<start>-<token>` naming itself (`scope`
 *   identifies the pid namespace of one boot of one machine, `start` the process's start time in
 *   clock ticks since boot, `token` this acquisition) and refreshes the entry's mtime every
 *   `stale / 2` while it holds the lock;
 * - release removes the entry, then the directory (a holder whose entry is gone lost its lock and
 *   touches nothing else);
 * - a held lock is broken when its owner is **dead** (same scope, and no such pid or a pid now
 *   used by a process that started at another time: at once) or **stale** (its entry not
 *   refreshed for `stale` ms: a hung holder, or one whose liveness cannot be checked from here). Breaking takes the lock over by removing the owner's entry, which exactly one
 *   breaker can do (the entry's name is unique), then creating its own: two breakers never both win.
 * Only "held by a live owner" is waited for; any other error (read-only or full file system, a
 * foreign file or link where the lock belongs) rejects at once.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rmdir, utimes } from 'node:fs/promises';
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

/** `<pid>-<scope>-<start>-<token>` */
const OWNER = /^([1-9]\d{0,9})-([0-9a-f]{8})-(\d{1,20})-([0-9a-f]{16})$/;
/** Scope of processes whose pids cannot be compared with ours. */
const NO_SCOPE = '00000000';
/** Start time of a process that cannot be read (then only its existence is checked). */
const NO_START = '0';
/** Attempts made at once, without a wait, when the lock changed between two looks at it. */
const MAX_CHANGES = 8;
let scope: string | undefined;
let ownStart: string | undefined;
const noop = (): void => {};
const noopAsync = async (): Promise<void> => {};

/**
 * Identifies the pid namespace of this boot of this machine (Linux: boot id and pid namespace
 * inode), so that a pid in a lock is checked only where it means the same process. Elsewhere
 * pids are never compared and only staleness breaks a lock.
 * @internal
 */
export function processScope(): string {
  if (scope === undefined) {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const pidNamespace = readlinkSync('/proc/self/ns/pid');
      scope = createHash('sha256').update(`${boot}\0${pidNamespace}\0${hostname()}`).digest('hex').slice(0, 8);
      if (scope === NO_SCOPE) scope = '00000001';
      ownStart = startOf(readFileSync('/proc/self/stat', 'latin1'));
    } catch {
      scope = NO_SCOPE;
    }
  }
  return scope;
}

/** The start time (field 22) of a `/proc/<pid>/stat` line, or {@link NO_START}. */
function startOf(stat: string): string {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[19];
  return start !== undefined && /^\d{1,20}$/.test(start) ? start : NO_START;
}

/** This process's name in locks and temp files: `<pid>-<scope>-<start>`. @internal */
export function ownerPrefix(): string {
  return `${process.pid}-${processScope()}-${ownStart ?? NO_START}`;
}

/**
 * Whether the process `pid` (of pid namespace `ofScope`, started at `start` if known) certainly
 * no longer exists. Never for another scope; never for this process (any of its threads).
 * @internal
 */
export async function processIsDead(pid: number, ofScope: string | undefined, start: string = NO_START): Promise<boolean> {
  if (ofScope !== processScope() || ofScope === NO_SCOPE || !(pid >= 1)) return false;
  if (pid === process.pid) return start !== NO_START && ownStart !== undefined && ownStart !== NO_START && start !== ownStart; // an earlier process with our pid
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (start === NO_START) return false;
  const now = await readFile(`/proc/${pid}/stat`, 'latin1').then(startOf, () => NO_START);
  return now !== NO_START && now !== start; // the pid was reused by a later process
}

/** Whether the owner named by a lock entry is certainly gone. */
function ownerIsDead(entry: string): Promise<boolean> {
  const match = OWNER.exec(entry);
  return match ? processIsDead(Number(match[1]), match[2], match[3]) : Promise.resolve(false);
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
  readonly #held = new Set<string>(); // entry paths
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
    let changes = 0;
    for (let attempt = 0; ; ) {
      const result = await this.#attempt(`${file}.lock`);
      if (typeof result === 'object') return result.held;
      if (result === 'again' && ++changes <= MAX_CHANGES) continue; // the lock changed under us: look again at once
      if (attempt >= retries) throw new LockBusyError('the lock stayed held by a live owner');
      const wait = Math.min(maxWait, minWait * 1.5 ** attempt++) * (1 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Locks `file` if that needs no waiting (dead or stale owners are still broken); `undefined` when busy. */
  async tryAcquire(file: string): Promise<Release | undefined> {
    for (let changes = 0; changes <= MAX_CHANGES; changes++) {
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
    const entry = join(dir, `${ownerPrefix()}-${token}`);
    try {
      await mkdir(entry, 0o700);
    } catch (err) {
      if (code(err) === 'ENOENT') return 'again'; // the directory was broken as empty and stale meanwhile
      await undo();
      throw err;
    }
    if (alone && (await readdir(dir).catch(() => [])).length !== 1) {
      await rmdir(entry).catch(noop);
      return 'busy';
    }
    this.#held.add(entry);
    this.#timer ??= setInterval(() => this.#refresh(), this.#timing.stale / 2).unref();
    return { held: () => this.#release(dir, entry) };
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
    if (await ownerIsDead(name)) return true;
    try {
      return Date.now() - (await lstat(path)).mtimeMs >= this.#timing.stale;
    } catch (err) {
      if (code(err) === 'ENOENT') return false; // released meanwhile: compete again after a wait
      throw err;
    }
  }

  async #release(dir: string, entry: string): Promise<void> {
    if (!this.#held.delete(entry)) return;
    try {
      await rmdir(entry);
    } catch (err) {
      if (code(err) === 'ENOENT') {
        this.#onCompromised(new Error('the lock was broken by another process while held (held longer than lockStale?)'));
        return;
      }
      throw err;
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
    for (const entry of this.#held) {
      utimes(entry, now, now).catch((err: unknown) => {
        if (this.#held.has(entry)) this.#onCompromised(err instanceof Error ? err : new Error(String(err)));
      });
    }
  }
}

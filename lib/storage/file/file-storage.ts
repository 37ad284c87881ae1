/**
 * `FileStorage`: one file per session in a local directory, safe for several Node processes that
 * share it. gsession's `StorageFile` made correct: atomic writes under a lock, expiry on read,
 * validated ids, private modes and optional authenticated encryption.
 * @module
 */
import { readFile } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { lock, type LockOptions } from 'proper-lockfile';
import { CorruptSessionError, LockTimeoutError, SessionOptionsError, StorageError, describeCause, redactId, toStorageError } from '../../errors';
import { isValidId } from '../../id';
import { FileCipher, type EncryptionKey } from './file-crypto';
import { encodeFile, parseHeader, type FileHeader } from './file-format';
import { ignoreMissing, isMissing, prepareDirectory, writeFileAtomic } from './file-io';
import { sweepExpired } from './file-sweep';
import { applyChanges, decodeRecord, encodeRecord } from '../record-codec';
import type { SessionChanges, SessionRecord, Storage, WriteOptions } from '../storage';

const NAME = 'FileStorage';
/** TTL refreshes applied in parallel by {@link FileStorage.flush}. */
const FLUSH_CONCURRENCY = 8;

/** Options of {@link FileStorage}. Durations are milliseconds. */
export interface FileStorageOptions {
  /**
   * How often batched TTL refreshes of clean sessions are written. A TTL shorter than twice this
   * interval is refreshed at once instead, so a refresh is never late enough to lose a session.
   * The timer is `unref`'d.
   * @default 10_000
   */
  readonly updateTTLInterval?: number;
  /**
   * How often expired session files are deleted in the background (`Infinity`: never; call
   * {@link FileStorage.sweep} yourself). Expired sessions are invisible on read whatever this is.
   * The timer is `unref`'d.
   * @default 3_600_000
   */
  readonly clearExpiredInterval?: number;
  /**
   * Turns on encryption at rest with AES-256-GCM. One or more 32-byte keys, as `Buffer`s, 64 hex
   * characters or base64 text. The first key encrypts; every key decrypts, so keys can be rotated
   * by putting the new key first. There is no built-in key. While keys are set, unencrypted files
   * are rejected (and vice versa).
   * @default undefined (files are stored unencrypted, readable only by the owner: mode 0600)
   * @example
   * ```ts
   * new FileStorage('/var/lib/app/sessions', { encryptionKeys: [process.env.SESSION_KEY!, process.env.OLD_SESSION_KEY!] });
   * ```
   */
  readonly encryptionKeys?: EncryptionKey | readonly EncryptionKey[];
  /**
   * Age after which a lock is considered left by a dead process and broken. A live holder keeps
   * its lock fresh every `lockStale / 2`. Use the same value in every process sharing the directory.
   * At least 2000.
   * @default 10_000
   */
  readonly lockStale?: number;
  /**
   * How many times a busy lock is retried before the operation rejects with a `LockTimeoutError`.
   * Waits grow from `lockRetryMinWait` to `lockRetryMaxWait` (×1–2 jitter); the defaults wait
   * about 18–36 s in total, longer than `lockStale`, so a stale lock is always broken first.
   * @default 100
   */
  readonly lockRetries?: number;
  /** First wait between lock attempts. @default 5 */
  readonly lockRetryMinWait?: number;
  /** Longest wait between lock attempts. @default 200 */
  readonly lockRetryMaxWait?: number;
  /**
   * The clock used for expiry, in milliseconds since the epoch. Inject one in tests.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Receives errors that do not fail a request: corrupt or undecryptable files
   * (`CorruptSessionError`, the session is treated as missing), failed background TTL refreshes and
   * sweeps, compromised locks. Messages contain no session data and no whole ids.
   * @default logs `name [code]: message` with `console.error`
   */
  readonly onError?: (error: StorageError) => void;
}

/** A session file as found on disk. */
type Found =
  | { readonly kind: 'missing' }
  | { readonly kind: 'dead' }
  | { readonly kind: 'live'; readonly header: FileHeader; readonly bytes: Buffer };

const MISSING: Found = { kind: 'missing' };
const DEAD: Found = { kind: 'dead' };
const noop = (): void => {};

const logError = (error: StorageError): void => console.error(`${error.name} [${error.code}]: ${error.message}`);

/**
 * Stores each session in its own file, `<path>/<id[0]>/<id[1]>/<id>` (mode 0600, directories
 * 0700). Reads are one `readFile` without a lock. Writes lock the session (`proper-lockfile`, so
 * several processes can share the directory), apply the request's changes onto the file's current
 * content, and replace the file atomically (temp file, `fsync`, `rename`): a reader or a crash
 * never sees a partial file, overlapping requests keep each other's keys, and a removed session
 * stays removed. Expiry is stored in the file and checked on every read.
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
  /** The storage directory (absolute). */
  readonly path: string;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #onError: (error: StorageError) => void;
  readonly #cipher: FileCipher | undefined;
  readonly #lockOptions: LockOptions;
  readonly #updateTTLInterval: number;
  readonly #shards = new Set<string>();
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #pending = new Map<string, number>();
  #ttlTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  #closed = false;

  /**
   * @param path the directory, created (mode 0700) if missing.
   * Default: `join(os.tmpdir(), 'sessionware')`, which must then belong to the current user.
   * @throws {SessionOptionsError} on a bad option or a directory that cannot be created.
   */
  constructor(path?: string, options: FileStorageOptions = {}) {
    const {
      updateTTLInterval = 10_000, clearExpiredInterval = 3_600_000, encryptionKeys, lockStale = 10_000,
      lockRetries = 100, lockRetryMinWait = 5, lockRetryMaxWait = 200, now = Date.now, onError = logError,
    } = options;
    positive('updateTTLInterval', updateTTLInterval);
    positive('clearExpiredInterval', clearExpiredInterval);
    positive('lockRetryMinWait', lockRetryMinWait);
    positive('lockRetryMaxWait', lockRetryMaxWait);
    if (!(lockStale >= 2000 && Number.isFinite(lockStale))) throw new SessionOptionsError('FileStorage: options.lockStale must be a finite number of milliseconds, at least 2000.');
    if (!(Number.isInteger(lockRetries) && lockRetries >= 0)) throw new SessionOptionsError('FileStorage: options.lockRetries must be a non-negative integer.');
    this.#cipher = encryptionKeys === undefined ? undefined : new FileCipher(encryptionKeys);
    this.#now = now;
    this.#onError = onError;
    this.#updateTTLInterval = updateTTLInterval;
    this.path = resolve(path ?? join(tmpdir(), 'sessionware'));
    this.#prefix = this.path.endsWith(sep) ? this.path : this.path + sep;
    prepareDirectory(this.path, path === undefined);
    this.#lockOptions = {
      realpath: false,
      stale: lockStale,
      retries: { retries: lockRetries, minTimeout: lockRetryMinWait, maxTimeout: Math.max(lockRetryMinWait, lockRetryMaxWait), factor: 1.5, randomize: true },
      onCompromised: (err) => this.#report(new StorageError(NAME, 'lock', `a session lock was compromised (${describeCause(err)})`, { cause: err })),
    };
    if (Number.isFinite(updateTTLInterval)) {
      this.#ttlTimer = setInterval(() => void this.flush(), updateTTLInterval).unref();
    }
    if (Number.isFinite(clearExpiredInterval)) {
      this.#sweepTimer = setInterval(() => void this.sweep().catch((err: unknown) => this.#report(toStorageError(NAME, 'sweep', err))), clearExpiredInterval).unref();
    }
  }

  async getSession(id: string, _ttl?: number): Promise<SessionRecord | undefined> {
    const file = this.#file(id);
    if (file === undefined) return undefined;
    let found: Found;
    try {
      found = await this.#load(id, file, 'getSession', true);
    } catch (err) {
      throw toStorageError(NAME, 'getSession', err);
    }
    if (found.kind !== 'live') return undefined;
    try {
      return this.#decode(id, found, 'getSession');
    } catch (err) {
      this.#report(toStorageError(NAME, 'getSession', err));
      return undefined;
    }
  }

  async setSession(id: string, changes: SessionChanges, ttl: number, options: WriteOptions): Promise<boolean> {
    const file = this.#fileOrThrow(id, 'setSession');
    finiteTTL(ttl, 'setSession');
    return this.#exclusive(id, file, 'setSession', async () => {
      const found = await this.#load(id, file, 'setSession', true);
      let base: SessionRecord | undefined;
      if (found.kind === 'live') {
        try {
          base = this.#decode(id, found, 'setSession');
        } catch (err) {
          this.#report(toStorageError(NAME, 'setSession', err));
        }
      }
      if (base === undefined && !options.create) return false;
      const plain = Buffer.from(encodeRecord(applyChanges(base, changes)), 'utf8');
      const body = this.#cipher ? this.#cipher.seal(plain, id) : plain;
      await writeFileAtomic(file, id, encodeFile(this.#now() + ttl, this.#cipher !== undefined, body));
      return true;
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
    const file = this.#fileOrThrow(id, 'removeAll');
    return this.#exclusive(id, file, 'removeAll', async () => {
      const found = await this.#load(id, file, 'removeAll', false);
      if (found.kind === 'missing') return false;
      await unlink(file).catch(ignoreMissing);
      return found.kind === 'live';
    });
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
        if (file !== undefined) await this.#refresh(id, file, target).catch((err: unknown) => this.#report(toStorageError(NAME, 'updateTTL', err)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, batch.length) }, worker));
  }

  /**
   * Deletes expired and unreadable session files, and temp files left by crashed writers (older
   * than an hour). Skips sessions locked by a writer and lock directories. Runs by itself every
   * `clearExpiredInterval`; concurrent calls share one pass.
   * @returns how many session files were deleted.
   */
  sweep(): Promise<number> {
    const report = (err: unknown): void => this.#report(toStorageError(NAME, 'sweep', err));
    this.#sweeping ??= sweepExpired(this.path, { now: this.#now, lockOptions: this.#lockOptions, report }).finally(() => (this.#sweeping = undefined));
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

  /** Reads a session file: live, dead (expired or unreadable header) or missing. */
  async #load(id: string, file: string, operation: string, report: boolean): Promise<Found> {
    let bytes: Buffer;
    try {
      bytes = await readWhole(file);
    } catch (err) {
      if (isMissing(err)) return MISSING;
      throw err;
    }
    const header = parseHeader(bytes);
    if (header === undefined) {
      if (report) this.#report(new CorruptSessionError(NAME, operation, `session ${redactId(id)}: file has no valid header (truncated or not a session file)`));
      return DEAD;
    }
    return header.expiresAt > this.#now() ? { kind: 'live', header, bytes } : DEAD;
  }

  /** @throws {CorruptSessionError} when the body cannot be decrypted or parsed. */
  #decode(id: string, found: Found & { kind: 'live' }, operation: string): Map<string, string> {
    const corrupt = (why: string): CorruptSessionError => new CorruptSessionError(NAME, operation, `session ${redactId(id)}: ${why}`);
    let body = found.bytes.subarray(found.header.bodyStart);
    if (found.header.sealed) {
      if (!this.#cipher) throw corrupt('file is encrypted but no encryptionKeys are set');
      const opened = this.#cipher.open(body, id);
      if (!opened) throw corrupt('file cannot be decrypted with any of the encryptionKeys (wrong key or tampered)');
      body = opened;
    } else if (this.#cipher) {
      throw corrupt('file is not encrypted but encryptionKeys are set');
    }
    try {
      return decodeRecord(body.toString('utf8'));
    } catch {
      // The parser's message quotes the data: keep it out of the error.
      throw corrupt('file body is not a valid session record');
    }
  }

  /** Extends a live session's expiry to `target`, under its lock; never creates a file. */
  async #refresh(id: string, file: string, target: number): Promise<void> {
    const peek = await this.#load(id, file, 'updateTTL', false).catch(() => MISSING);
    if (peek.kind !== 'live' || peek.header.expiresAt >= target) return;
    await this.#exclusive(id, file, 'updateTTL', async () => {
      const found = await this.#load(id, file, 'updateTTL', false);
      if (found.kind !== 'live' || found.header.expiresAt >= target) return;
      await writeFileAtomic(file, id, encodeFile(target, found.header.sealed, found.bytes.subarray(found.header.bodyStart)));
    });
  }

  /** Runs `task` holding the session's in-process queue and its cross-process file lock. */
  #exclusive<T>(id: string, file: string, operation: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const run = previous.then(async () => {
      const release = await this.#lock(id, file, operation);
      try {
        return await task();
      } catch (err) {
        throw toStorageError(NAME, operation, err);
      } finally {
        await release().catch((err: unknown) => this.#report(toStorageError(NAME, operation, err)));
      }
    });
    const tail = run.then(noop, noop);
    this.#queues.set(id, tail);
    void tail.then(() => this.#queues.get(id) === tail && this.#queues.delete(id));
    return run;
  }

  async #lock(id: string, file: string, operation: string): Promise<() => Promise<void>> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#ensureShard(id);
        return await lock(file, this.#lockOptions);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOCKED') throw new LockTimeoutError(NAME, operation, `session ${redactId(id)} stayed locked by another writer; gave up`, { cause: err });
        if (code === 'ENOENT' && attempt === 0) {
          this.#shards.delete(id.slice(0, 2)); // shard directory removed behind our back: recreate it
          continue;
        }
        throw toStorageError(NAME, operation, err);
      }
    }
  }

  async #ensureShard(id: string): Promise<void> {
    const key = id.slice(0, 2);
    if (this.#shards.has(key)) return;
    await mkdir(join(this.path, id.charAt(0), id.charAt(1)), { recursive: true, mode: 0o700 });
    this.#shards.add(key);
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

/** `fs.readFile` with a callback: one read, and much faster under load than `fs/promises`. */
function readWhole(file: string): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => readFile(file, (err, data) => (err ? reject(err) : resolvePromise(data))));
}

function positive(name: string, value: number): void {
  if (!(value > 0)) throw new SessionOptionsError(`FileStorage: options.${name} must be a positive number of milliseconds.`);
}

function finiteTTL(ttl: number, operation: string): void {
  if (!Number.isFinite(ttl)) throw new StorageError(NAME, operation, 'ttl must be a finite number of milliseconds');
}

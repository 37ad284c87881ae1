/**
 * The options of `FileStorage`, their defaults and their validation.
 * @module
 */
import { SessionOptionsError, type StorageError } from '../../errors';
import type { EncryptionKey } from './file-crypto';

/** Options of `FileStorage`. Durations are milliseconds. */
export interface FileStorageOptions {
  /**
   * How often batched TTL refreshes of clean sessions are written. A TTL shorter than twice this
   * interval is refreshed at once instead, so a refresh is never late enough to lose a session.
   * The timer is `unref`'d.
   * @default 10_000
   */
  readonly updateTTLInterval?: number;
  /**
   * How often the background sweep runs (`Infinity`: never; call `FileStorage.sweep()` yourself):
   * it deletes expired sessions and forwards, and temp files and locks left by dead processes.
   * Expired sessions are invisible on read whatever this is. The timer is `unref`'d.
   * @default 3_600_000
   */
  readonly clearExpiredInterval?: number;
  /**
   * Turns on authenticated encryption at rest with AES-256-GCM. One or more 32-byte keys, as
   * `Buffer`s, 64 hex characters or base64 text. The first key encrypts; every key decrypts, so
   * keys can be rotated by putting the new key first. There is no built-in key. While keys are
   * set, unencrypted files are rejected (and vice versa).
   *
   * What it protects: the content of sessions from anyone who reads the files (a backup, a copied
   * disk), and their integrity: a file whose body, expiry or kind was changed, or that was copied
   * under another id, is rejected (reported as a `CorruptSessionError`, treated as missing), so
   * nobody without a key can forge a session or extend one. What it cannot protect against: a
   * file **restored** whole from an earlier copy (e.g. one saved before a logout) is accepted
   * until its own expiry, because it is a genuine file of that id. Only someone who can write to
   * the directory (its owner, or root) can do that: keep the directory private (mode 0700, which
   * FileStorage requires) and backups of it as secret as the keys.
   * @default undefined (files are stored unencrypted, readable only by the owner: mode 0600)
   * @example
   * ```ts
   * new FileStorage('/var/lib/app/sessions', { encryptionKeys: [process.env.SESSION_KEY!, process.env.OLD_SESSION_KEY!] });
   * ```
   */
  readonly encryptionKeys?: EncryptionKey | readonly EncryptionKey[];
  /**
   * Age after which a lock whose owner stopped refreshing it is broken (a hung process, one on
   * another machine, or one whose pid was reused). A live holder refreshes its lock every
   * `lockStale / 2`. A lock whose owner process is gone (same machine and pid namespace) is broken
   * at once, without waiting for this. Use the same value in every process sharing the directory.
   * At least 2000.
   * @default 10_000
   */
  readonly lockStale?: number;
  /**
   * How many times a lock held by a live process is retried before the operation rejects with a
   * `LockTimeoutError`. Only a held lock is retried: any other error (read-only or full file
   * system, permissions, a foreign file where the lock belongs) rejects at once with a
   * `StorageError` naming the operation and the error code. Waits grow from `lockRetryMinWait` to
   * `lockRetryMaxWait` (×1–2 jitter); the defaults wait about 18–36 s in total, longer than
   * `lockStale`, so a stale lock is always broken first.
   * @default 100
   */
  readonly lockRetries?: number;
  /** First wait between lock attempts. @default 5 */
  readonly lockRetryMinWait?: number;
  /** Longest wait between lock attempts. @default 200 */
  readonly lockRetryMaxWait?: number;
  /**
   * The clock used for expiry, in milliseconds since the epoch. Inject one in tests. (Locks and
   * temp files age by the wall clock.)
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Receives errors that do not fail a request: corrupt, undecryptable or linked files
   * (`CorruptSessionError`, the session is treated as missing), failed background TTL refreshes and
   * sweeps, compromised locks. Messages contain no session data and no whole ids.
   * @default logs `name [code]: message` with `console.error`
   */
  readonly onError?: (error: StorageError) => void;
}

/** Every option with its default applied. @internal */
export type ResolvedFileOptions = Required<Omit<FileStorageOptions, 'encryptionKeys'>> & Pick<FileStorageOptions, 'encryptionKeys'>;

const logError = (error: StorageError): void => console.error(`${error.name} [${error.code}]: ${error.message}`);

/** Applies defaults and validates. @throws {SessionOptionsError} @internal */
export function resolveFileOptions(options: FileStorageOptions): ResolvedFileOptions {
  const resolved: ResolvedFileOptions = {
    updateTTLInterval: 10_000, clearExpiredInterval: 3_600_000, lockStale: 10_000, lockRetries: 100,
    lockRetryMinWait: 5, lockRetryMaxWait: 200, now: Date.now, onError: logError, ...stripUndefined(options),
  };
  positive('updateTTLInterval', resolved.updateTTLInterval);
  positive('clearExpiredInterval', resolved.clearExpiredInterval);
  positive('lockRetryMinWait', resolved.lockRetryMinWait);
  positive('lockRetryMaxWait', resolved.lockRetryMaxWait);
  if (!(resolved.lockStale >= 2000 && Number.isFinite(resolved.lockStale))) throw new SessionOptionsError('FileStorage: options.lockStale must be a finite number of milliseconds, at least 2000.');
  if (!(Number.isInteger(resolved.lockRetries) && resolved.lockRetries >= 0)) throw new SessionOptionsError('FileStorage: options.lockRetries must be a non-negative integer.');
  if (typeof resolved.now !== 'function') throw new SessionOptionsError('FileStorage: options.now must be a function returning milliseconds since the epoch.');
  if (typeof resolved.onError !== 'function') throw new SessionOptionsError('FileStorage: options.onError must be a function.');
  return resolved;
}

function stripUndefined(options: FileStorageOptions): FileStorageOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as FileStorageOptions;
}

function positive(name: string, value: number): void {
  if (!(value > 0)) throw new SessionOptionsError(`FileStorage: options.${name} must be a positive number of milliseconds.`);
}

/**
 * The options of `MemcacheStorage`, documented, with their defaults and validation.
 * @module
 */
import { SessionOptionsError, type StorageError } from '../../errors';
import type { MemcacheConnection } from './memcache-client';
import { KEY_PATTERN, MAX_ID_LENGTH, MAX_KEY_BYTES } from './memcache-item';

/** Options of {@link MemcacheStorage}. */
export interface MemcacheStorageOptions {
  /**
   * Prepended to every session id to form its memcached key. Printable ASCII without spaces, at
   * most 122 bytes (memcached keys are at most 250 bytes; ids up to 128). Give each application its own prefix when they share a memcached.
   * @default 'session:'
   * @example `{ prefix: 'myapp:sess:' }`
   */
  readonly prefix?: string;
  /**
   * The most milliseconds one memcached command may take before it fails with a `StorageError`
   * naming the operation, so a request never hangs while memcached is unreachable. A command that
   * timed out may still be carried out by memcached later (it was sent). Clients the storage creates
   * also get it as memcache-client's `cmdTimeout` and `connectTimeout`.
   * @default 2_000
   */
  readonly commandTimeout?: number;
  /**
   * memcached's item size limit in bytes (its `-I` option): a session whose item would be larger
   * is not sent, and the write rejects with a `StorageError` whose `cause` is a
   * `SessionValueError` naming the largest value written. Raise it together with `-I`.
   * @default 1_048_576
   */
  readonly maxItemSize?: number;
  /**
   * How many times a write retries after another request changed the session between its `gets`
   * and its `cas` (with a short random back-off) before it rejects with a `StorageError`.
   * @default 64
   */
  readonly casRetries?: number;
  /**
   * Receives problems that do not fail a request: a stored item that cannot be decoded (a
   * `CorruptSessionError`; the session is treated as missing).
   * @default logs the error with `console.error`
   * @example `{ onError: (err) => logger.warn({ err }, 'memcached session problem') }`
   */
  readonly onError?: (err: StorageError) => void;
}

/** Options with their defaults applied. @internal */
export type ResolvedOptions = Required<MemcacheStorageOptions>;

/**
 * Applies the defaults and validates.
 * @throws {SessionOptionsError} naming the option and the fix.
 * @internal
 */
export function resolveOptions(connection: MemcacheConnection, options: MemcacheStorageOptions): ResolvedOptions {
  const { prefix = 'session:', commandTimeout = 2_000, maxItemSize = 1_048_576, casRetries = 64, onError = logError } = options;
  const name = 'MemcacheStorage';
  if (connection === null || connection === undefined || (typeof connection !== 'object' && typeof connection !== 'string')) {
    throw new SessionOptionsError(`${name}: pass a memcache-client MemcacheClient, its options, or 'host:port'.`);
  }
  if (typeof prefix !== 'string' || (prefix !== '' && !KEY_PATTERN.test(prefix))) {
    throw new SessionOptionsError(`${name}: options.prefix must be a string of printable ASCII without spaces, e.g. 'session:'.`);
  }
  if (prefix.length + MAX_ID_LENGTH > MAX_KEY_BYTES) {
    throw new SessionOptionsError(`${name}: options.prefix is ${prefix.length} bytes; at most ${MAX_KEY_BYTES - MAX_ID_LENGTH} fit memcached's ${MAX_KEY_BYTES}-byte keys with a ${MAX_ID_LENGTH}-character id.`);
  }
  if (!(commandTimeout > 0) || !Number.isFinite(commandTimeout)) {
    throw new SessionOptionsError(`${name}: options.commandTimeout must be a positive, finite number of milliseconds.`);
  }
  if (!Number.isSafeInteger(maxItemSize) || maxItemSize < 1024) {
    throw new SessionOptionsError(`${name}: options.maxItemSize must be a whole number of bytes, at least 1024 (memcached's -I; default 1 MiB).`);
  }
  if (!Number.isSafeInteger(casRetries) || casRetries < 0) throw new SessionOptionsError(`${name}: options.casRetries must be a whole number >= 0.`);
  if (typeof onError !== 'function') throw new SessionOptionsError(`${name}: options.onError must be a function.`);
  return { prefix, commandTimeout, maxItemSize, casRetries, onError };
}

function logError(err: StorageError): void {
  console.error(`[sessionware] ${err.name} (${err.code}): ${err.message}`);
}

/**
 * The `SessionError` hierarchy: every error sessionware throws or reports is one of these, with a
 * stable `code` to branch on and the underlying failure in `cause`. Messages never contain
 * session data or whole session ids.
 * @module
 */

/** Stable error codes, one per error class. */
export type SessionErrorCode =
  | 'ERR_SESSION_OPTIONS'
  | 'ERR_SESSION_STATE'
  | 'ERR_SESSION_VALUE'
  | 'ERR_SESSION_STORAGE'
  | 'ERR_SESSION_LOCK_TIMEOUT'
  | 'ERR_SESSION_CORRUPT'
  | 'ERR_SESSION_CONFLICT';

/**
 * Base class of every sessionware error; use it as an `instanceof` target.
 *
 * @example
 * ```ts
 * app.use((err, req, res, next) => {
 *   if (err instanceof SessionError && err.code === 'ERR_SESSION_STORAGE') res.status(503).end();
 *   else next(err);
 * });
 * ```
 */
export class SessionError extends Error {
  /** Stable, machine-readable code of this error. */
  readonly code: SessionErrorCode;

  constructor(code: SessionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** A bad option was given to `session()`, `Manager` or a storage constructor. Thrown synchronously. */
export class SessionOptionsError extends SessionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SESSION_OPTIONS', message, options);
  }
}

/** An operation is not allowed in the session's current state (e.g. `setId()` after it started). */
export class SessionStateError extends SessionError {
  constructor(message: string) {
    super('ERR_SESSION_STATE', message);
  }
}

/** A value given to `set()`/`setMap()` cannot be stored as JSON without losing it. */
export class SessionValueError extends SessionError {
  /** The session key whose value was rejected. */
  readonly key: string;

  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('ERR_SESSION_VALUE', message, options);
    this.key = key;
  }
}

/**
 * `session.update()` / `increment()` lost the compare-and-set on its key to other writers more
 * often than `maxConflicts` allows: nothing was written by this call. The key is being changed by
 * many requests at once; retry later, or raise `maxConflicts`.
 */
export class SessionConflictError extends SessionError {
  /** The session key the update was for. */
  readonly key: string;
  /** How many compare-and-set attempts lost (`maxConflicts + 1`). */
  readonly conflicts: number;

  constructor(key: string, conflicts: number) {
    super('ERR_SESSION_CONFLICT', `session.update("${key}") lost to concurrent writers of that key ${conflicts} times in a row (more than maxConflicts allows), so nothing was written; retry the request later, or raise the maxConflicts option if this key is meant to be that busy.`);
    this.key = key;
    this.conflicts = conflicts;
  }
}

/** A storage backend failed. `operation` names the storage method, `cause` holds the backend error. */
export class StorageError extends SessionError {
  /** Name of the storage class, e.g. `'RedisStorage'`. */
  readonly storage: string;
  /** The storage method that failed, e.g. `'getSession'`. */
  readonly operation: string;

  constructor(
    storage: string,
    operation: string,
    message: string,
    options?: { cause?: unknown; code?: 'ERR_SESSION_STORAGE' | 'ERR_SESSION_LOCK_TIMEOUT' | 'ERR_SESSION_CORRUPT' },
  ) {
    super(options?.code ?? 'ERR_SESSION_STORAGE', `${storage}.${operation}: ${message}`, options);
    this.storage = storage;
    this.operation = operation;
  }
}

/** A file lock could not be acquired in time (another process holds it or left it stale). */
export class LockTimeoutError extends StorageError {
  constructor(storage: string, operation: string, message: string, options?: { cause?: unknown }) {
    super(storage, operation, message, { ...options, code: 'ERR_SESSION_LOCK_TIMEOUT' });
  }
}

/**
 * Stored session data could not be read back (truncated, corrupt or undecryptable). Storages treat
 * such a session as missing and report this error through their `onError` hook; it never fails a
 * request.
 */
export class CorruptSessionError extends StorageError {
  constructor(storage: string, operation: string, message: string, options?: { cause?: unknown }) {
    super(storage, operation, message, { ...options, code: 'ERR_SESSION_CORRUPT' });
  }
}

/**
 * Shortens a session id for messages and logs: enough to correlate, never enough to hijack.
 * @internal
 */
export function redactId(id: string): string {
  return id.length <= 6 ? '…' : `${id.slice(0, 6)}…`;
}

/**
 * Wraps any backend failure in a `StorageError` (keeping `StorageError`s as they are).
 * @internal
 */
export function toStorageError(storage: string, operation: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  return new StorageError(storage, operation, describeCause(err), { cause: err });
}

/**
 * A one-line reason for a backend failure that is safe to log. File-system errors carry the file
 * path (which contains the session id) in their message, so only their code and syscall are used.
 * @internal
 */
export function describeCause(err: unknown): string {
  // Duck-typed, not `instanceof Error`: errors from another realm (a VM context, a worker) are
  // errors too, and their message may carry a path with a whole session id.
  if (typeof err !== 'object' || err === null) return String(err);
  const { code, syscall, message } = err as Partial<NodeJS.ErrnoException>;
  if (typeof code === 'string' && typeof syscall === 'string') return `${code} during ${syscall}`;
  return typeof message === 'string' ? message : String(err);
}

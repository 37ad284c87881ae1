/**
 * What a `Session` depends on, and is depended on by: the context it runs in (`SessionContext`, which
 * `Manager` implements), the request that hosts it (`SessionHost`, which the middleware implements),
 * and the checks of its arguments. Kept apart so that `session.ts` imports neither.
 * @module
 */
import { SessionOptionsError } from './errors';
import { checkKey } from './value';
import type { Storage } from './storage/storage';

/** Creates a session id; receives the TTL in milliseconds. */
export type IdFunc = (ttl: number) => string;

/** Where the id a session was opened with came from. @internal */
export type IdOrigin = 'client' | 'app';

/** The request a session belongs to, as the middleware presents it to the session. @internal */
export interface SessionHost {
  /** The response has ended: new work would be lost, so it is refused. */
  readonly ended: boolean;
  /** An operation is about to start; `change` when it changes the session (the end of the response must then wait for the session to be stored). */
  willRun(change: boolean): void;
  /** An operation settled: what the client must be told about its id may have changed. */
  settled(): void;
}

/** What a session needs from its `Manager`: the storage, the TTL, the id function and the size limit. */
export interface SessionContext {
  /** Where the session lives; read once, when the session is made. */
  getStorage(): Storage;
  /** The TTL in milliseconds, read at every storage call (so `setTTL` applies at once). */
  getTTL(): number;
  /** The id function of sessions without `setIdFunc()`; `undefined` for the storage's `new()` or random ids. */
  readonly idFunc: IdFunc | undefined;
  /** See `ManagerOptions.maxSessionBytes`. */
  readonly maxSessionBytes: number;
  /** See `ManagerOptions.absoluteTTL`; `undefined` for no absolute limit. */
  readonly absoluteTTL?: number | undefined;
  /** See `ManagerOptions.maxConflicts`; `undefined`: the default (10). */
  readonly maxConflicts?: number;
}

/** Options of {@link Session.regenerate}. */
export interface RegenerateOptions {
  /**
   * Only these keys survive the login; leave it out to keep every key (gsession's behaviour).
   * Keeping only what you need stops a session planted before login (with an attacker's CSRF token)
   * or left by a previous user (with their flags) from carrying into the new one.
   * @default undefined (everything kept)
   * @example `await req.session.regenerate({ keep: ['cart', 'locale'] })`
   */
  readonly keep?: readonly string[];
  /**
   * Starts the session's absolute lifetime (`absoluteTTL`) over, as if it were created now. Left
   * out, the creation time survives the login: re-logging in cannot extend a session forever.
   * @default false
   * @example `await req.session.regenerate({ keep: ['cart'], renew: true })`
   */
  readonly renew?: boolean;
}

/** `keep` as a set of checked keys, or `undefined` to keep everything. @internal */
export function keepOption(options: RegenerateOptions | undefined): ReadonlySet<string> | undefined {
  if (options === undefined || options.keep === undefined) return undefined;
  if (!Array.isArray(options.keep)) throw new SessionOptionsError('regenerate({ keep }): keep must be an array of session keys, e.g. { keep: ["cart"] }.');
  return new Set(options.keep.map(checkKey));
}

/**
 * `CookieStorage`: client-side sessions. The whole session travels in the cookie, sealed with
 * AES-256-GCM; nothing is stored on the server (unless a `revocation` storage is given).
 * @module
 */
import { SessionOptionsError, toStorageError } from '../../errors';
import type { Storage } from '../storage';
import { CookieSealer, type OpenedSeal, type SealedSession } from './cookie-seal';

/** Thirty days, the default absolute lifetime of a sealed session. */
const THIRTY_DAYS = 30 * 24 * 60 * 60 * 1000;

/** Options of {@link CookieStorage}. Durations are milliseconds. */
export interface CookieStorageOptions {
  /**
   * Secrets the sealing keys are derived from (HKDF-SHA256), each at least 32 characters. The
   * first seals; every one opens, and a cookie opened with an older one is re-sealed with the
   * first: put a new secret first to rotate, and drop the old one once its cookies have expired.
   * @example `{ secrets: [process.env.COOKIE_SECRET!, process.env.OLD_COOKIE_SECRET!] }`
   */
  readonly secrets: string | readonly string[];
  /**
   * How long a session may live after it was created, however active it is. The expiry is sealed
   * into the cookie, so a copied cookie dies with it too.
   * @default 2_592_000_000 (30 days)
   */
  readonly absoluteTTL?: number;
  /**
   * A server-side storage (memory, file, Redis, SQL…) that records the ids of sessions that were
   * logged out (or regenerated) until their absolute expiry, checked on every request that uses a
   * session opened from a cookie: with it, a logout is final even against a copy of the cookie; without it, a copied
   * cookie stays valid until it expires. Costs one read per request that uses such a session.
   * @default undefined (no revocation: a logout clears the browser's cookie only)
   */
  readonly revocation?: Storage;
  /**
   * The clock, in milliseconds since the epoch. Inject one in tests instead of sleeping.
   * @default Date.now
   */
  readonly now?: () => number;
}

/**
 * Keeps the whole session in the cookie, sealed (AES-256-GCM; keys from `secrets` by HKDF; a key
 * id in front; the cookie name bound in as additional data; idle and absolute expiry inside).
 * Pass it to `session()` like any storage: the middleware recognises it (`kind: 'client'`).
 *
 * What holds, and what does not:
 * - read-your-writes and laziness hold (the new cookie goes out with the response; untouched
 *   requests send nothing), and so do strict ids: anything that is not an intact, unexpired seal
 *   of ours is treated as no session;
 * - overlapping requests **cannot be merged**: each response carries the whole session, and the
 *   browser keeps the last one it received;
 * - a logout clears the cookie, but **cannot revoke a copy** of it unless `revocation` is given;
 * - the whole `Set-Cookie` must fit 4096 bytes: `set()` rejects a value that would not fit with a
 *   `SessionValueError` naming the key, before anything is sent. Nothing is compressed (compression
 *   leaks secrets' length next to attacker-chosen data).
 * - a clean request re-seals (to slide the idle expiry) only once more than half the TTL has passed.
 * - no owner index: the server does not know the sessions it sealed, so `session.setOwner()`,
 *   `manager.sessionsOf()` and `manager.revoke()` ("log out everywhere") reject with a `StorageError`.
 *
 * @example
 * ```ts
 * import { session, CookieStorage } from 'sessionware';
 *
 * app.use(session(new CookieStorage({ secrets: [process.env.COOKIE_SECRET!] }), { ttl: 60 * 60 * 1000 }));
 * ```
 */
export class CookieStorage {
  /** Tells `session()` that this storage keeps sessions on the client. */
  readonly kind = 'client' as const;
  /** The absolute lifetime of a session, in ms. */
  readonly absoluteTTL: number;
  readonly #sealer: CookieSealer;
  readonly #revocation: Storage | undefined;
  readonly #now: () => number;

  /** @throws {SessionOptionsError} on a missing or short secret or a bad option. */
  constructor(options: CookieStorageOptions) {
    if (typeof options !== 'object' || options === null) throw new SessionOptionsError('CookieStorage: pass { secrets: [...] } (each secret at least 32 characters).');
    const { secrets, absoluteTTL = THIRTY_DAYS, revocation, now = Date.now } = options;
    if (!(typeof absoluteTTL === 'number' && Number.isFinite(absoluteTTL) && absoluteTTL >= 1000)) {
      throw new SessionOptionsError('CookieStorage: options.absoluteTTL must be a finite number of milliseconds, at least 1000.');
    }
    if (revocation !== undefined && (typeof revocation !== 'object' || typeof revocation.getSession !== 'function')) {
      throw new SessionOptionsError('CookieStorage: options.revocation must be a sessionware Storage (e.g. new MemoryStorage() or a RedisStorage).');
    }
    if (typeof now !== 'function') throw new SessionOptionsError('CookieStorage: options.now must be a function returning milliseconds.');
    this.#sealer = new CookieSealer(secrets);
    this.absoluteTTL = Math.floor(absoluteTTL);
    this.#revocation = revocation;
    this.#now = now;
  }

  /** The current time of the storage's clock. */
  now(): number {
    return this.#now();
  }

  /**
   * Opens the cookie value a client sent under `name`: the session, or `undefined` when the value
   * is not an intact seal of ours, has expired (idle or absolute), or was revoked.
   * @throws {StorageError} when the revocation storage fails (the request fails: a revoked session
   *   is never let through because the check could not run).
   */
  async open(value: string, name: string): Promise<OpenedSeal | undefined> {
    const opened = this.unseal(value, name);
    return opened && !(await this.isRevoked(opened)) ? opened : undefined;
  }

  /**
   * The synchronous half of {@link CookieStorage.open}: decrypts and checks the expiry, without the
   * revocation check (see {@link CookieStorage.isRevoked}).
   */
  unseal(value: string, name: string): OpenedSeal | undefined {
    const opened = this.#sealer.open(value, name);
    const now = this.#now();
    return !opened || opened.exp <= now || opened.abs <= now ? undefined : opened;
  }

  /**
   * Whether `session` was revoked (logged out or regenerated): one read of the revocation storage;
   * `false` at once without one.
   * @throws {StorageError} when the revocation storage fails.
   */
  async isRevoked(session: SealedSession): Promise<boolean> {
    const revocation = this.#revocation;
    if (!revocation) return false;
    try {
      return (await revocation.getSession(revokedKey(session.sid), Math.max(1, session.abs - this.#now()))) !== undefined;
    } catch (err) {
      throw toStorageError('CookieStorage', 'open', err);
    }
  }

  /** Seals `session` for the cookie `name`. */
  seal(session: SealedSession, name: string): string {
    return this.#sealer.seal(session, name);
  }

  /** The length in characters of the cookie value `session` would seal to, without sealing it. */
  sealedLength(session: SealedSession): number {
    return CookieSealer.sealedLength(CookieSealer.payload(session).length);
  }

  /**
   * Records that session `sid` must not open again, until `until` (its sealed expiry). Does nothing
   * without a `revocation` storage.
   * @throws {StorageError} when the revocation storage fails.
   */
  async revoke(sid: string, until: number): Promise<void> {
    const revocation = this.#revocation;
    const ttl = until - this.#now();
    if (!revocation || ttl <= 0) return;
    try {
      await revocation.setSession(revokedKey(sid), { set: new Map([['revoked', 'true']]), removed: new Set() }, ttl, { create: true });
    } catch (err) {
      throw toStorageError('CookieStorage', 'revoke', err);
    }
  }

  /** Whether revocations are recorded (a `revocation` storage was given). */
  get revocable(): boolean {
    return this.#revocation !== undefined;
  }

  /** Nothing to release: the revocation storage belongs to the application, which closes it. */
  async close(): Promise<void> {}
}

/** The revocation storage's id for session `sid` (a valid storage id: `[A-Za-z0-9_-]`). */
function revokedKey(sid: string): string {
  return `rv-${sid}`;
}

/**
 * Session ids: generation from the CSPRNG and the syntax check every untrusted id passes before it
 * reaches a storage.
 * @module
 */
import { randomFillSync } from 'node:crypto';

/** Random bytes in a generated id: 192 bits, like express-session. */
const ID_BYTES = 24;
/** Ids generated per refill of the random pool (one `randomFillSync` call serves this many). */
const POOL_IDS = 128;

let pool = Buffer.allocUnsafe(0);
let poolOffset = 0;

/**
 * Creates a new session id: 24 bytes from `crypto.randomFillSync` (192 bits), base64url-encoded
 * into 32 characters of `[A-Za-z0-9_-]`. Bytes are drawn from a small pool refilled in one call,
 * so generating an id costs no syscall most of the time; no byte is ever handed out twice.
 *
 * @example
 * ```ts
 * generateId(); // 'pA6Y8Zc1v0M4oG2rWbq3XyN7tLhK9sJe'
 * ```
 */
export function generateId(): string {
  if (poolOffset + ID_BYTES > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(ID_BYTES * POOL_IDS));
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

/**
 * The syntax of a session id: 8 to 128 characters of `[A-Za-z0-9_-]`. Safe as a file name, a
 * Redis key part and a cookie value; rules out `.`, `/`, `\`, `%`, NUL and Windows device names.
 */
export const ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

/**
 * Tells whether `id` has the syntax of a session id ({@link ID_PATTERN}). Every id from a client,
 * an `idFunc` or `setId()` is checked with it before any storage access.
 *
 * @example
 * ```ts
 * isValidId('pA6Y8Zc1v0M4oG2rWbq3XyN7tLhK9sJe'); // true
 * isValidId('../../etc/passwd');                 // false
 * ```
 */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

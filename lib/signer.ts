/**
 * Optional signing of the id a client holds: `<id>.<HMAC-SHA256 base64url>`, with key rotation
 * (the first secret signs, every secret verifies).
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SessionOptionsError } from './errors';
import { VerifiedTokens } from './verified-tokens';

/** Shortest secret accepted, in characters. */
const MIN_SECRET_LENGTH = 32;

/**
 * Signs and verifies session ids with HMAC-SHA256.
 *
 * @example
 * ```ts
 * const signer = new Signer(['new secret of 32+ characters......', 'old secret of 32+ characters......']);
 * const token = signer.sign(id);      // signed with the first secret
 * signer.unsign(token) === id;        // verified with any of them
 * ```
 */
export class Signer {
  readonly #secrets: readonly string[];
  /** Tokens already verified (a client sends the same cookie on every request): one HMAC per token, not per request. */
  readonly #verified = new VerifiedTokens();

  /**
   * @param secret one secret, or several for rotation (the first signs, all verify); each at
   *   least 32 characters.
   * @throws {SessionOptionsError} when no secret or a short one is given.
   */
  constructor(secret: string | readonly string[]) {
    const secrets = typeof secret === 'string' ? [secret] : [...secret];
    if (secrets.length === 0) {
      throw new SessionOptionsError('options.secret is an empty array: give at least one secret, or leave the option out.');
    }
    for (const s of secrets) {
      if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) {
        throw new SessionOptionsError(
          `options.secret: every secret must be a string of at least ${MIN_SECRET_LENGTH} characters (e.g. crypto.randomBytes(32).toString('base64url')).`,
        );
      }
    }
    this.#secrets = secrets;
  }

  /** Returns `<id>.<signature>` signed with the first secret. */
  sign(id: string): string {
    return `${id}.${mac(id, this.#secrets[0] as string)}`;
  }

  /** Returns the id inside `token` if one of the secrets signed it, otherwise `undefined`. */
  unsign(token: string): string | undefined {
    const known = this.#verified.get(token);
    if (known !== undefined) return known;
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const id = token.slice(0, dot);
    return signedByAny(id, token.slice(dot + 1), this.#secrets, mac) ? this.#verified.add(token, id) : undefined;
  }
}

/**
 * Whether `signature` is `mac(id, secret)` for one of `secrets`, each compared in constant time.
 * @internal
 */
export function signedByAny(id: string, signature: string, secrets: readonly string[], mac: (id: string, secret: string) => string): boolean {
  const given = Buffer.from(signature);
  for (const secret of secrets) {
    const expected = Buffer.from(mac(id, secret));
    if (expected.length === given.length && timingSafeEqual(expected, given)) return true;
  }
  return false;
}

function mac(id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64url');
}

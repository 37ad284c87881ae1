/**
 * A bounded memo of signed tokens that passed verification, so that a client sending the same
 * cookie on every request costs one HMAC per token, not one per request. Keyed by the whole token
 * (id and signature) exactly as the client sent it: a hit means this very string was verified by
 * this signer's secrets before, which is all a verification proves. Only successes are kept (a
 * flood of forged tokens cannot grow it, and evicting an entry only costs the HMAC again); at most
 * {@link VerifiedTokens.capacity} entries, least recently used first out.
 * @module
 */

/** How many verified tokens a signer remembers by default. */
export const VERIFIED_TOKENS_CAPACITY = 1024;

/** Tokens longer than this are not remembered (an id plus a signature is under 200 characters). */
const MAX_TOKEN_LENGTH = 512;

/** Verified token → the id inside it; least recently used evicted first. @internal */
export class VerifiedTokens {
  readonly #ids = new Map<string, string>();

  /** @param capacity at most this many tokens are remembered. */
  constructor(readonly capacity: number = VERIFIED_TOKENS_CAPACITY) {}

  /** The id inside `token` if it was verified before, else `undefined`. */
  get(token: string): string | undefined {
    const ids = this.#ids;
    const id = ids.get(token);
    if (id !== undefined && ids.size > 1) {
      // Most recently used last: re-inserting moves it there.
      ids.delete(token);
      ids.set(token, id);
    }
    return id;
  }

  /** Remembers that `token` verified and holds `id`. Returns `id`. */
  add(token: string, id: string): string {
    if (token.length > MAX_TOKEN_LENGTH || this.capacity <= 0) return id;
    const ids = this.#ids;
    if (ids.size >= this.capacity && !ids.has(token)) {
      const oldest = ids.keys().next().value as string;
      ids.delete(oldest);
    }
    ids.set(token, id);
    return id;
  }

  /** How many tokens are remembered. */
  get size(): number {
    return this.#ids.size;
  }
}

/**
 * `ExpressSessionSigner`: express-session's signed cookie format, `s:<id>.<signature>`, where the
 * signature is cookie-signature's: HMAC-SHA256 of the id with the secret, base64 without `=`
 * padding. Hand it to `session()` as the `signer` option when switching from express-session, with
 * the same `secret` and cookie `name`, and the users it has logged in stay logged in.
 * @module
 */
import { createHmac } from 'node:crypto';
import { SessionOptionsError } from './errors';
import { signedByAny } from './signer';
import { VerifiedTokens } from './verified-tokens';

/**
 * What `session()` signs ids with (its `signer` option): `sign` turns an id into the token the
 * client keeps, `unsign` returns the id inside a token, or `undefined` when the token is forged or
 * malformed. The built-in `Signer` and {@link ExpressSessionSigner} both fit.
 */
export interface IdSigner {
  sign(id: string): string;
  unsign(token: string): string | undefined;
}

/**
 * Signs and verifies ids exactly as express-session does (`s:` + cookie-signature), so cookies it
 * issued are accepted and cookies issued here are accepted by express-session too.
 *
 * Secrets are taken as they are (express-session has no length rule, and changing the secret would
 * log everybody out); for new secrets prefer 32 random characters or more. Several secrets rotate:
 * the first signs, every one verifies, as express-session's `secret` array does.
 *
 * @example Switch from `express-session({ secret, store })` without logging anybody out
 * ```ts
 * import { session, ExpressSessionSigner } from 'sessionware';
 * import { StoreAdapter } from 'sessionware/express-session-store';
 *
 * app.use(session(new StoreAdapter(store), {
 *   name: 'connect.sid',                              // express-session's default cookie name
 *   signer: new ExpressSessionSigner(process.env.SESSION_SECRET!),
 * }));
 * ```
 */
export class ExpressSessionSigner implements IdSigner {
  readonly #secrets: readonly string[];
  /** Tokens already verified (a client sends the same cookie on every request): one HMAC per token, not per request. */
  readonly #verified = new VerifiedTokens();

  /**
   * @param secret express-session's `secret`: one string, or several (the first signs).
   * @throws {SessionOptionsError} when no secret, or an empty one, is given.
   */
  constructor(secret: string | readonly string[]) {
    const secrets = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? [...(secret as readonly unknown[])] : [];
    if (secrets.length === 0 || !secrets.every((s): s is string => typeof s === 'string' && s !== '')) {
      throw new SessionOptionsError('ExpressSessionSigner: pass the secret express-session used, a non-empty string or an array of them (the first signs).');
    }
    this.#secrets = secrets;
  }

  /** Returns `s:<id>.<signature>`, signed with the first secret. */
  sign(id: string): string {
    return `s:${id}.${mac(id, this.#secrets[0] as string)}`;
  }

  /**
   * Returns the id inside `s:<id>.<signature>` if one of the secrets signed it, otherwise
   * `undefined`. Takes the cookie value decoded, as a cookie parser gives it (`session()` undoes
   * the percent-encoding of `s%3A…` before it calls this).
   */
  unsign(token: string): string | undefined {
    if (typeof token !== 'string' || !token.startsWith('s:')) return undefined;
    const known = this.#verified.get(token);
    if (known !== undefined) return known;
    const dot = token.lastIndexOf('.');
    if (dot <= 2) return undefined;
    const id = token.slice(2, dot);
    return signedByAny(id, token.slice(dot + 1), this.#secrets, mac) ? this.#verified.add(token, id) : undefined;
  }
}

/** cookie-signature's MAC: HMAC-SHA256, base64 without the `=` padding. */
function mac(id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
}

/**
 * `CookieRequestState`: the request state of `session(new CookieStorage(...))`. It reads sealed
 * values (not ids) from the cookie or the header, and tells the response a seal of the session
 * instead of an id; the response hooks, `Vary`, the cookie attributes and the clearing are the
 * id path's own.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cookieValues, MAX_CANDIDATES, type ClientId } from '../../client-id';
import type { ResolvedOptions } from '../../options';
import { RequestState, type NextFunction } from '../../request-state';
import type { Session } from '../../session';
import type { CookieManager } from './cookie-manager';

/** @internal */
export class CookieRequestState extends RequestState {
  readonly #cookies: CookieManager;
  /** The last seal sent, and the view version it was made at (a seal is made once per version). */
  #seal: string | undefined;
  #sealedVersion = -1;

  constructor(options: ResolvedOptions, cookies: CookieManager, req: IncomingMessage, res: ServerResponse, next: NextFunction, owner: object, outer: RequestState | undefined) {
    super(options, cookies, req, res, next, owner, outer);
    this.#cookies = cookies;
  }

  /**
   * First touch of `req.session`: every value under the cookie name, then the header's, opened
   * until one unseals (synchronous decryption; the revocation check waits for the first awaited call).
   */
  open(): Session {
    const { req, options } = this;
    let via: ClientId['via'];
    let duplicates = false;
    const values: string[] = [];
    const cookieHeader = options.cookie ? req.headers.cookie : undefined;
    if (typeof cookieHeader === 'string' && cookieHeader.includes(options.name)) {
      const found = cookieValues(cookieHeader, options.name, MAX_CANDIDATES);
      if (found.length > 0) via = 'cookie';
      duplicates = found.length > 1;
      values.push(...found);
    }
    const cookieCount = values.length;
    const header = options.header === undefined ? undefined : req.headers[options.header];
    if (typeof header === 'string' && header !== '') {
      // Node joins repeated headers with ", "; seals contain no comma.
      const found = header.split(',', MAX_CANDIDATES).map((v) => v.trim());
      via ??= 'header';
      duplicates ||= found.length > 1;
      values.push(...found);
    }
    const session = this.#cookies.open(values);
    const view = this.#cookies.viewOf(session);
    if (view !== undefined && view.openedIndex >= cookieCount) via = 'header'; // the seal that opened came in the header
    this.client = { id: view?.openedId, via, duplicates, candidates: [] }; // the seal that opened is the session: no fallback to another value
    session.host = this;
    this.session = session;
    return session;
  }

  /** `send:<seal>`, `clear`, `none` or `unused`, as `decide` answers for ids. */
  override transportDecision(): string {
    const { session, client } = this;
    const view = session && this.#cookies.viewOf(session);
    if (!session || !client || !view || !session.transportState.used) return 'unused';
    const outcome = view.outcome(this.#cookies.cookieStorage.now(), this.#cookies.getTTL());
    if (outcome.kind === 'seal') {
      if (this.#sealedVersion !== view.version || this.#seal === undefined) {
        this.#seal = this.#cookies.cookieStorage.seal(outcome.session, this.#cookies.name);
        this.#sealedVersion = view.version;
      }
      return `send:${this.#seal}`;
    }
    if (outcome.kind === 'none' || client.via === undefined || (client.duplicates && !this.changed)) return 'none';
    return 'clear';
  }
}

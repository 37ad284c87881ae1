/**
 * The sealed cookie format of `CookieStorage`: AES-256-GCM over a small JSON payload, with keys
 * derived by HKDF from user secrets, a key id in front and the cookie name bound in as additional
 * data.
 *
 * ```text
 * v1.<base64url( keyId(4) ‖ iv(12) ‖ ciphertext ‖ tag(16) )>
 * payload: {"v":1,"sid":"…","iat":ms,"exp":ms,"abs":ms,"d":{"key":<JSON value>,…}}
 * ```
 * - `sid`: the session's own id (a fresh one after `regenerate()`), used for revocation;
 * - `iat`: when this seal was made; `exp`: idle expiry (`iat + ttl`); `abs`: absolute expiry;
 * - additional data: a length-prefixed `sessionware/v1/<cookie name>`, so a seal made for one
 *   cookie name never opens under another.
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { SessionOptionsError } from '../../errors';

const PREFIX = 'v1.';
const KEY_ID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a seal adds around the plaintext. */
const OVERHEAD = KEY_ID_BYTES + IV_BYTES + TAG_BYTES;
/** Shortest secret accepted, in characters. */
export const MIN_SECRET_LENGTH = 32;

/** What a seal holds. Values are JSON texts, as in every storage. */
export interface SealedSession {
  readonly sid: string;
  /** When the seal was made (ms since the epoch). */
  readonly iat: number;
  /** Idle expiry (ms since the epoch). */
  readonly exp: number;
  /** Absolute expiry (ms since the epoch). */
  readonly abs: number;
  readonly data: ReadonlyMap<string, string>;
}

/** A session opened from a cookie, and whether it was sealed with an older key. */
export interface OpenedSeal extends SealedSession {
  /** Opened with a key other than the first: re-seal it with the current key. */
  readonly staleKey: boolean;
}

interface Key {
  readonly id: Buffer;
  readonly key: Buffer;
}

/**
 * Seals and opens cookie payloads. The first secret seals; every secret opens (rotation).
 * @internal
 */
export class CookieSealer {
  readonly #keys: readonly Key[];

  /** @throws {SessionOptionsError} when no secret, or one shorter than 32 characters, is given. */
  constructor(secrets: string | readonly string[]) {
    const list = typeof secrets === 'string' ? [secrets] : [...secrets];
    if (list.length === 0) throw new SessionOptionsError('CookieStorage: options.secrets is empty; give at least one secret of 32+ characters.');
    this.#keys = list.map((secret, index) => {
      if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
        throw new SessionOptionsError(
          `CookieStorage: options.secrets[${index}] must be a string of at least ${MIN_SECRET_LENGTH} characters (e.g. crypto.randomBytes(32).toString('base64url')).`,
        );
      }
      const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'sessionware cookie v1', 32));
      const id = createHash('sha256').update('sessionware cookie key id').update(key).digest().subarray(0, KEY_ID_BYTES);
      return { id, key };
    });
    const ids = new Set(this.#keys.map((k) => k.id.toString('hex')));
    if (ids.size !== this.#keys.length) throw new SessionOptionsError('CookieStorage: options.secrets holds the same secret twice.');
  }

  /** The length in characters of the seal of a payload of `plaintextBytes` bytes (exact). */
  static sealedLength(plaintextBytes: number): number {
    return PREFIX.length + Math.ceil(((OVERHEAD + plaintextBytes) * 4) / 3);
  }

  /** The UTF-8 payload of `session`, whose byte length decides the seal's length. */
  static payload(session: SealedSession): Buffer {
    let data = '';
    for (const [key, text] of session.data) data += `${data === '' ? '' : ','}${JSON.stringify(key)}:${text}`;
    return Buffer.from(`{"v":1,"sid":${JSON.stringify(session.sid)},"iat":${session.iat},"exp":${session.exp},"abs":${session.abs},"d":{${data}}}`, 'utf8');
  }

  /** Seals `session` for the cookie `name` with the first key. */
  seal(session: SealedSession, name: string): string {
    const { id, key } = this.#keys[0] as Key;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(name));
    const body = Buffer.concat([cipher.update(CookieSealer.payload(session)), cipher.final()]);
    return PREFIX + Buffer.concat([id, iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /**
   * Opens a cookie value sealed for `name`. Resolves `undefined` for anything that is not an
   * intact seal of ours (forged, truncated, another cookie's, a removed key, a bad payload).
   * Expiry is not checked here.
   */
  open(value: string, name: string): OpenedSeal | undefined {
    if (!value.startsWith(PREFIX) || !/^[A-Za-z0-9_-]+$/.test(value.slice(PREFIX.length))) return undefined;
    const raw = Buffer.from(value.slice(PREFIX.length), 'base64url');
    if (raw.length <= OVERHEAD) return undefined;
    const keyId = raw.subarray(0, KEY_ID_BYTES);
    const index = this.#keys.findIndex((k) => k.id.equals(keyId));
    if (index < 0) return undefined;
    const iv = raw.subarray(KEY_ID_BYTES, KEY_ID_BYTES + IV_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', (this.#keys[index] as Key).key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(name));
      decipher.setAuthTag(tag);
      plain = Buffer.concat([decipher.update(raw.subarray(KEY_ID_BYTES + IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
    } catch {
      return undefined; // tampered, or sealed for another cookie name
    }
    const session = parsePayload(plain);
    return session && { ...session, staleKey: index !== 0 };
  }
}

/** Length-prefixed purpose string: injective, so no name can pose as another. */
function aad(name: string): Buffer {
  const purpose = Buffer.from(`sessionware/v1/${name}`, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(purpose.length);
  return Buffer.concat([length, purpose]);
}

function parsePayload(plain: Buffer): SealedSession | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { v, sid, iat, exp, abs, d } = parsed as Record<string, unknown>;
  if (v !== 1 || typeof sid !== 'string' || !isTime(iat) || !isTime(exp) || !isTime(abs) || typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
  const data = new Map<string, string>();
  for (const [key, value] of Object.entries(d as Record<string, unknown>)) data.set(key, JSON.stringify(value));
  return { sid, iat, exp, abs, data };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

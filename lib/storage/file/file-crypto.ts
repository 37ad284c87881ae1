/**
 * Encryption at rest for `FileStorage`: AES-256-GCM with a random 96-bit IV per write and the
 * file's header line plus the session id as additional authenticated data: a file cannot be
 * decrypted under another id, with another expiry or as another kind of file, and any change to
 * it is detected. Several keys allow rotation: the first encrypts, all decrypt.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SessionOptionsError } from '../../errors';

/** An AES-256 key: 32 bytes, as a `Buffer` or as 64 hex characters or base64 / base64url text. */
export type EncryptionKey = Buffer | Uint8Array | string;

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/**
 * Seals and opens file bodies with AES-256-GCM. Layout of a sealed body: IV (12 bytes), auth tag
 * (16 bytes), ciphertext.
 * @internal
 */
export class FileCipher {
  readonly #keys: readonly Buffer[];

  /** @throws {SessionOptionsError} when no key is given or a key is not 32 bytes. */
  constructor(keys: EncryptionKey | readonly EncryptionKey[]) {
    const list: readonly EncryptionKey[] = Array.isArray(keys) ? keys : [keys as EncryptionKey];
    if (list.length === 0) {
      throw new SessionOptionsError('FileStorage: options.encryptionKeys is empty; give at least one 32-byte key (e.g. crypto.randomBytes(32).toString("hex")).');
    }
    this.#keys = list.map((key, index) => parseKey(key, index));
  }

  /** Encrypts `plain` with the first key, binding it to `aad` (header line and id). */
  seal(plain: Buffer, aad: Buffer): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0] as Buffer, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  /** Decrypts a sealed body with whichever key fits; `undefined` when none does (or it is damaged). */
  open(sealed: Buffer, aad: Buffer): Buffer | undefined {
    if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
    const iv = sealed.subarray(0, IV_BYTES);
    const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const body = sealed.subarray(IV_BYTES + TAG_BYTES);
    for (const key of this.#keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        // wrong key or tampered data: try the next key
      }
    }
    return undefined;
  }
}

function parseKey(key: EncryptionKey, index: number): Buffer {
  let bytes: Buffer | undefined;
  if (typeof key === 'string') {
    if (HEX_KEY.test(key)) bytes = Buffer.from(key, 'hex');
    else if (BASE64_KEY.test(key)) bytes = Buffer.from(key, key.includes('-') || key.includes('_') ? 'base64url' : 'base64');
  } else if (key instanceof Uint8Array) {
    bytes = Buffer.from(key); // a copy: later changes to the caller's buffer do not affect us
  }
  if (bytes?.length !== KEY_BYTES) {
    throw new SessionOptionsError(
      `FileStorage: options.encryptionKeys[${index}] is not a 32-byte key; give a 32-byte Buffer, 64 hex characters or 44 base64 characters (e.g. crypto.randomBytes(32).toString("hex")).`,
    );
  }
  return bytes;
}

/**
 * Turns what `FileStorage` stores (session records and forwards) into file contents and back,
 * with or without encryption. With keys, the AEAD's additional data is the header line and the id:
 * a file whose expiry or kind was changed, or that was copied to another id, does not decrypt.
 * @module
 */
import { isValidId } from '../../id';
import { decodeRecord } from '../record-codec';
import type { FileCipher } from './file-crypto';
import { encodeHeader, type FileHeader, type FileKind } from './file-format';

/** A file that cannot be read back; `message` says why and holds no data. @internal */
export class CorruptFileError extends Error {
  override readonly name = 'CorruptFileError';
}

const aad = (header: Buffer, id: string): Buffer => Buffer.concat([header, Buffer.from(id, 'latin1')]);

/** Encodes and decodes file contents for one storage. @internal */
export class FileCodec {
  readonly #cipher: FileCipher | undefined;

  constructor(cipher: FileCipher | undefined) {
    this.#cipher = cipher;
  }

  /** A whole file: header line, then the (sealed, with keys) body. */
  encode(id: string, kind: FileKind, expiresAt: number, plain: Buffer): Buffer {
    const header = encodeHeader(expiresAt, kind, this.#cipher !== undefined);
    return Buffer.concat([header, this.#cipher ? this.#cipher.seal(plain, aad(header, id)) : plain]);
  }

  /** The session record of a `record` file. @throws {CorruptFileError} */
  record(id: string, header: FileHeader, bytes: Buffer): Map<string, string> {
    const body = this.#open(id, header, bytes);
    try {
      return decodeRecord(body.toString('utf8'));
    } catch {
      // The parser's message quotes the data: keep it out of the error.
      throw new CorruptFileError('file body is not a valid session record');
    }
  }

  /** The id a `forward` file points to. @throws {CorruptFileError} */
  forward(id: string, header: FileHeader, bytes: Buffer): string {
    const target = this.#open(id, header, bytes).toString('latin1');
    if (!isValidId(target) || target === id) throw new CorruptFileError('forward does not name a valid session id');
    return target;
  }

  /** The same file with another expiry (re-sealed with keys). @throws {CorruptFileError} */
  withExpiry(id: string, header: FileHeader, bytes: Buffer, expiresAt: number): Buffer {
    return this.encode(id, header.kind, expiresAt, this.#open(id, header, bytes));
  }

  #open(id: string, header: FileHeader, bytes: Buffer): Buffer {
    const body = bytes.subarray(header.bodyStart);
    if (!header.sealed) {
      if (this.#cipher) throw new CorruptFileError('file is not encrypted but encryptionKeys are set');
      return body;
    }
    if (!this.#cipher) throw new CorruptFileError('file is encrypted but no encryptionKeys are set');
    const opened = this.#cipher.open(body, aad(bytes.subarray(0, header.bodyStart), id));
    if (!opened) throw new CorruptFileError('file cannot be decrypted with any of the encryptionKeys (wrong key, or the file or its header was changed)');
    return opened;
  }
}

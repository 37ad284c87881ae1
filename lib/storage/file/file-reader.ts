/**
 * Reading `FileStorage`'s files: one read that never follows a link, the header's verdict (live,
 * forward, expired, damaged, foreign) and the decoding of records and forwards, with damaged files
 * reported as `CorruptSessionError`s and treated as missing.
 * @module
 */
import { CorruptSessionError, redactId, type StorageError } from '../../errors';
import { CorruptFileError, type FileCodec } from './file-codec';
import { hasMagic, parseHeader, type FileHeader } from './file-format';
import { isMissing, readNoFollow } from './file-io';
import { toFileError } from './file-gate';

const NAME = 'FileStorage';

/** A file as found at a session's path. @internal */
export type Found =
  | { readonly kind: 'missing' | 'dead' | 'foreign' }
  | { readonly kind: 'live' | 'forward'; readonly header: FileHeader; readonly bytes: Buffer };
/** A file with a valid, unexpired header. @internal */
export type Live = Found & { readonly kind: 'live' | 'forward' };

/** No file at the path. @internal */
export const MISSING_FILE: Found = { kind: 'missing' };
const MISSING = MISSING_FILE;
const DEAD: Found = { kind: 'dead' };
const FOREIGN: Found = { kind: 'foreign' };

/** Reads and decodes the files of one storage. @internal */
export class FileReader {
  readonly #codec: FileCodec;
  readonly #now: () => number;
  readonly #report: (error: StorageError) => void;

  constructor(codec: FileCodec, now: () => number, report: (error: StorageError) => void) {
    this.#codec = codec;
    this.#now = now;
    this.#report = report;
  }

  /** Reads a session's file: live (a session or a forward), dead (expired or damaged), foreign (a link, not ours) or missing. */
  async load(id: string, file: string, operation: string, report: boolean): Promise<Found> {
    let bytes: Buffer;
    try {
      bytes = await readNoFollow(file);
    } catch (err) {
      if (isMissing(err)) return MISSING;
      if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
      if (report) this.#report(new CorruptSessionError(NAME, operation, `session ${redactId(id)}: the session file is a symbolic link; it is never followed`));
      return FOREIGN;
    }
    const header = parseHeader(bytes);
    if (header === undefined) {
      if (report) this.#report(new CorruptSessionError(NAME, operation, `session ${redactId(id)}: file has no valid header (truncated or not a session file)`));
      return hasMagic(bytes) ? DEAD : FOREIGN;
    }
    if (header.expiresAt <= this.#now()) return DEAD;
    return { kind: header.kind === 'record' ? 'live' : 'forward', header, bytes };
  }

  /** The record of a live file, or `undefined` (reported) when it cannot be read back. */
  record(id: string, found: Live, operation: string): Map<string, string> | undefined {
    try {
      return this.#codec.record(id, found.header, found.bytes);
    } catch (err) {
      this.#report(corruptError(id, operation, err));
      return undefined;
    }
  }

  /** The id a forward points to, or `undefined` (reported) when it cannot be read back. */
  forward(id: string, found: Live, operation: string): string | undefined {
    try {
      return this.#codec.forward(id, found.header, found.bytes);
    } catch (err) {
      this.#report(corruptError(id, operation, err));
      return undefined;
    }
  }

  /** The same file with its expiry moved to `expiresAt`, or `undefined` (reported) when it cannot be read back. */
  withExpiry(id: string, found: Live, expiresAt: number): Buffer | undefined {
    try {
      return this.#codec.withExpiry(id, found.header, found.bytes, expiresAt);
    } catch (err) {
      this.#report(corruptError(id, 'updateTTL', err));
      return undefined;
    }
  }
}

function corruptError(id: string, operation: string, err: unknown): StorageError {
  if (err instanceof CorruptFileError) return new CorruptSessionError(NAME, operation, `session ${redactId(id)}: ${err.message}`);
  return toFileError(operation, err);
}


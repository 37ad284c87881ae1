/**
 * The on-disk format of one `FileStorage` file: a short ASCII header line, then the body.
 *
 * ```text
 * SWF1 <expiresAt> <p|g|f|e>\n<body>
 * ```
 * - `SWF1`: magic and format version (a future format gets `SWF2`);
 * - `expiresAt`: expiry as integer milliseconds since the epoch;
 * - the flag: `p` a session record as UTF-8 JSON (`encodeRecord`), `g` that JSON sealed with
 *   AES-256-GCM; `f` a forward left by `moveSession` (the body is the new id), `e` a sealed forward.
 *   Sealed bodies authenticate the whole header line and the id (see `FileCipher`), so a changed
 *   expiry or flag, or a file moved to another id, does not decrypt.
 * @module
 */

/** Magic and version marker at the start of every session file, with its separator. */
export const FILE_MAGIC = 'SWF1 ';
/** Longest header the parser looks at (magic, 16 digits, flag, separators, newline). */
export const MAX_HEADER = 32;

/** What a file holds: a session, or a forward to the id a session moved to. */
export type FileKind = 'record' | 'forward';

/** A parsed file header. */
export interface FileHeader {
  /** Expiry in milliseconds since the epoch. */
  readonly expiresAt: number;
  /** What the body is. */
  readonly kind: FileKind;
  /** Whether the body is encrypted. */
  readonly sealed: boolean;
  /** Offset of the body in the file (the header line's length, newline included). */
  readonly bodyStart: number;
}

const HEADER = /^SWF1 (\d{1,16}) ([pgfe])$/;
const MAGIC = Buffer.from(FILE_MAGIC, 'latin1');

/** Builds a header line. */
export function encodeHeader(expiresAt: number, kind: FileKind, sealed: boolean): Buffer {
  const flag = kind === 'record' ? (sealed ? 'g' : 'p') : sealed ? 'e' : 'f';
  return Buffer.from(`${FILE_MAGIC}${Math.max(0, Math.ceil(expiresAt))} ${flag}\n`, 'latin1');
}

/** Parses the header of a file (the whole file or at least its first {@link MAX_HEADER} bytes). */
export function parseHeader(file: Buffer): FileHeader | undefined {
  const newline = file.indexOf(10);
  if (newline < 0 || newline > MAX_HEADER) return undefined;
  const match = HEADER.exec(file.toString('latin1', 0, newline));
  if (!match) return undefined;
  const flag = match[2];
  return { expiresAt: Number(match[1]), kind: flag === 'p' || flag === 'g' ? 'record' : 'forward', sealed: flag === 'g' || flag === 'e', bodyStart: newline + 1 };
}

/** Whether a file starts like one of ours (its header may still be damaged). */
export function hasMagic(file: Buffer): boolean {
  return file.length >= MAGIC.length && file.subarray(0, MAGIC.length).equals(MAGIC);
}

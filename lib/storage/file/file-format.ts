/**
 * The on-disk format of one `FileStorage` session file: a short ASCII header line, then the body.
 *
 * ```text
 * SWF1 <expiresAt> <p|g>\n<body>
 * ```
 * - `SWF1`: magic and format version (a future format gets `SWF2`);
 * - `expiresAt`: expiry as integer milliseconds since the epoch;
 * - `p`: the body is the record as UTF-8 JSON (`encodeRecord`); `g`: it is that JSON sealed with
 *   AES-256-GCM (see `FileCipher`).
 * @module
 */

/** Magic and version marker at the start of every session file. */
export const FILE_MAGIC = 'SWF1';
/** Longest header the parser looks at (magic, 16 digits, flag, separators, newline). */
export const MAX_HEADER = 32;

/** A parsed session file header. */
export interface FileHeader {
  /** Expiry in milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Whether the body is encrypted. */
  readonly sealed: boolean;
  /** Offset of the body in the file. */
  readonly bodyStart: number;
}

const HEADER = /^SWF1 (\d{1,16}) ([pg])$/;

/** Builds a whole file: header line plus body. */
export function encodeFile(expiresAt: number, sealed: boolean, body: Buffer): Buffer {
  const header = Buffer.from(`${FILE_MAGIC} ${Math.max(0, Math.ceil(expiresAt))} ${sealed ? 'g' : 'p'}\n`, 'latin1');
  return Buffer.concat([header, body]);
}

/** Parses the header of `file` (the whole file or at least its first {@link MAX_HEADER} bytes). */
export function parseHeader(file: Buffer): FileHeader | undefined {
  const newline = file.indexOf(10);
  if (newline < 0 || newline > MAX_HEADER) return undefined;
  const match = HEADER.exec(file.toString('latin1', 0, newline));
  if (!match) return undefined;
  return { expiresAt: Number(match[1]), sealed: match[2] === 'g', bodyStart: newline + 1 };
}

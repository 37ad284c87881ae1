/**
 * The owner index of the SQL storages ("log out everywhere"): a nullable, indexed `owner` column
 * holding a digest of the session's owner (the reserved `$sw:owner` key), written by the same
 * statement that writes that key, so the index can never miss an owned session and `addOwner` has
 * nothing to do. Forwards and expired rows are never listed; the expiry sweep deletes their rows
 * (and so their index entries) like any other.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { OWNER_KEY } from '../../session-meta';
import type { SessionRecord } from '../storage';

/** The column's value for `owner`: SHA-256, base64url (43 ASCII characters, whatever the owner). @internal */
export function ownerDigest(owner: string): string {
  return createHash('sha256').update(owner, 'utf8').digest('base64url');
}

/** The digest of the owner whose JSON text is `json` (the text itself when it is not a JSON string). */
function digestOfText(json: string): string {
  let owner: unknown;
  try {
    owner = JSON.parse(json);
  } catch {
    owner = undefined;
  }
  return ownerDigest(typeof owner === 'string' ? owner : json);
}

/**
 * What a write does to the `owner` column: a digest when it sets `$sw:owner`, `''` when it removes
 * it (the column becomes `NULL`), `null` when it leaves it alone. @internal
 */
export function ownerChange(set: ReadonlyMap<string, string>, removed: Iterable<string>): string | null {
  const json = set.get(OWNER_KEY);
  if (json !== undefined) return digestOfText(json);
  for (const key of removed) if (key === OWNER_KEY) return '';
  return null;
}

/** The same for a compare-and-set of `key` to `next` (`undefined`: removed). @internal */
export function ownerChangeOfKey(key: string, next: string | undefined): string | null {
  if (key !== OWNER_KEY) return null;
  return next === undefined ? '' : digestOfText(next);
}

/**
 * The `owner` column of the new row of a move that copies the old row in SQL (without reading it
 * first): `copy` (keep the old row's column) or a `value` (a digest, or `null`), from the changes
 * and `keep` alone. E.g. `owner = IF(?, o.owner, ?)` with params `copy, value`. @internal
 */
export function movedOwner(changes: { readonly set: ReadonlyMap<string, string>; readonly removed: ReadonlySet<string> }, keep: ReadonlySet<string> | undefined): { copy: boolean; value: string | null } {
  if (keep !== undefined && !keep.has(OWNER_KEY)) return { copy: false, value: null };
  const change = ownerChange(changes.set, changes.removed);
  if (change === null) return { copy: true, value: null };
  return { copy: false, value: change === '' ? null : change };
}

/** The `owner` column of a whole record: its owner's digest, or `null`. @internal */
export function recordOwner(record: SessionRecord): string | null {
  const json = record.get(OWNER_KEY);
  return json === undefined ? null : digestOfText(json);
}

/** The reserved key, for SQL texts (`data ? '$sw:owner'`). @internal */
export const OWNER_FIELD = OWNER_KEY;

/**
 * The SQL of `MysqlStorage`, for MariaDB ≥ 10.4.5 and MySQL 8. Expiry uses the database clock
 * (`UTC_TIMESTAMP(3)`). MariaDB 10.11 gets `JSON_MERGE_PATCH` with `null` members and multi-path
 * `JSON_REMOVE` wrong on some inputs, so removals are nested single-path `JSON_REMOVE`s and the
 * patch never holds a `null` (its values are JSON texts, i.e. strings). In `ON DUPLICATE KEY
 * UPDATE` the assignments run left to right, so `data` is assigned before `expires_at`.
 * Statement texts vary only with the number of removed keys (and, for a move with `keep`, of
 * kept keys), so mysql2's per-connection cache of prepared statements stays small. No
 * MariaDB-only syntax (`RETURNING`) and no MySQL-only syntax (the `AS new` row alias): every
 * statement is meant to run on both (MySQL 8 checked against its documentation only).
 * @internal
 * @module
 */

import { OWNER_COLUMN, ownerIndexName } from './mysql-owner';

const NOW = 'UTC_TIMESTAMP(3)';
/** `?` microseconds from now. */
const LATER = `${NOW} + INTERVAL ? MICROSECOND`;
const LIVE = `expires_at > ${NOW} AND forward_to IS NULL`;

/** Quotes `schema.table` / `table` as identifiers (already validated: letters, digits, _). */
export function quoteMysqlTable(table: string): string {
  return table
    .split('.')
    .map((part) => `\`${part}\``)
    .join('.');
}

/** The JSON path of one key: `$."key"`, with the key's quotes and backslashes escaped. */
export function keyPath(key: string): string {
  return `$.${JSON.stringify(key)}`;
}

/** The `CREATE TABLE` the README shows, for `table`. */
export function mysqlSchema(table: string): string {
  const index = `\`${table.split('.').pop() as string}_expires_at\``;
  return `CREATE TABLE IF NOT EXISTS ${quoteMysqlTable(table)} (
  id         VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data       JSON NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  forward_to VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ${OWNER_COLUMN},
  PRIMARY KEY (id),
  KEY ${index} (expires_at),
  KEY \`${ownerIndexName(table)}\` (owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
}

/** `data` with `n` keys removed: `JSON_REMOVE(JSON_REMOVE(data, ?), ?)`. */
function removed(n: number, base = 'data'): string {
  let expr = base;
  for (let i = 0; i < n; i++) expr = `JSON_REMOVE(${expr}, ?)`;
  return expr;
}

/** Every statement of one table. @internal */
export class MysqlStatements {
  readonly schema: string;
  readonly get: string;
  readonly follow: string;
  readonly removeLive: string;
  readonly removeAny: string;
  readonly count: string;
  readonly #t: string;
  readonly #update = new Map<number, string>();
  readonly #upsert = new Map<number, string>();
  readonly #move = new Map<string, string>();

  constructor(table: string) {
    const t = quoteMysqlTable(table);
    this.#t = t;
    this.schema = mysqlSchema(table);
    this.get = `SELECT data FROM ${t} WHERE id = ? AND ${LIVE}`;
    // After a write matched nothing: is the id a live forward (and does the key hold `?`)?
    this.follow = `SELECT forward_to AS fwd FROM ${t} WHERE id = ? AND expires_at > ${NOW}`;
    this.removeLive = `DELETE FROM ${t} WHERE id = ? AND ${LIVE}`;
    this.removeAny = `DELETE FROM ${t} WHERE id = ?`;
    this.count = `SELECT COUNT(*) AS n FROM ${t} WHERE ${LIVE}`;
  }

  /** `create: false`: params `...paths, patch, µs, [owner,] id` (`owner`: the write sets the `owner` column, see `sql-owner`). */
  update(removals: number, owner = false): string {
    const shape = owner ? -1 - removals : removals;
    let text = this.#update.get(shape);
    if (!text) {
      text = `UPDATE ${this.#t} SET data = JSON_MERGE_PATCH(${removed(removals)}, ?), expires_at = ${LATER}${owner ? ', owner = ?' : ''} WHERE id = ? AND ${LIVE}`;
      this.#update.set(shape, text);
    }
    return text;
  }

  /**
   * `create: true`: params `id, patch, µs, owner, ...paths, patch, µs` (`owner` `null` when the
   * write leaves the column alone: a live row keeps it, a dead one loses it; `owner` is assigned
   * first, while `expires_at` still tells a live row).
   */
  upsert(removals: number, owner = false): string {
    const shape = owner ? -1 - removals : removals;
    let text = this.#upsert.get(shape);
    if (!text) {
      text = `INSERT INTO ${this.#t} (id, data, expires_at, owner) VALUES (?, ?, ${LATER}, ?)
ON DUPLICATE KEY UPDATE owner = ${owner ? 'VALUES(owner)' : `IF(${LIVE}, owner, NULL)`}, data = JSON_MERGE_PATCH(IF(${LIVE}, ${removed(removals)}, '{}'), ?), expires_at = ${LATER}, forward_to = NULL`;
      this.#upsert.set(shape, text);
    }
    return text;
  }

  /**
   * The move, in one statement: an `INSERT … SELECT` of two rows made from the live row `oldId`
   * (joined with a two-row table; no rows, so nothing written and `affectedRows` 0, when it is not
   * live): the new session (`k` = 1), and `oldId` itself (`k` = 2), which `ON DUPLICATE KEY
   * UPDATE` turns into a forward (a leftover row under the new id is replaced the same way).
   * `FOR UPDATE` locks the old row as it is read, so a concurrent write waits and then lands through
   * the forward, under READ COMMITTED too (a plain `INSERT … SELECT` reads a snapshot there and lost
   * such writes). The new data is built from `o.data`: without `keep`, `JSON_MERGE_PATCH` of the
   * nested removals and the patch (as `update`); with `keep`, each kept key is copied on its own
   * (`JSON_CONTAINS_PATH` / `JSON_EXTRACT`, one null-free patch per key), then the patch.
   * The new row's `owner` column is the old row's or the one `changes` give it (`movedOwner`), the
   * forward's `NULL`. Params `newId, ...data, patch, µs, µs, newId, copy owner, owner, oldId`;
   * `data` is the removed paths without `keep`, `path, key, path` per copied key with it.
   */
  move(keep: boolean, n: number): string {
    const shape = `${keep ? 'k' : 'r'}${n}`;
    let text = this.#move.get(shape);
    if (!text) {
      let data = keep ? 'JSON_OBJECT()' : removed(n, 'o.data');
      if (keep) for (let i = 0; i < n; i++) data = `JSON_MERGE_PATCH(${data}, IF(JSON_CONTAINS_PATH(o.data, 'one', ?), JSON_OBJECT(?, JSON_EXTRACT(o.data, ?)), JSON_OBJECT()))`;
      text = `INSERT INTO ${this.#t} (id, data, expires_at, forward_to, owner)
SELECT IF(two.k = 1, ?, o.id), IF(two.k = 1, JSON_MERGE_PATCH(${data}, ?), JSON_OBJECT()), ${NOW} + INTERVAL IF(two.k = 1, ?, ?) MICROSECOND, IF(two.k = 1, NULL, ?),
  IF(two.k = 1, IF(?, o.owner, ?), NULL)
FROM ${this.#t} AS o JOIN (SELECT 1 AS k UNION ALL SELECT 2) AS two
WHERE o.id = ? AND o.expires_at > ${NOW} AND o.forward_to IS NULL ORDER BY two.k FOR UPDATE
ON DUPLICATE KEY UPDATE data = VALUES(data), expires_at = VALUES(expires_at), forward_to = VALUES(forward_to), owner = VALUES(owner)`;
      this.#move.set(shape, text);
    }
    return text;
  }

  /** Compare-and-set on a live row: params `[path, next]` or `[path]`, µs, [owner,] id, path[, expected]. */
  cas(remove: boolean, expectAbsent: boolean, owner = false): string {
    const apply = remove ? 'JSON_REMOVE(data, ?)' : 'JSON_SET(data, ?, ?)';
    return `UPDATE ${this.#t} SET data = ${apply}, expires_at = ${LATER}${owner ? ', owner = ?' : ''} WHERE id = ? AND ${LIVE} AND ${matches(expectAbsent)}`;
  }

  /** Why a compare-and-set matched nothing: params `path[, expected], id`. */
  casFollow(expectAbsent: boolean): string {
    return `SELECT forward_to AS fwd, ${matches(expectAbsent)} AS matched FROM ${this.#t} WHERE id = ? AND expires_at > ${NOW}`;
  }

  /**
   * Compare-and-set creating the session: inserts (or replaces a dead row) only when no live row
   * exists and the key is expected absent. Params `id, data, µs, owner, id`.
   */
  casCreate(): string {
    return `INSERT INTO ${this.#t} (id, data, expires_at, owner)
SELECT ?, ?, ${LATER}, ? FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM ${this.#t} WHERE id = ? AND ${LIVE})
ON DUPLICATE KEY UPDATE data = VALUES(data), expires_at = VALUES(expires_at), owner = VALUES(owner), forward_to = NULL`;
  }

  /** Batched refresh of `n` ids (sent as text, so its many shapes stay out of the statement cache). */
  refresh(n: number): string {
    return `UPDATE ${this.#t} SET expires_at = ${LATER} WHERE id IN (${Array(n).fill('?').join(', ')}) AND ${LIVE}`;
  }

  /** The ids of at most `limit` expired rows (an integer, inlined): a plain read, it locks nothing. */
  expired(limit: number): string {
    return `SELECT id FROM ${this.#t} WHERE expires_at <= ${NOW} ORDER BY expires_at LIMIT ${Math.floor(limit)}`;
  }

  /**
   * Deletes those of `n` ids (sorted) that are still expired. By primary key in id order, like the
   * batched refresh, so the two never lock rows in opposite orders (a sweep walking the
   * `expires_at` index while deleting deadlocked against refreshes).
   */
  sweep(n: number): string {
    return `DELETE FROM ${this.#t} WHERE id IN (${Array(n).fill('?').join(', ')}) AND expires_at <= ${NOW}`;
  }
}

/** Whether the key at path `?` holds `?` (byte for byte), or is absent. */
function matches(expectAbsent: boolean): string {
  return expectAbsent ? `JSON_CONTAINS_PATH(data, 'one', ?) = 0` : `COALESCE(CAST(JSON_UNQUOTE(JSON_EXTRACT(data, ?)) AS BINARY) = CAST(? AS BINARY), 0)`;
}

/**
 * The owner index of `MysqlStorage` ("log out everywhere"): the SQL of the `owner` column (a
 * SHA-256 digest of the owner, ASCII, binary collation) and its index, and of the schema check
 * that adds them to a table created by an earlier version. See `sql/sql-owner` for how the column
 * follows the session's `$sw:owner` key.
 * @internal
 * @module
 */
/** The column, as `CREATE TABLE` and `ALTER TABLE … ADD COLUMN` write it. */
export const OWNER_COLUMN = 'owner      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL';

/** The name of the owner index of `table`. */
export function ownerIndexName(table: string): string {
  return `${table.split('.').pop() as string}_owner`;
}

/** The owner-index statements of one table. @internal */
export class MysqlOwnerStatements {
  /** The live sessions of owner digest `?`: `id`, `exp` (ms since the epoch, UTC). */
  readonly owned: string;
  /** Whether the table has the column (`c`) and the index (`i`): params `schema or null, table, schema or null, table`. */
  readonly check: string;
  readonly addColumn: string;
  readonly addIndex: string;
  /** Params: the schema (`null`: the current database) and the bare table name. */
  readonly where: readonly [string | null, string];
  readonly #t: string;

  /** @param t the table, quoted (`quoteMysqlTable`). */
  constructor(table: string, t: string) {
    this.#t = t;
    const parts = table.split('.');
    this.where = parts.length === 2 ? [parts[0] as string, parts[1] as string] : [null, table];
    this.owned = `SELECT id, CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', expires_at) DIV 1000 AS SIGNED) AS exp FROM ${t}
WHERE owner = ? AND expires_at > UTC_TIMESTAMP(3) AND forward_to IS NULL`;
    const scope = 'TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?';
    this.check = `SELECT
  (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE ${scope} AND COLUMN_NAME = 'owner') AS c,
  (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE ${scope} AND INDEX_NAME = '${ownerIndexName(table)}') AS i`;
    this.addColumn = `ALTER TABLE ${t} ADD COLUMN ${OWNER_COLUMN}`;
    this.addIndex = `ALTER TABLE ${t} ADD KEY \`${ownerIndexName(table)}\` (owner)`;
  }

  /**
   * Adds the column and the index to a table created by an earlier version, where missing (MySQL
   * 8 has no `ADD COLUMN IF NOT EXISTS`: `information_schema` tells). Another process adding them
   * at the same moment is not a failure.
   */
  async upgrade(query: (sql: string, values: unknown[]) => Promise<ReadonlyArray<Record<string, unknown>>>): Promise<void> {
    const [schema, table] = this.where;
    const row = (await query(this.check, [schema, table, schema, table]))[0];
    const unless = (errno: number) => (err: unknown) => {
      if ((err as { errno?: number }).errno !== errno) throw err;
    };
    if (Number(row?.['c']) === 0) await query(this.addColumn, []).catch(unless(1060)); // ER_DUP_FIELDNAME
    if (Number(row?.['i']) === 0) await query(this.addIndex, []).catch(unless(1061)); // ER_DUP_KEYNAME
  }

  /** Clears owner digest `?` on `n` ids: params `owner, ...ids`. */
  forget(n: number): string {
    return `UPDATE ${this.#t} SET owner = NULL WHERE owner = ? AND id IN (${Array(n).fill('?').join(', ')})`;
  }
}

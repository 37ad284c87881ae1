/**
 * The SQL of `PostgresStorage`, one named (prepared) statement per operation. Every expiry check
 * uses the database clock (`now()`), never Node's. `$n::bigint * interval '1 millisecond'` turns a
 * TTL in ms into an interval. Merges are parenthesised: `a || b - c` would parse as `a || (b - c)`.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { OWNER_FIELD } from '../sql/sql-owner';

/** A named statement, as `pg` takes it (`{ name, text }` plus `values` at call time). */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** Every statement of one table. @internal */
export interface PostgresStatements {
  readonly schema: string;
  readonly get: Statement;
  readonly update: Statement;
  readonly upsert: Statement;
  readonly remove: Statement;
  readonly move: Statement;
  readonly cas: Statement;
  readonly casCreate: Statement;
  readonly count: Statement;
  readonly refresh: Statement;
  readonly sweep: Statement;
  /** The live sessions of an owner digest: `id`, `exp` (ms since the epoch). */
  readonly owned: Statement;
  /** Clears the owner digest `$1` of the rows `$2`. */
  readonly forget: Statement;
  /** The quoted table name. */
  readonly table: string;
  /** Whether the table (`$1`: its quoted name) exists (`present`) and has the `owner` column (`owned`; a table of an earlier version has not). */
  readonly hasOwner: Statement;
  /** Adds the `owner` column to a table of an earlier version. */
  readonly addOwner: string;
}

const ms = (n: number) => `now() + $${n}::bigint * interval '1 millisecond'`;
/** The stored data of a row as a base for new writes: empty when it is expired or a forward. */
const BASE = `(CASE WHEN s.expires_at > now() AND s.forward_to IS NULL THEN s.data ELSE '{}'::jsonb END)`;
/** The `owner` column after a write whose owner change (see `ownerChange`) is `$n`: NULL keeps it, '' clears it. */
const OWNER = (n: number, current = 'owner') => `CASE WHEN $${n}::text IS NULL THEN ${current} ELSE NULLIF($${n}::text, '') END`;
/** The same in `ON CONFLICT`: the owner of a dead or forward row is not kept. */
const OWNER_UPSERT = (n: number) => `CASE WHEN $${n}::text IS NULL AND s.expires_at > now() AND s.forward_to IS NULL THEN s.owner ELSE NULLIF($${n}::text, '') END`;

/** Quotes `schema.table` / `table` as identifiers (already validated: letters, digits, _). */
export function quoteTable(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/** The `CREATE TABLE` / `CREATE INDEX` the README shows, for `table`. */
export function postgresSchema(table: string): string {
  const t = quoteTable(table);
  const name = table.split('.').pop() as string;
  return `CREATE TABLE IF NOT EXISTS ${t} (
  id         varchar(128) COLLATE "C" PRIMARY KEY,
  data       jsonb        NOT NULL,
  expires_at timestamptz  NOT NULL,
  forward_to varchar(128) COLLATE "C",
  owner      varchar(64)  COLLATE "C"
);
CREATE INDEX IF NOT EXISTS "${name}_expires_at" ON ${t} (expires_at);
CREATE INDEX IF NOT EXISTS "${name}_owner" ON ${t} (owner) WHERE owner IS NOT NULL;`;
}

/** Builds the statements for `table`; names carry a hash of it, so storages on other tables can share a pool. */
export function postgresStatements(table: string): PostgresStatements {
  const t = quoteTable(table);
  const tag = `sw2_${createHash('sha1').update(t).digest('hex').slice(0, 10)}`;
  const st = (op: string, text: string): Statement => ({ name: `${tag}_${op}`, text });
  // What a write saw in its snapshot, to tell "gone" from "a forward" from "changed under us".
  const seen = `FROM (SELECT 1) AS one LEFT JOIN ${t} AS s ON s.id = $1 AND s.expires_at > now()`;
  const matches = (d: string) => `(CASE WHEN $3::text IS NULL THEN NOT (${d} ? $2::text) ELSE (${d} ->> $2::text) COLLATE "C" = $3::text END)`;
  const apply = (d: string) => `(CASE WHEN $4::text IS NULL THEN ${d} - $2::text ELSE jsonb_set(${d}, ARRAY[$2::text], to_jsonb($4::text)) END)`;
  return {
    schema: postgresSchema(table),
    get: st('get', `SELECT data FROM ${t} WHERE id = $1 AND expires_at > now() AND forward_to IS NULL`),
    update: st(
      'update',
      `WITH w AS (
  UPDATE ${t} SET data = (data || $2::jsonb) - $3::text[], expires_at = ${ms(4)}, owner = ${OWNER(5)}
  WHERE id = $1 AND expires_at > now() AND forward_to IS NULL RETURNING 1)
SELECT (SELECT count(*) FROM w)::int AS n, s.forward_to AS fwd, s.id IS NOT NULL AS seen ${seen}`,
    ),
    upsert: st(
      'upsert',
      `INSERT INTO ${t} AS s (id, data, expires_at, owner) VALUES ($1, $2::jsonb - $3::text[], ${ms(4)}, NULLIF($5::text, ''))
ON CONFLICT (id) DO UPDATE SET data = (${BASE} || EXCLUDED.data) - $3::text[], expires_at = EXCLUDED.expires_at, forward_to = NULL, owner = ${OWNER_UPSERT(5)}`,
    ),
    remove: st('remove', `DELETE FROM ${t} WHERE id = $1 RETURNING forward_to AS fwd, expires_at > now() AS live`),
    move: st(
      'move',
      `WITH old AS (
  SELECT id, data, owner FROM ${t} WHERE id = $1 AND expires_at > now() AND forward_to IS NULL FOR UPDATE
), fwd AS (
  UPDATE ${t} AS f SET data = '{}'::jsonb, forward_to = $2, expires_at = ${ms(6)}, owner = NULL
  FROM old WHERE f.id = old.id RETURNING (old.data || $3::jsonb) - $4::text[] AS m, old.owner AS o
), kept AS (
  SELECT CASE WHEN $7::text[] IS NULL THEN m
    ELSE m - ARRAY(SELECT k FROM jsonb_object_keys(m) AS k WHERE NOT (k = ANY($7::text[]))) END AS data, o FROM fwd
)
INSERT INTO ${t} AS s (id, data, expires_at, owner)
SELECT $2, data, ${ms(5)}, CASE WHEN data ? '${OWNER_FIELD}' THEN ${OWNER(8, 'o')} END FROM kept
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at, forward_to = NULL, owner = EXCLUDED.owner
RETURNING data`,
    ),
    cas: st(
      'cas',
      `WITH w AS (
  UPDATE ${t} SET data = ${apply('data')}, expires_at = ${ms(5)}, owner = ${OWNER(6)}
  WHERE id = $1 AND expires_at > now() AND forward_to IS NULL AND ${matches('data')} RETURNING 1)
SELECT (SELECT count(*) FROM w)::int AS n, s.forward_to AS fwd, s.id IS NOT NULL AS seen, ${matches('s.data')} AS matched ${seen}`,
    ),
    casCreate: st(
      'cas_create',
      `INSERT INTO ${t} AS s (id, data, expires_at, owner)
SELECT $1::varchar, CASE WHEN $4::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($2::text, $4::text) END, ${ms(5)}, NULLIF($6::text, '')
WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM ${t} WHERE id = $1::varchar)
ON CONFLICT (id) DO UPDATE SET data = ${apply(BASE)}, expires_at = EXCLUDED.expires_at, forward_to = NULL, owner = ${OWNER_UPSERT(6)}
WHERE ${matches(BASE)}`,
    ),
    count: st('count', `SELECT count(*) AS n FROM ${t} WHERE expires_at > now() AND forward_to IS NULL`),
    refresh: st(
      'refresh',
      `UPDATE ${t} SET expires_at = ${ms(2)} WHERE id IN (
  SELECT id FROM ${t} WHERE id = ANY($1::text[]) AND expires_at > now() AND forward_to IS NULL FOR UPDATE SKIP LOCKED)`,
    ),
    sweep: st(
      'sweep',
      `DELETE FROM ${t} WHERE id IN (
  SELECT id FROM ${t} WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    ),
    owned: st('owned', `SELECT id, floor(extract(epoch FROM expires_at) * 1000)::bigint AS exp FROM ${t} WHERE owner = $1 AND expires_at > now() AND forward_to IS NULL`),
    forget: st('forget', `UPDATE ${t} SET owner = NULL WHERE owner = $1 AND id = ANY($2::text[])`),
    table: t,
    hasOwner: st(
      'has_owner',
      `SELECT to_regclass($1) IS NOT NULL AS present, EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'owner' AND NOT attisdropped) AS owned`,
    ),
    addOwner: `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS owner varchar(64) COLLATE "C"`,
  };
}

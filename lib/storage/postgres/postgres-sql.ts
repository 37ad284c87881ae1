/**
 * The SQL of `PostgresStorage`, one named (prepared) statement per operation. Every expiry check
 * uses the database clock (`now()`), never Node's. `$n::bigint * interval '1 millisecond'` turns a
 * TTL in ms into an interval. Merges are parenthesised: `a || b - c` would parse as `a || (b - c)`.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';

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
}

const ms = (n: number) => `now() + $${n}::bigint * interval '1 millisecond'`;
/** The stored data of a row as a base for new writes: empty when it is expired or a forward. */
const BASE = `(CASE WHEN s.expires_at > now() AND s.forward_to IS NULL THEN s.data ELSE '{}'::jsonb END)`;

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
  const index = `"${table.split('.').pop() as string}_expires_at"`;
  return `CREATE TABLE IF NOT EXISTS ${t} (
  id         varchar(128) COLLATE "C" PRIMARY KEY,
  data       jsonb        NOT NULL,
  expires_at timestamptz  NOT NULL,
  forward_to varchar(128) COLLATE "C"
);
CREATE INDEX IF NOT EXISTS ${index} ON ${t} (expires_at);`;
}

/** Builds the statements for `table`; names carry a hash of it, so storages on other tables can share a pool. */
export function postgresStatements(table: string): PostgresStatements {
  const t = quoteTable(table);
  const tag = `sw1_${createHash('sha1').update(t).digest('hex').slice(0, 10)}`;
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
  UPDATE ${t} SET data = (data || $2::jsonb) - $3::text[], expires_at = ${ms(4)}
  WHERE id = $1 AND expires_at > now() AND forward_to IS NULL RETURNING 1)
SELECT (SELECT count(*) FROM w)::int AS n, s.forward_to AS fwd, s.id IS NOT NULL AS seen ${seen}`,
    ),
    upsert: st(
      'upsert',
      `INSERT INTO ${t} AS s (id, data, expires_at) VALUES ($1, $2::jsonb - $3::text[], ${ms(4)})
ON CONFLICT (id) DO UPDATE SET data = (${BASE} || EXCLUDED.data) - $3::text[], expires_at = EXCLUDED.expires_at, forward_to = NULL`,
    ),
    remove: st('remove', `DELETE FROM ${t} WHERE id = $1 RETURNING forward_to AS fwd, expires_at > now() AS live`),
    move: st(
      'move',
      `WITH old AS (
  SELECT id, data FROM ${t} WHERE id = $1 AND expires_at > now() AND forward_to IS NULL FOR UPDATE
), fwd AS (
  UPDATE ${t} AS f SET data = '{}'::jsonb, forward_to = $2, expires_at = ${ms(6)}
  FROM old WHERE f.id = old.id RETURNING (old.data || $3::jsonb) - $4::text[] AS m
), kept AS (
  SELECT CASE WHEN $7::text[] IS NULL THEN m
    ELSE m - ARRAY(SELECT k FROM jsonb_object_keys(m) AS k WHERE NOT (k = ANY($7::text[]))) END AS data FROM fwd
)
INSERT INTO ${t} AS s (id, data, expires_at) SELECT $2, data, ${ms(5)} FROM kept
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at, forward_to = NULL
RETURNING data`,
    ),
    cas: st(
      'cas',
      `WITH w AS (
  UPDATE ${t} SET data = ${apply('data')}, expires_at = ${ms(5)}
  WHERE id = $1 AND expires_at > now() AND forward_to IS NULL AND ${matches('data')} RETURNING 1)
SELECT (SELECT count(*) FROM w)::int AS n, s.forward_to AS fwd, s.id IS NOT NULL AS seen, ${matches('s.data')} AS matched ${seen}`,
    ),
    casCreate: st(
      'cas_create',
      `INSERT INTO ${t} AS s (id, data, expires_at)
SELECT $1::varchar, CASE WHEN $4::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($2::text, $4::text) END, ${ms(5)}
WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM ${t} WHERE id = $1::varchar)
ON CONFLICT (id) DO UPDATE SET data = ${apply(BASE)}, expires_at = EXCLUDED.expires_at, forward_to = NULL
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
  };
}

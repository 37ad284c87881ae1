/**
 * Random merges on the real servers, checked byte for byte against a model: awkward keys (quotes,
 * backslashes, dots, JSON-path syntax, Cyrillic, emoji, the empty key) and values (escapes,
 * U+2028, big numbers, deep nesting). MariaDB's JSON functions get some of these wrong in other
 * forms (see lib/storage/mysql/mysql-sql.ts).
 */
import { generateId, type Storage } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { PostgresStorage } from 'sessionware/postgres';
import { dropMysqlTable, dropPgTable, endMysql, mysqlPool, pgPool, uniqueTable } from '../helpers/sql';

const KEYS = ['k"q', 'k.dot', 'ключ', 'emoji😀', 'k\\b', '', '{a}', 'a,b', '$', 'k*', "k'q", 'é', 'a b', '[0]', 'k\nl', '__proto__', 'plain', 'x.y.z', '"', '😀😀'];
const VALUES: unknown[] = ['', 'héllo "quoted" \\ \u2028 😀', 12345678901234567890, 0.1 + 0.2, -0, null, true, [], {}, { a: [1, { b: null }] }, 'ключ', '\u0000nul', 'a'.repeat(300), [1, '2', [3]], { 'k"q': 'v' }];
const HOUR = 3_600_000;

/** A small deterministic PRNG, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function fuzz(storage: Storage, rounds: number, seed: number): Promise<void> {
  const rand = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const id = generateId();
  const model = new Map<string, string>();
  await storage.setSession(id, { set: new Map(), removed: new Set() }, HOUR, { create: true });
  for (let round = 0; round < rounds; round++) {
    const set = new Map<string, string>();
    const removed = new Set<string>();
    const n = 1 + Math.floor(rand() * 6);
    for (let i = 0; i < n; i++) {
      const key = pick(KEYS);
      if (set.has(key) || removed.has(key)) continue;
      if (rand() < 0.35) removed.add(key);
      else set.set(key, JSON.stringify(rand() < 0.3 ? { round, v: pick(VALUES) } : pick(VALUES)));
    }
    expect(await storage.setSession(id, { set, removed }, HOUR, { create: false })).toBe(true);
    for (const [k, v] of set) model.set(k, v);
    for (const k of removed) model.delete(k);
    const stored = await storage.getSession(id, HOUR);
    const got = [...(stored ?? [])].sort(([a], [b]) => (a < b ? -1 : 1));
    const want = [...model].sort(([a], [b]) => (a < b ? -1 : 1));
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`seed ${seed}, round ${round}: stored ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
}

/** Random moves (`regenerate()`), with and without `keep`, each checked against a model. */
async function fuzzMoves(storage: Storage, rounds: number, seed: number): Promise<void> {
  const rand = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  let id = generateId();
  const model = new Map<string, string>();
  for (const key of KEYS) if (rand() < 0.5) model.set(key, JSON.stringify(pick(VALUES)));
  await storage.setSession(id, { set: new Map(model), removed: new Set() }, HOUR, { create: true });
  for (let round = 0; round < rounds; round++) {
    const set = new Map<string, string>();
    const removed = new Set<string>();
    for (let i = 0, n = Math.floor(rand() * 5); i < n; i++) {
      const key = pick(KEYS);
      if (set.has(key) || removed.has(key)) continue;
      if (rand() < 0.35) removed.add(key);
      else set.set(key, JSON.stringify({ round, v: pick(VALUES) }));
    }
    const keep = rand() < 0.6 ? new Set(KEYS.filter(() => rand() < 0.5)) : undefined;
    const next = generateId();
    const moved = await storage.moveSession(id, next, { set, removed }, HOUR, { keep, forwardTTL: HOUR });
    for (const [k, v] of set) model.set(k, v);
    for (const k of removed) model.delete(k);
    if (keep) for (const k of [...model.keys()]) if (!keep.has(k)) model.delete(k);
    const after = await storage.getSession(next, HOUR);
    for (const [k, v] of moved ?? new Map<string, string>()) if (after?.get(k) !== v) throw new Error(`seed ${seed}, round ${round}: moveSession resolved ${JSON.stringify(k)} as ${v}, stored ${String(after?.get(k))}`);
    // Refill a session that kept little, so later moves still have keys to copy.
    if (model.size < 3) {
      const refill = new Map(KEYS.filter(() => rand() < 0.5).map((k) => [k, JSON.stringify(pick(VALUES))]));
      expect(await storage.setSession(next, { set: refill, removed: new Set() }, HOUR, { create: false })).toBe(true);
      for (const [k, v] of refill) model.set(k, v);
    }
    const sorted = (r: Iterable<[string, string]>) => JSON.stringify([...r].sort(([a], [b]) => (a < b ? -1 : 1)));
    const stored = await storage.getSession(next, HOUR);
    if (sorted(stored ?? []) !== sorted(model)) throw new Error(`seed ${seed}, round ${round}: stored ${sorted(stored ?? [])}, expected ${sorted(model)}`);
    expect(await storage.getSession(id, HOUR)).toBeUndefined();
    id = next;
  }
}

describe('random merges checked byte for byte', () => {
  it.each([
    ['PostgresStorage', 'pg'],
    ['MysqlStorage', 'mysql'],
  ])('should match the model after 300 random moves (keep, changes, awkward keys) on %s', async (_name, kind) => {
    const pg = kind === 'pg' ? pgPool() : undefined;
    const my = kind === 'mysql' ? mysqlPool() : undefined;
    const table = uniqueTable('sw_move_fuzz');
    const storage: Storage = pg ? new PostgresStorage(pg, { table }) : new MysqlStorage(my as NonNullable<typeof my>, { table });
    try {
      await fuzzMoves(storage, 300, kind === 'pg' ? 3 : 4);
    } finally {
      await storage.close();
      if (pg) await dropPgTable(pg, table).then(() => pg.end());
      if (my) await dropMysqlTable(my, table).then(() => endMysql(my));
    }
  });

  it('should match the model on PostgresStorage (1500 merges)', async () => {
    const pool = pgPool();
    const table = uniqueTable('sw_pg_fuzz');
    const storage = new PostgresStorage(pool, { table });
    try {
      await fuzz(storage, 1500, 1);
    } finally {
      await storage.close();
      await dropPgTable(pool, table);
      await pool.end();
    }
  });

  it('should match the model on MysqlStorage (1500 merges)', async () => {
    const pool = mysqlPool();
    const table = uniqueTable('sw_my_fuzz');
    const storage = new MysqlStorage(pool, { table });
    try {
      await fuzz(storage, 1500, 2);
    } finally {
      await storage.close();
      await dropMysqlTable(pool, table);
      await endMysql(pool);
    }
  });

  it.each([
    ['PostgresStorage', 'pg'],
    ['MysqlStorage', 'mysql'],
  ])('should compare and set awkward keys byte for byte on %s', async (_name, kind) => {
    const pg = kind === 'pg' ? pgPool() : undefined;
    const my = kind === 'mysql' ? mysqlPool() : undefined;
    const table = uniqueTable('sw_cas_fuzz');
    const storage: Storage = pg ? new PostgresStorage(pg, { table }) : new MysqlStorage(my as NonNullable<typeof my>, { table });
    try {
      const id = generateId();
      await storage.setSession(id, { set: new Map(), removed: new Set() }, HOUR, { create: true });
      const cas = storage.compareAndSet?.bind(storage) as NonNullable<Storage['compareAndSet']>;
      for (const key of KEYS) {
        for (const value of VALUES) {
          const text = JSON.stringify(value);
          const current = (await storage.getSession(id, HOUR))?.get(key);
          expect(await cas(id, key, current, text, HOUR, { create: false })).toBe('ok');
          expect(await cas(id, key, current, text, HOUR, { create: false })).toBe(current === text ? 'ok' : 'conflict');
          expect((await storage.getSession(id, HOUR))?.get(key)).toBe(text);
        }
        expect(await cas(id, key, JSON.stringify(VALUES.at(-1)), undefined, HOUR, { create: false })).toBe('ok');
        expect((await storage.getSession(id, HOUR))?.has(key)).toBe(false);
      }
    } finally {
      await storage.close();
      if (pg) await dropPgTable(pg, table).then(() => pg.end());
      if (my) await dropMysqlTable(my, table).then(() => endMysql(my));
    }
  });
});

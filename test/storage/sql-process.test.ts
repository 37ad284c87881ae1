/**
 * Two Node processes sharing one database table keep the guarantees: overlapping writes on
 * disjoint keys from both are all kept, a logout in one wins against writers in the other, and a
 * regenerate in one forwards the other's late writes. Both children connect first, then start
 * their work at the same moment.
 */
import { generateId } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { PostgresStorage } from 'sessionware/postgres';
import { libPath, runScript } from '../helpers/child';
import { dropMysqlTable, dropPgTable, endMysql, mysqlPool, mysqlUrl, pgPool, pgUrl, uniqueTable } from '../helpers/sql';

const HOUR = 3_600_000;
const KINDS = [
  { name: 'PostgresStorage', file: 'storage/postgres/postgres-storage.ts', url: pgUrl },
  { name: 'MysqlStorage', file: 'storage/mysql/mysql-storage.ts', url: mysqlUrl },
] as const;

/** A child that opens the storage on argv (url, table) and runs `body` with `id` = argv[4]. */
const script = (kind: (typeof KINDS)[number], body: string) => `
  const { ${kind.name} } = require(${JSON.stringify(libPath(kind.file))});
  const [url, table, id, role, startAt] = process.argv.slice(2);
  const storage = new ${kind.name}(url, { table, onError: (e) => console.error('onError', e.message) });
  const one = (key, value) => ({ set: new Map([[key, JSON.stringify(value)]]), removed: new Set() });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  (async () => { await storage.count(); await sleep(Number(startAt) - Date.now()); ${body} ; await storage.close(); })().catch((err) => { console.error('FAILED', err && err.message); process.exit(1); });
`;

describe.each(KINDS)('$name shared by two processes', (kind) => {
  const table = uniqueTable('sw_proc');
  let storage: PostgresStorage | MysqlStorage;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    if (kind.name === 'PostgresStorage') {
      const pool = pgPool();
      storage = new PostgresStorage(pool, { table });
      drop = async () => {
        await dropPgTable(pool, table);
        await pool.end();
      };
    } else {
      const pool = mysqlPool();
      storage = new MysqlStorage(pool, { table });
      drop = async () => {
        await dropMysqlTable(pool, table);
        await endMysql(pool);
      };
    }
    await storage.count(); // creates the table before the children race to
  });
  afterAll(async () => {
    await storage.close();
    await drop();
  });

  /** Runs `body` in two children (roles A and B) that start it at the same moment. */
  const both = (body: string, id: string) => {
    const startAt = String(Date.now() + 4000);
    return Promise.all(['A', 'B'].map((role) => runScript(script(kind, body), { args: [kind.url(), table, id, role, startAt], timeoutMs: 30_000 })));
  };

  it('should keep every disjoint write of both processes', async () => {
    const id = generateId();
    await storage.setSession(id, { set: new Map([['base', '1']]), removed: new Set() }, HOUR, { create: true });
    const results = await both(
      `await Promise.all(Array.from({ length: 40 }, (_, i) => storage.setSession(id, one(role + i, i), ${HOUR}, { create: false }).then((ok) => { if (!ok) throw new Error('dropped'); })));`,
      id,
    );
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const stored = await storage.getSession(id, HOUR);
    expect(stored?.size).toBe(81);
    for (const role of ['A', 'B']) for (let i = 0; i < 40; i++) expect(stored?.get(`${role}${i}`)).toBe(String(i));
  });

  it('should let a logout in one process win against writers in the other', async () => {
    const id = generateId();
    await storage.setSession(id, { set: new Map([['user', '"alice"']]), removed: new Set() }, HOUR, { create: true });
    const results = await both(
      `if (role === 'A') { await sleep(30); if (!(await storage.removeAll(id))) throw new Error('nothing removed'); console.log('removed'); }
       else { for (let i = 0; i < 200; i++) { await storage.setSession(id, one('w' + i, i), ${HOUR}, { create: false }); } }`,
      id,
    );
    for (const r of results) expect(r.code).toBe(0);
    expect(results[0]?.stdout).toContain('removed');
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    await expect(storage.setSession(id, { set: new Map([['late', '1']]), removed: new Set() }, HOUR, { create: false })).resolves.toBe(false);
  });

  it('should forward late writes of one process to the session the other moved', async () => {
    const id = generateId();
    const next = generateId();
    await storage.setSession(id, { set: new Map([['user', '"alice"']]), removed: new Set() }, HOUR, { create: true });
    const results = await both(
      `if (role === 'A') { await sleep(20); const moved = await storage.moveSession(id, ${JSON.stringify(next)}, { set: new Map(), removed: new Set() }, ${HOUR}, { keep: undefined, forwardTTL: 60000 }); if (!moved) throw new Error('not moved'); }
       else { for (let i = 0; i < 60; i++) { const ok = await storage.setSession(id, one('w' + i, i), ${HOUR}, { create: false }); if (!ok) throw new Error('lost w' + i); } }`,
      id,
    );
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    const stored = await storage.getSession(next, HOUR);
    expect(stored?.get('user')).toBe('"alice"');
    for (let i = 0; i < 60; i++) expect(stored?.get(`w${i}`)).toBe(String(i));
  });

  it('should let a process exit while refreshes are queued and the sweep timer is set (both unref\'d)', async () => {
    const started = Date.now();
    const result = await runScript(
      script(
        kind,
        `await storage.setSession(id, one('a', 1), ${HOUR}, { create: true });
         await storage.updateTTL(id, ${HOUR});
         if (storage.pendingTTLUpdates !== 1) throw new Error('not queued');
         process.exitCode = 0;`,
      ).replace('; await storage.close(); })()', '; await new Promise((r) => storage.pool.end(r)); })()'),
      { args: [kind.url(), table, generateId(), 'A', '0'], timeoutMs: 15_000 },
    );
    expect({ code: result.code, timedOut: result.timedOut, stderr: result.stderr }).toEqual({ code: 0, timedOut: false, stderr: '' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

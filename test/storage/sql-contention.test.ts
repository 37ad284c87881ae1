/**
 * Batched TTL refreshes, single-row writes, logouts and sweeps from three storages (three pools)
 * on one table at once, for two seconds: no statement fails (a plain batched `UPDATE … WHERE id =
 * ANY(…)` deadlocks here on PostgreSQL; the `FOR UPDATE SKIP LOCKED` form and sorted ids do not),
 * and no removed session comes back.
 */
import { generateId } from 'sessionware';
import { MysqlStorage } from 'sessionware/mysql';
import { PostgresStorage } from 'sessionware/postgres';
import { dropMysqlTable, dropPgTable, endMysql, mysqlPool, pgPool, uniqueTable } from '../helpers/sql';

const HOUR = 3_600_000;
const one = (key: string) => ({ set: new Map([[key, '1']]), removed: new Set<string>() });

describe.each(['PostgresStorage', 'MysqlStorage'] as const)('%s under contention', (name) => {
  it('should refresh, write, log out and sweep at once without errors or resurrections', async () => {
    const table = uniqueTable('sw_contend');
    const pools = name === 'PostgresStorage' ? [pgPool(4), pgPool(4), pgPool(4)] : [mysqlPool(4), mysqlPool(4), mysqlPool(4)];
    const storages = pools.map((pool) =>
      name === 'PostgresStorage' ? new PostgresStorage(pool as ReturnType<typeof pgPool>, { table, updateTTLInterval: 60_000, sweepBatchSize: 50 }) : new MysqlStorage(pool as ReturnType<typeof mysqlPool>, { table, updateTTLInterval: 60_000, sweepBatchSize: 50 }),
    );
    const [a] = storages as [PostgresStorage | MysqlStorage];
    try {
      const ids = Array.from({ length: 300 }, () => generateId());
      for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id, j) => a.setSession(id, one('seed'), j % 5 === 0 ? 1 : HOUR, { create: true })));
      const removed = new Set<string>();
      const errors: unknown[] = [];
      const until = Date.now() + 2000;
      const pick = () => ids[Math.floor(Math.random() * ids.length)] as string;
      const loop = (fn: () => Promise<unknown>) => (async () => {
        while (Date.now() < until) await fn().catch((err: unknown) => errors.push(err));
      })();
      let ops = 0;
      await Promise.all([
        ...storages.map((s) =>
          loop(async () => {
            for (let i = 0; i < 100; i++) await s.updateTTL(pick(), HOUR);
            await s.flush();
            ops++;
          }),
        ),
        ...storages.map((s, n) =>
          loop(async () => {
            await s.setSession(pick(), one(`w${n}`), HOUR, { create: false });
            ops++;
          }),
        ),
        loop(async () => {
          const id = pick();
          if (await storages[1]?.removeAll(id)) removed.add(id);
          ops++;
        }),
        loop(async () => {
          await storages[2]?.sweep();
          ops++;
        }),
      ]);
      expect(errors).toEqual([]);
      expect(ops).toBeGreaterThan(100);
      for (const id of removed) expect(await a.getSession(id, HOUR)).toBeUndefined();
    } finally {
      for (const s of storages) await s.close();
      if (name === 'PostgresStorage') {
        await dropPgTable(pools[0] as ReturnType<typeof pgPool>, table);
        for (const p of pools) await (p as ReturnType<typeof pgPool>).end();
      } else {
        await dropMysqlTable(pools[0] as ReturnType<typeof mysqlPool>, table);
        for (const p of pools) await endMysql(p as ReturnType<typeof mysqlPool>);
      }
    }
  }, 30_000);
});

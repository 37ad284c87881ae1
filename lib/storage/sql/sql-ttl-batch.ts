/**
 * How the SQL storages send batched TTL refreshes: one `UPDATE` per distinct TTL (in chunks), ids
 * sorted so every process locks rows in one order (no deadlocks between batches).
 * @internal
 * @module
 */
import { TTL_CHUNK, type TtlSink } from '../ttl-batch';

/** Sends one refresh statement for `ids` (sorted) with `ttl` ms. */
export type RefreshMany = (ids: readonly string[], ttl: number) => Promise<void>;

/** The {@link TtlSink} of a SQL storage. @internal */
export function sqlTtlSink(send: RefreshMany): TtlSink {
  return {
    one: (id, ttl) => send([id], ttl),
    async many(entries) {
      const byTTL = new Map<number, string[]>();
      for (const [id, ttl] of entries) {
        const ids = byTTL.get(ttl);
        if (ids) ids.push(id);
        else byTTL.set(ttl, [id]);
      }
      let failed = 0;
      let first: unknown;
      for (const [ttl, ids] of byTTL) {
        ids.sort(); // one lock order for every process
        for (let i = 0; i < ids.length; i += TTL_CHUNK) {
          const chunk = ids.slice(i, i + TTL_CHUNK);
          try {
            await send(chunk, ttl);
          } catch (err) {
            if (failed === 0) first = err;
            failed += chunk.length;
          }
        }
      }
      return { failed, first };
    },
  };
}

/**
 * How the Redis storages send batched TTL refreshes: `PEXPIRE`s, one pipeline per chunk on a
 * standalone client, single-key commands on a Cluster (see `RedisClient.pexpireMany`). `PEXPIRE`
 * never creates a key, so a batched refresh cannot bring back a removed session.
 * @internal
 * @module
 */
import { TTL_CHUNK, type TtlSink } from '../ttl-batch';
import type { RedisClient } from './redis-client';

/** The {@link TtlSink} of a Redis storage. @internal */
export function redisTtlSink(client: RedisClient): TtlSink {
  return {
    one: (key, ttl) => client.call('updateTTL', 'PEXPIRE', key, ttl).then(() => undefined),
    async many(entries) {
      let failed = 0;
      let first: unknown;
      for (let i = 0; i < entries.length; i += TTL_CHUNK) {
        const result = await client.pexpireMany('updateTTL', entries.slice(i, i + TTL_CHUNK));
        if (result.failed > 0 && failed === 0) first = result.first;
        failed += result.failed;
      }
      return { failed, first };
    },
  };
}

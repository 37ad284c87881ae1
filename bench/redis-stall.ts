// How long one write to a large session blocks Redis for everyone else: another client PINGs in a
// tight loop while the storage writes one small key of a 2 MB and a 20 MB session (and replaces a
// 1 MB value of it; values are JSON of lists of small objects), on a private redis-server. Prints the PING stall (max latency while a write
// runs) and the write's own time, per storage.
//
//   npx tsx bench/redis-stall.ts                  # this checkout's lib/
//   STALL_LIB=/path/to/other/lib npx tsx bench/redis-stall.ts   # another version's lib/, to compare
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep } from './harness.mjs';

const LIB = path.resolve(process.env['STALL_LIB'] ?? path.join(__dirname, '..', 'lib'));
const ROUNDS = Number(process.env['STALL_ROUNDS'] ?? 8);

interface WriteStorage {
  setSession(id: string, changes: { set: Map<string, string>; removed: Set<string> }, ttl: number, options: { create: boolean }): Promise<boolean>;
  close(): Promise<void>;
}
type StorageClass = new (client: Redis, options: { prefix: string }) => WriteStorage;

/** Max PING latency seen while `fn` runs, and how long `fn` took. */
async function stall(pinger: Redis, fn: () => Promise<unknown>): Promise<{ ping: number; write: number }> {
  let running = true;
  let worst = 0;
  const loop = (async () => {
    while (running) {
      const t = process.hrtime.bigint();
      await pinger.ping();
      worst = Math.max(worst, Number(process.hrtime.bigint() - t) / 1e6);
    }
  })();
  await sleep(5);
  const start = process.hrtime.bigint();
  await fn();
  const write = Number(process.hrtime.bigint() - start) / 1e6;
  running = false;
  await loop;
  return { ping: worst, write };
}

/** About 1 MB of JSON: objects with quoted strings and a little non-ASCII, as sessions hold. */
function blob(seed: number): string {
  const items = [];
  for (let i = 0; i < 15000; i++) items.push({ id: seed * 10_000 + i, name: `item ${i} «${seed}»`, tags: ['a', 'b'], price: i / 100 });
  return JSON.stringify(items);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} ms (median ${median(xs).toFixed(1)})`;

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    await sleep(300);
    const client = new Redis({ port, host: '127.0.0.1' });
    const pinger = new Redis({ port, host: '127.0.0.1' });
    client.on('error', () => undefined);
    pinger.on('error', () => undefined);
    await client.ping();
    await pinger.ping();
    const { RedisStorage } = (await import(path.join(LIB, 'storage/redis/redis-storage.ts'))) as { RedisStorage: StorageClass };
    const { RedisHashStorage } = (await import(path.join(LIB, 'storage/redis/redis-hash-storage.ts'))) as { RedisHashStorage: StorageClass };
    console.log(`lib: ${LIB}`);
    for (const [name, Kind] of [['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const) {
      for (const [mb, shape] of [[2, 'blobs'], [20, 'blobs'], [2, 'keys'], [20, 'keys']] as const) {
        const storage = new Kind(client, { prefix: `stall:${name}:` });
        const id = `stall-${mb}mb-${shape}-session`;
        // 'blobs': mb values of about 1 MB each (JSON of a list of small objects, like a cart or a
        // cache); 'keys': mb * 10 000 keys of about 100 bytes. Plus a small counter.
        const set = new Map<string, string>();
        if (shape === 'blobs') for (let i = 0; i < mb; i++) set.set(`blob${i}`, blob(i));
        else for (let i = 0; i < mb * 10_000; i++) set.set(`key${i}`, JSON.stringify({ id: i, name: `item ${i}`, tags: ['a', 'b', 'c'], note: 'x'.repeat(40) }));
        if (shape === 'keys') set.set('blob0', blob(0));
        set.set('n', '0');
        const entries = [...set];
        for (let i = 0; i < entries.length; i += 5000) await storage.setSession(id, { set: new Map(entries.slice(i, i + 5000)), removed: new Set() }, 3_600_000, { create: i === 0 });
        const small: Array<{ ping: number; write: number }> = [];
        const large: Array<{ ping: number; write: number }> = [];
        for (let round = 1; round <= ROUNDS; round++) {
          small.push(await stall(pinger, () => storage.setSession(id, { set: new Map([['n', String(round)]]), removed: new Set() }, 3_600_000, { create: false })));
          large.push(await stall(pinger, () => storage.setSession(id, { set: new Map([['blob0', blob(round)]]), removed: new Set() }, 3_600_000, { create: false })));
        }
        console.log(`${name} ${mb} MB (${shape}): small write: PING stall ${range(small.map((s) => s.ping))}, write ${range(small.map((s) => s.write))}`);
        console.log(`${name} ${mb} MB (${shape}): 1 MB value replaced: PING stall ${range(large.map((s) => s.ping))}, write ${range(large.map((s) => s.write))}`);
        await client.del(`stall:${name}:${id}`);
        await storage.close();
      }
    }
    client.disconnect();
    pinger.disconnect();
  } finally {
    server.kill('SIGKILL');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

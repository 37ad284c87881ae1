// What the owner index ("log out everywhere") costs Redis: on a private redis-server, for both Redis
// storages and owners of 1, 10 and 100 sessions, Redis's own CPU time per call (INFO commandstats,
// usec_per_call: far less sensitive to a loaded machine than wall time) of addOwner (one EVALSHA),
// ownerSessions (one EVALSHA) and of the read of an owned session (GET / HGETALL: the same as an
// unowned one, the index is never touched by reads).
//
//   npx tsx bench/redis-owner-index.ts        # OWNER_ROUNDS=200 by default
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep } from './harness.mjs';

const LIB = path.resolve(process.env['OWNER_LIB'] ?? path.join(__dirname, '..', 'lib'));
const ROUNDS = Number(process.env['OWNER_ROUNDS'] ?? 200);
const HOUR = 3_600_000;

interface OwnerStorage {
  setSession(id: string, changes: { set: Map<string, string>; removed: Set<string> }, ttl: number, options: { create: boolean }): Promise<boolean>;
  getSession(id: string, ttl: number): Promise<unknown>;
  addOwner(owner: string, id: string, ttl: number): Promise<void>;
  ownerSessions(owner: string): Promise<readonly unknown[]>;
  close(): Promise<void>;
}
type StorageClass = new (client: Redis, options: { prefix: string }) => OwnerStorage;

/** usec_per_call of each command since the last reset, then resets. */
async function stats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  await redis.config('RESETSTAT');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/g)) out.set(m[1] as string, Number(m[4]));
  return out;
}

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const redis = new Redis({ port, lazyConnect: true });
  for (let i = 0; ; i++) {
    try {
      await redis.connect();
      break;
    } catch {
      if (i > 50) throw new Error('redis-server did not start');
      await sleep(100);
    }
  }
  try {
    const { RedisStorage, RedisHashStorage } = (await import(path.join(LIB, 'redis.ts'))) as { RedisStorage: StorageClass; RedisHashStorage: StorageClass };
    console.log(`Redis CPU per call (usec_per_call), ${ROUNDS} rounds each`);
    console.log('storage            sessions  addOwner  ownerSessions  read (owned)');
    for (const [name, Kind] of [['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const) {
      for (const n of [1, 10, 100]) {
        const storage = new Kind(redis, { prefix: `bench:${randomBytes(4).toString('hex')}:` });
        const owner = `user:${n}`;
        const ids = Array.from({ length: n }, () => randomBytes(24).toString('base64url'));
        for (const id of ids) {
          await storage.addOwner(owner, id, HOUR);
          await storage.setSession(id, { set: new Map([['$sw:owner', JSON.stringify(owner)], ['user', '"u"']]), removed: new Set() }, HOUR, { create: true });
        }
        await stats(redis);
        for (let i = 0; i < ROUNDS; i++) await storage.addOwner(owner, ids[i % n] as string, HOUR);
        const add = (await stats(redis)).get('evalsha') ?? NaN;
        for (let i = 0; i < ROUNDS; i++) await storage.ownerSessions(owner);
        const list = (await stats(redis)).get('evalsha') ?? NaN;
        for (let i = 0; i < ROUNDS; i++) await storage.getSession(ids[i % n] as string, HOUR);
        const read = await stats(redis);
        const r = read.get('get') ?? read.get('hgetall') ?? NaN;
        console.log(`${name.padEnd(18)} ${String(n).padStart(8)}  ${add.toFixed(2).padStart(8)}  ${list.toFixed(2).padStart(13)}  ${r.toFixed(2).padStart(12)}`);
        await storage.close();
      }
    }
  } finally {
    redis.disconnect();
    server.kill('SIGTERM');
  }
}

void main();

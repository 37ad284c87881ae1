// What "log out everywhere" costs, per operation, through Manager (no HTTP): a login without and
// with setOwner() (its addOwner), sessionsOf() and revoke() of an owner with N sessions, on
// MemoryStorage and FileStorage (a temp dir). Prints the median and p90 wall time and the process
// CPU time per operation (CPU is less sensitive to other load on the machine).
//
//   npx tsx bench/owner-index.ts                  # N = 1, 10, 100; 200 logins per storage
//   OWNER_N=50 OWNER_LOGINS=500 npx tsx bench/owner-index.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage, Manager, MemoryStorage, type Storage } from '../lib/index';

const SIZES = process.env['OWNER_N'] ? [Number(process.env['OWNER_N'])] : [1, 10, 100];
const LOGINS = Number(process.env['OWNER_LOGINS'] ?? 200);
const HOUR = 3_600_000;

interface Sample {
  wall: number[];
  cpu: number;
}

/** Runs `op` `times` times (after an untimed `setup` each time); wall and CPU time of `op` alone. */
async function measure<T>(times: number, op: (input: T, i: number) => Promise<unknown>, setup: (i: number) => Promise<T> = async () => undefined as T): Promise<Sample> {
  const wall: number[] = [];
  let cpuMicros = 0;
  for (let i = 0; i < times; i++) {
    const input = await setup(i);
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    await op(input, i);
    wall.push(performance.now() - t);
    const cpu = process.cpuUsage(cpu0);
    cpuMicros += cpu.user + cpu.system;
  }
  return { wall: wall.sort((a, b) => a - b), cpu: cpuMicros / 1000 / times };
}

const fmt = (s: Sample): string => `median ${(s.wall[Math.floor(s.wall.length / 2)] ?? 0).toFixed(3)} ms, p90 ${(s.wall[Math.floor(s.wall.length * 0.9)] ?? 0).toFixed(3)} ms, cpu ${s.cpu.toFixed(3)} ms/op`;

async function login(manager: Manager, owner: string | undefined): Promise<string> {
  const s = manager.new();
  await s.regenerate();
  await s.set('user', owner ?? 'anon');
  if (owner !== undefined) await s.setOwner(owner);
  const id = await s.id();
  await s.close();
  return id;
}

async function run(name: string, make: () => { storage: Storage; done: () => void }): Promise<void> {
  {
    const { storage, done } = make();
    const manager = new Manager({ storage, ttl: HOUR });
    console.log(`${name} login without setOwner: ${fmt(await measure(LOGINS, () => login(manager, undefined)))}`);
    console.log(`${name} login with setOwner:    ${fmt(await measure(LOGINS, (_, i) => login(manager, `user${i}`)))}`);
    await storage.close();
    done();
  }
  for (const n of SIZES) {
    const { storage, done } = make();
    const manager = new Manager({ storage, ttl: HOUR });
    for (let i = 0; i < n; i++) await login(manager, 'ada');
    const rounds = Math.max(5, Math.min(50, Math.floor(2000 / n)));
    console.log(`${name} sessionsOf, ${n} sessions: ${fmt(await measure(rounds, () => manager.sessionsOf('ada')))}`);
    const revoke = await measure(rounds, (owner: string) => manager.revoke(owner), async (i) => {
      for (let k = 0; k < n; k++) await login(manager, `bob${i}`);
      return `bob${i}`;
    });
    console.log(`${name} revoke, ${n} sessions: ${fmt(revoke)}`);
    await storage.close();
    done();
  }
}

(async () => {
  await run('MemoryStorage', () => ({ storage: new MemoryStorage(), done: () => undefined }));
  await run('FileStorage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sessionware-bench-owners-'));
    return { storage: new FileStorage(dir), done: () => rmSync(dir, { recursive: true, force: true }) };
  });
})().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

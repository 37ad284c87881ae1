/**
 * Sessions outside HTTP: a job (or a WebSocket handler) opens a session by id with `Manager`.
 * Run: npx tsx examples/manager-job.ts
 */
import { Manager, MemoryStorage } from 'sessionware';

async function main(): Promise<void> {
  const manager = new Manager({ storage: new MemoryStorage(), ttl: 60 * 60 * 1000 });

  // Somewhere, a session is created...
  const created = manager.new();
  await created.set('jobs', []);
  const id = await created.id();
  await created.close(); // sessions you open yourself, you close yourself

  // ...and a background job appends to it later, by id.
  const s = manager.new(id); // an unknown or malformed id would give a fresh, empty session
  const jobs = (await s.get<string[]>('jobs')) ?? [];
  await s.set('jobs', [...jobs, `report-${Date.now()}`]);
  await s.close();

  console.log(await manager.new(id).data());
  await manager.getStorage().close();
}

void main();

// Heap bytes per idle session, in its own process: node --expose-gc bench/heap.mjs <setup> <count>
// Stores <count> sessions (one small value each) through the store's own API, as the middleware
// would after a request that sets one value, then measures heapUsed after full GCs.
// Prints one JSON line.
import { getSetup } from './setups.mjs';

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
const setup = getSetup(process.argv[2]);
const count = Number(process.argv[3] ?? 100_000);

async function settledHeap() {
  for (let i = 0; i < 6; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

const store = setup.heapStore();
await store.put(-1); // load lazily-required code and warm the store before the baseline
const before = await settledHeap();
for (let i = 0; i < count; i++) await store.put(i);
const after = await settledHeap();
const perSession = (after - before) / count;
process.stdout.write(JSON.stringify({ setup: setup.name, sessions: count, heapBefore: before, heapAfter: after, bytesPerSession: perSession }) + '\n');
await store.close();
// `store` stays referenced above until here, so nothing was collected early.
process.exit(0);

// Server CPU µs per request for the memcached setups (sessionware + MemcacheStorage, express-session
// + connect-memcached), less load-sensitive than req/s on a shared machine: each setup's server
// (bench/server.mjs, pinned to CPU 0) on one private memcached (pinned with autocannon to CPU 1);
// rounds alternate /bare and each scenario, and the median per route is reported.
//   npm run build && node bench/memcache-cost.mjs
// env: MC_COST_ROUNDS (5), MC_COST_REQUESTS (10000 per round), MC_COST_ROUTES (bare,read,write,new),
// BENCH_CONNECTIONS (10), MC_COST_PROFILE=1 to run the servers with --cpu-prof (profiles in
// bench/results/profiles/, git-ignored), MC_COST_SETUPS (both; comma-separated names).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './setups.mjs';
import { MEMCACHE_SETUPS, startMemcached } from './setups-memcache.mjs';
import { cpuPerRequest, get, startServer } from './harness.mjs';

const env = process.env;
const ROUNDS = Number(env.MC_COST_ROUNDS ?? 5);
const REQUESTS = Number(env.MC_COST_REQUESTS ?? 10_000);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 10);
const ROUTES = (env.MC_COST_ROUTES ?? 'bare,read,write,new').split(',');
const SETUPS = env.MC_COST_SETUPS ? MEMCACHE_SETUPS.filter((s) => env.MC_COST_SETUPS.split(',').includes(s.name)) : MEMCACHE_SETUPS;
const PROFILES = path.join(ROOT, 'bench/results/profiles');
const cookieFor = async (base) => (await get(base, '/write')).setCookie.join('; ');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
if (env.MC_COST_PROFILE === '1') mkdirSync(PROFILES, { recursive: true });
const out = {};
for (const setup of SETUPS) {
  const memcached = await startMemcached('1');
  const nodeArgs = env.MC_COST_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : [];
  const server = await startServer(setup, { memcached: memcached.address, prefix: `cost:${Date.now().toString(36)}:` }, { nodeArgs });
  const samples = Object.fromEntries(ROUTES.map((r) => [r, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const route of ROUTES) {
        const cookie = route === 'read' || route === 'write' ? await cookieFor(server.base) : undefined;
        samples[route].push(await cpuPerRequest(server, `/${route}`, cookie, { n: REQUESTS, connections: CONNECTIONS }));
      }
    }
  } finally {
    await server.stop();
    memcached.stop();
  }
  out[setup.name] = Object.fromEntries(ROUTES.map((r) => [r, +median(samples[r]).toFixed(1)]));
  console.log(setup.name, JSON.stringify(out[setup.name]), 'all:', JSON.stringify(Object.fromEntries(ROUTES.map((r) => [r, samples[r].map((x) => +x.toFixed(1))]))));
}
const [ours, theirs] = [out['sessionware-memcache'], out['express-session-memcached']];
if (ours && theirs) {
  for (const r of ROUTES.filter((x) => x !== 'bare')) {
    console.log(`/${r}: whole request ${(theirs[r] / ours[r]).toFixed(2)}x, above bare ${((theirs[r] - theirs.bare) / (ours[r] - ours.bare)).toFixed(2)}x`);
  }
}

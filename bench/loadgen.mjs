// The load generator, in its own process (bench/run.mjs pins it to its own core).
//   node bench/loadgen.mjs '<json plan>'
// Plan: { base, path, cookie?, connections, warmup, slice, slices, redisUrl?, statsUrl? }
//   1. warm-up: `warmup` s of /bare, then `warmup` s of `path`;
//   2. measured: bare, path, bare, path, ..., bare: `slices` slices of `path`, each between two
//      bare slices, `slice` s each. The ratio of a slice is its req/s over the mean of the two bare
//      slices around it; the reported ratio is the median of those (robust to a noisy neighbour
//      stealing the CPU for a second).
// With redisUrl, INFO commandstats is read around the measured part (bare slices make no Redis
// commands, so commands / scenario requests is the per-request cost). With statsUrl (SQL setups),
// the server's own statement counts ({ verb: count }) are read the same way.
// Prints one JSON line. Latencies are recorded here from each response's own timing (float ms),
// since autocannon's histogram has 1 ms buckets.
import autocannon from 'autocannon';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const plan = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function slice(path, duration, cookie, sink) {
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      { url: plan.base + path, connections: plan.connections ?? 10, duration, headers: cookie ? { cookie } : {} },
      (err, r) => (err ? reject(err) : resolve({ requests: r.requests.total, seconds: r.duration, rps: r.requests.total / r.duration, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts })),
    );
    if (sink) inst.on('response', (_c, _s, _b, t) => sink.push(t));
  });
}

function summary(slices, latencies) {
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null);
  const requests = slices.reduce((a, s) => a + s.requests, 0);
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  return {
    rps: requests / seconds,
    requests,
    seconds,
    p50: pct(50),
    p99: pct(99),
    max: latencies.at(-1) ?? null,
    non2xx: slices.reduce((a, s) => a + s.non2xx, 0),
    errors: slices.reduce((a, s) => a + s.errors, 0),
    timeouts: slices.reduce((a, s) => a + s.timeouts, 0),
    slices: slices.map((s) => Math.round(s.rps)),
  };
}

async function commandStats(client) {
  const stats = {};
  for (const line of (await client.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m && m[1] !== 'info') stats[m[1]] = Number(m[2]);
  }
  return stats;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

let redis;
if (plan.redisUrl) {
  const mod = require('ioredis');
  const Redis = mod.Redis ?? mod.default ?? mod;
  redis = new Redis(plan.redisUrl);
}

if (plan.warmup > 0) {
  await slice('/bare', plan.warmup);
  await slice(plan.path, plan.warmup, plan.cookie);
}
const before = redis && (await commandStats(redis));
const statements = async () => (await fetch(plan.statsUrl)).json();
const statsBefore = plan.statsUrl && (await statements());
const bareLat = [];
const lat = [];
const bare = [await slice('/bare', plan.slice, undefined, bareLat)];
const scen = [];
for (let i = 0; i < plan.slices; i++) {
  scen.push(await slice(plan.path, plan.slice, plan.cookie, lat));
  bare.push(await slice('/bare', plan.slice, undefined, bareLat));
}
const ratios = scen.map((s, i) => s.rps / ((bare[i].rps + bare[i + 1].rps) / 2));
const out = { path: plan.path, scenario: summary(scen, lat), bare: summary(bare, bareLat), ratios: ratios.map((r) => +r.toFixed(4)), ratio: median(ratios) };
if (redis) {
  await sleep(300); // let post-response work (batched TTL refreshes) land
  const after = await commandStats(redis);
  const diff = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) diff[k] = v - (before[k] ?? 0);
  const total = Object.values(diff).reduce((a, b) => a + b, 0);
  out.redisCommandsPerRequest = total / out.scenario.requests;
  out.redisCommands = Object.fromEntries(Object.entries(diff).map(([k, v]) => [k, +(v / out.scenario.requests).toPrecision(3)]));
  redis.disconnect();
}
if (plan.statsUrl) {
  await sleep(300);
  const after = await statements();
  const diff = {};
  for (const [k, v] of Object.entries(after)) if (v - (statsBefore[k] ?? 0) > 0) diff[k] = v - (statsBefore[k] ?? 0);
  out.statementsPerRequest = Object.values(diff).reduce((a, b) => a + b, 0) / out.scenario.requests;
  out.statements = Object.fromEntries(Object.entries(diff).map(([k, v]) => [k, +(v / out.scenario.requests).toPrecision(3)]));
}
process.stdout.write(JSON.stringify(out) + '\n');

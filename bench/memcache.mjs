// `node bench/memcache.mjs`: sessionware + MemcacheStorage beside express-session + connect-memcached.
// For each setup: a private memcached (pinned with the load generator) and a fresh server (pinned
// to its own core) as in run.mjs; /read /write /new throughput interleaved with bare slices
// (bench/loadgen.mjs); memcached commands per request from `stats` deltas over sequential
// requests; CAS retries per write (cas_badval / cas_hits) under /write load and under the overlap
// probe; and three correctness probes over real HTTP, each with the slow request on one server
// process and the overlapping one on a second: lost update (slow write + fast write), a read-only
// request overlapping a write, and resurrection (slow write + logout).
// Writes bench/results/memcache.{json,md}. Knobs: the BENCH_* variables of run.mjs that apply
// (DURATION, SLICES, WARMUP, CONNECTIONS, TRIALS, TRIAL_CONCURRENCY, SLOW_MS, SKIP_BUILD, NO_PIN,
// SERVER_CPU, LOAD_CPU, OUT, SCENARIOS, SKIP=commands,correctness), plus BENCH_MEMCACHE_CONNECTIONS
// (default 4, both sides). A partial run prints its numbers and leaves the report alone.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './setups.mjs';
import { MEMCACHE_SETUPS, memcachedCommands, memcachedStats, startMemcached } from './setups-memcache.mjs';
import { buildDist, cpuPerRequest, envNumber as num, get, hasTaskset, loadgen, loadSettings, runMain, sleep, startServer, writeReport } from './harness.mjs';

const env = process.env;
const CFG = {
  ...loadSettings(),
  trials: num('BENCH_TRIALS', 50),
  trialConcurrency: num('BENCH_TRIAL_CONCURRENCY', 5),
  slowMs: num('BENCH_SLOW_MS', 100),
  serverCpu: env.BENCH_SERVER_CPU ?? '0',
  loadCpu: env.BENCH_LOAD_CPU ?? '1',
  out: path.resolve(ROOT, env.BENCH_OUT ?? 'bench/results'),
  scenarios: env.BENCH_SCENARIOS ? env.BENCH_SCENARIOS.split(',').map((x) => x.trim()) : ['read', 'write', 'new'],
  skip: new Set((env.BENCH_SKIP ?? '').split(',').filter(Boolean)), // commands, correctness
};
const log = (...a) => console.log('[bench:memcache]', ...a);

async function newSession(base, p = '/write') {
  const r = await get(base, p);
  if (r.status !== 200 || !r.setCookie.length) throw new Error(`seeding ${p} gave ${r.status}: ${r.body}`);
  return r.setCookie.join('; ');
}

/** memcached commands per request of `path`, over `n` sequential requests (exact: nothing else runs). */
async function commandsPerRequest(base, address, p, n = 100) {
  const cookies = p === '/logout' || p === '/read' || p === '/write' ? await Promise.all(Array.from({ length: n }, () => newSession(base))) : [];
  await sleep(200);
  const before = await memcachedStats(address);
  for (let i = 0; i < n; i++) {
    const r = await get(base, p, cookies[i]);
    if (r.status !== 200) throw new Error(`${p} gave ${r.status}: ${r.body}`);
  }
  await sleep(300); // work done after the response (a touch) is counted too
  const d = memcachedCommands(before, await memcachedStats(address));
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, +(v / n).toFixed(3)]));
}

async function throughput(server, address) {
  const out = {};
  for (const scenario of CFG.scenarios) {
    const cookie = scenario === 'new' ? undefined : await newSession(server.base);
    if (cookie && (await get(server.base, '/read', cookie)).json?.n !== 1) throw new Error('seeded session not read back');
    const before = await memcachedStats(address);
    const r = await loadgen({ base: server.base, path: `/${scenario}`, cookie, connections: CFG.connections, warmup: CFG.warmup, slice: CFG.duration / CFG.slices, slices: CFG.slices });
    const after = await memcachedStats(address);
    const res = { rps: r.scenario.rps, p50: r.scenario.p50, p99: r.scenario.p99, non2xx: r.scenario.non2xx, ratio: r.ratio, sliceRatios: r.ratios, bareRps: r.bare.rps };
    if (scenario === 'write') {
      res.finalN = (await get(server.base, '/read', cookie)).json?.n;
      res.casRetriesPerWrite = +((after.cas_badval - before.cas_badval) / Math.max(1, after.cas_hits - before.cas_hits)).toFixed(3);
    }
    log(`  /${scenario.padEnd(5)} ${res.rps.toFixed(0).padStart(6)} req/s  ratio ${res.ratio.toFixed(2)}x (slices ${r.ratios.map((x) => x.toFixed(2)).join(' ')})  p50 ${res.p50?.toFixed(2)} ms${res.casRetriesPerWrite !== undefined ? `  cas retries/write ${res.casRetriesPerWrite}` : ''}${res.non2xx ? `  non2xx ${res.non2xx}` : ''}`);
    out[scenario] = res;
  }
  return out;
}

async function cpuCosts(server) {
  const out = {};
  for (const scenario of ['bare', ...CFG.scenarios]) {
    const cookie = scenario === 'read' || scenario === 'write' ? await newSession(server.base) : undefined;
    out[scenario] = await cpuPerRequest(server, `/${scenario}`, cookie, { connections: CFG.connections });
  }
  log(`  server CPU µs/request: ${JSON.stringify(out)}`);
  return out;
}

// ---------- probes ----------
// Each probe sends the slow request to one server process and the overlapping one to another (two
// app instances on one memcached, as behind a load balancer), so sessionware's CAS really races.
async function lostUpdate([base, other]) {
  const cookie = await newSession(base, '/fast-write?key=init');
  const slow = get(base, `/slow-write?key=a&ms=${CFG.slowMs}`, cookie);
  await sleep(CFG.slowMs * 0.3);
  const fast = await get(other, '/fast-write?key=b', cookie);
  const slowRes = await slow;
  const dump = (await get(base, '/dump', cookie)).json ?? {};
  return { failed: !(dump.a && dump.b), overlapped: fast.at < slowRes.at };
}

async function readOverlap([base, other]) {
  const cookie = await newSession(base, '/fast-write?key=init');
  const reader = get(base, `/slow-read?ms=${CFG.slowMs}`, cookie);
  await sleep(CFG.slowMs * 0.3);
  const writer = await get(other, '/fast-write?key=b', cookie);
  const readerRes = await reader;
  await sleep(30); // express-session touches after the response
  const dump = (await get(base, '/dump', cookie)).json ?? {};
  return { failed: !dump.b, overlapped: writer.at < readerRes.at };
}

async function resurrection([base, other]) {
  const cookie = await newSession(base, '/fast-write?key=init');
  const slow = get(base, `/slow-write?key=a&ms=${CFG.slowMs}`, cookie);
  await sleep(CFG.slowMs * 0.3);
  const logout = await get(other, '/logout', cookie);
  const slowRes = await slow;
  const dump = (await get(base, '/dump', cookie)).json ?? {};
  return { failed: Object.keys(dump).length > 0, overlapped: logout.at < slowRes.at };
}

async function trials(fn, bases) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next++ < CFG.trials) results.push(await fn(bases));
  };
  await Promise.all(Array.from({ length: Math.max(1, CFG.trialConcurrency) }, worker));
  return { trials: results.length, failures: results.filter((r) => r.failed).length, overlapped: results.filter((r) => r.overlapped).length };
}

async function probes(servers, address) {
  const bases = servers.map((s) => s.base);
  const before = await memcachedStats(address);
  const lost = await trials(lostUpdate, bases);
  const after = await memcachedStats(address);
  const read = await trials(readOverlap, bases);
  const res = await trials(resurrection, bases);
  const casRetriesPerWrite = +((after.cas_badval - before.cas_badval) / Math.max(1, after.cas_hits - before.cas_hits)).toFixed(3);
  log(`  probes: lost updates ${lost.failures}/${lost.trials}, read-only overlap lost writes ${read.failures}/${read.trials}, resurrections ${res.failures}/${res.trials}; cas retries/write ${casRetriesPerWrite}`);
  return { lostUpdates: lost, readOverlap: read, resurrections: res, casRetriesPerWrite };
}

// ---------- report ----------
function renderMarkdown(results) {
  const [ours, theirs] = results.setups;
  const f = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
  const lines = [
    '# memcached: sessionware + MemcacheStorage vs express-session + connect-memcached',
    '',
    `${results.meta.date}, commit ${results.meta.commit}, ${results.meta.node}, ${results.meta.cpus}; ${results.meta.pinned}; ${results.meta.memcached}, ${results.meta.memcacheConnections} connections each side; load average ${results.meta.loadAverage} at the start (2 cores: above 2, neighbours compete for the CPU and req/s ratios get noisy); autocannon ${CFG.connections} connections, ${CFG.duration} s per scenario in ${CFG.slices} slices.`,
    '',
    '| setup | /read ratio | /read req/s | /write ratio | /write req/s | /new ratio | /new req/s |',
    '|---|---|---|---|---|---|---|',
    ...results.setups.map((s) => `| ${s.label} | ${f(s.throughput?.read?.ratio)} | ${f(s.throughput?.read?.rps, 0)} | ${f(s.throughput?.write?.ratio)} | ${f(s.throughput?.write?.rps, 0)} | ${f(s.throughput?.new?.ratio)} | ${f(s.throughput?.new?.rps, 0)} |`),
    '',
    `sessionware / connect-memcached (ratio to bare; raw req/s multiple in brackets): /read **${f(ours.throughput.read.ratio / theirs.throughput.read.ratio)}x** (${f(ours.throughput.read.rps / theirs.throughput.read.rps)}x), /write ${f(ours.throughput.write.ratio / theirs.throughput.write.ratio)}x (${f(ours.throughput.write.rps / theirs.throughput.write.rps)}x), /new ${f(ours.throughput.new.ratio / theirs.throughput.new.ratio)}x (${f(ours.throughput.new.rps / theirs.throughput.new.rps)}x). Target /read >= 1.5x: **${ours.throughput.read.ratio / theirs.throughput.read.ratio >= 1.5 ? 'met' : 'not met'}**.`,
    '',
    'Server CPU per request (µs, from /proc over 20 000 requests at the same concurrency; steadier than req/s on a busy machine; bare = Express without sessions):',
    '',
    '| setup | bare | /read | /write | /new |',
    '|---|---|---|---|---|',
    ...results.setups.map((s) => `| ${s.label} | ${['bare', 'read', 'write', 'new'].map((k) => f(s.cpu?.[k], 1)).join(' | ')} |`),
    '',
    ours.cpu && theirs.cpu ? `Session cost above bare (CPU µs/request), connect-memcached / sessionware: /read **${f((theirs.cpu.read - theirs.cpu.bare) / (ours.cpu.read - ours.cpu.bare))}x**, /write ${f((theirs.cpu.write - theirs.cpu.bare) / (ours.cpu.write - ours.cpu.bare))}x, /new ${f((theirs.cpu.new - theirs.cpu.bare) / (ours.cpu.new - ours.cpu.bare))}x; whole request: /read ${f(theirs.cpu.read / ours.cpu.read)}x, /write ${f(theirs.cpu.write / ours.cpu.write)}x, /new ${f(theirs.cpu.new / ours.cpu.new)}x.` : '',
    '',
    'memcached commands per request (`stats` deltas over 100 sequential requests; get = get/gets, set = set/add/cas, touch = touch/gat/gats):',
    '',
    '| setup | /read | /write | /new | /logout |',
    '|---|---|---|---|---|',
    ...results.setups.map((s) => `| ${s.label} | ${['read', 'write', 'new', 'logout'].map((k) => { const c = s.commands?.[k]; return c ? `${f(c.total)} (${['get', 'set', 'touch', 'delete'].filter((x) => c[x]).map((x) => `${x} ${c[x]}`).join(', ')})` : '–'; }).join(' | ')} |`),
    '',
    `Correctness over real HTTP (failures out of ${CFG.trials} trials; 0 is right; "overlapped" counts trials where the overlap happened as planned), and CAS retries per write (\`cas_badval / cas_hits\`):`,
    '',
    '| setup | lost update (slow + fast write) | read-only request overlapping a write | resurrection after logout | CAS retries/write, overlap probe | CAS retries/write, /write load |',
    '|---|---|---|---|---|---|',
    ...results.setups.map((s) => { const c = s.probes; return c ? `| ${s.label} | ${c.lostUpdates.failures} (overlapped ${c.lostUpdates.overlapped}) | ${c.readOverlap.failures} (overlapped ${c.readOverlap.overlapped}) | ${c.resurrections.failures} (overlapped ${c.resurrections.overlapped}) | ${s.flavor === 'sessionware' ? f(c.casRetriesPerWrite, 3) : 'no CAS'} | ${s.flavor === 'sessionware' ? f(s.throughput?.write?.casRetriesPerWrite, 3) : 'no CAS'} |` : `| ${s.label} | – | – | – | – | – |`; }),
    '',
    `Each probe sends the slow request and the overlapping one to two server processes on the same memcached. The CAS retries under /write load are those of one process whose ${CFG.connections} connections all write one session: MemcacheStorage runs one process's writes to a session one after another, so only other processes make its \`cas\` retry.`,
    '',
  ];
  return lines.join('\n');
}

async function main() {
  buildDist(log);
  const version = spawnSync('memcached', ['-V'], { encoding: 'utf8' }).stdout?.trim();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
  const results = {
    meta: {
      date: new Date().toISOString(),
      commit,
      node: process.version,
      cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      pinned: hasTaskset ? `server on CPU ${CFG.serverCpu}, load generator and memcached on CPU ${CFG.loadCpu}` : 'not pinned',
      memcached: version,
      memcacheConnections: num('BENCH_MEMCACHE_CONNECTIONS', 4),
      loadAverage: os.loadavg().map((x) => x.toFixed(1)).join(' '),
    },
    setups: [],
  };
  const stopping = [];
  process.on('exit', () => stopping.forEach((f) => f()));
  for (const setup of MEMCACHE_SETUPS) {
    const avail = setup.available();
    const entry = { name: setup.name, label: setup.label, flavor: setup.flavor };
    results.setups.push(entry);
    if (avail !== true) throw new Error(`${setup.name}: ${avail}`);
    log(setup.name);
    const memcached = await startMemcached(CFG.loadCpu);
    stopping.push(memcached.stop);
    const prefix = `bench:${Date.now().toString(36)}:`;
    let server = await startServer(setup, { memcached: memcached.address, prefix });
    try {
      entry.throughput = await throughput(server, memcached.address);
      if (os.platform() === 'linux') entry.cpu = await cpuCosts(server);
      entry.commands = {};
      if (!CFG.skip.has('commands')) for (const p of ['read', 'write', 'new', 'logout']) entry.commands[p] = await commandsPerRequest(server.base, memcached.address, `/${p}`);
      log(`  commands/request: ${JSON.stringify(entry.commands)}`);
      await server.stop();
      if (CFG.skip.has('correctness')) continue;
      const ctx = { memcached: memcached.address, prefix, probes: true };
      const pair = [await startServer(setup, ctx), await startServer(setup, ctx)];
      try {
        entry.probes = await probes(pair, memcached.address);
      } finally {
        await Promise.all(pair.map((s) => s.stop()));
      }
    } finally {
      await server.stop();
      memcached.stop();
    }
  }
  if (CFG.scenarios.length < 3 || CFG.skip.size) {
    console.log(JSON.stringify(results.setups.map((s) => ({ name: s.name, throughput: s.throughput, probes: s.probes })), null, 1));
    return; // a partial run does not replace the report
  }
  writeReport(CFG.out, 'memcache', results, renderMarkdown);
}

runMain(main);

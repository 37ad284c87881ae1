// `node bench/cookie.mjs`: the client-side (cookie) sessions side by side: sessionware +
// CookieStorage (AES-256-GCM), cookie-session 2 (signed only) and iron-session 8 (iron seal), on
// the same Express app (bench/server.mjs, pinned to its own core; the load generator on the other).
// For each setup: /read /write /new throughput interleaved with bare slices (bench/loadgen.mjs),
// server CPU µs per request from /proc, and the Set-Cookie bytes each response carries; then the
// cost of one seal and one open, measured in this process (sealCost in setups-cookie.mjs).
// Writes bench/results/cookie.{json,md}. Knobs: BENCH_DURATION (5), BENCH_SLICES (5),
// BENCH_WARMUP (1), BENCH_CONNECTIONS (10), BENCH_CPU_REQUESTS (20000), BENCH_SEAL_ITERATIONS
// (20000), BENCH_SETUPS (all three), BENCH_SCENARIOS, BENCH_SKIP_BUILD, BENCH_NO_PIN,
// BENCH_SERVER_CPU, BENCH_LOAD_CPU, BENCH_OUT. A partial run (fewer setups or scenarios) prints its
// numbers and leaves the report alone.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './setups.mjs';
import { COOKIE_SETUPS, sealCost } from './setups-cookie.mjs';
import { buildDist, cpuPerRequest, envNumber as num, get, hasTaskset, loadgen, loadSettings, runMain, startServer, writeReport } from './harness.mjs';

const env = process.env;
const CFG = {
  ...loadSettings(),
  cpuRequests: num('BENCH_CPU_REQUESTS', 20_000),
  sealIterations: num('BENCH_SEAL_ITERATIONS', 20_000),
  out: path.resolve(ROOT, env.BENCH_OUT ?? 'bench/results'),
  scenarios: env.BENCH_SCENARIOS ? env.BENCH_SCENARIOS.split(',').map((x) => x.trim()) : ['read', 'write', 'new'],
};
const log = (...a) => console.log('[bench:cookie]', ...a);

/** A session holding n = 1: the cookie(s) a first /write sets, as one Cookie header. */
async function newSession(base) {
  const r = await get(base, '/write');
  if (r.status !== 200 || !r.setCookie.length) throw new Error(`seeding /write gave ${r.status}: ${r.body}`);
  return r.setCookie.join('; ');
}

/** Bytes of the Set-Cookie header lines one request to `p` gets (0: nothing sent). */
async function setCookieBytes(base, p, cookie) {
  const r = await get(base, p, cookie);
  if (r.status !== 200) throw new Error(`${p} gave ${r.status}: ${r.body}`);
  return r.setCookieLines.reduce((sum, line) => sum + Buffer.byteLength(`Set-Cookie: ${line}\r\n`), 0);
}

async function measureSetup(setup) {
  const server = await startServer(setup, {});
  try {
    const entry = { throughput: {}, cpu: {}, setCookieBytes: {} };
    for (const scenario of CFG.scenarios) {
      const cookie = scenario === 'new' ? undefined : await newSession(server.base);
      if (cookie && (await get(server.base, '/read', cookie)).json?.n !== 1) throw new Error(`${setup.name}: the seeded session was not read back`);
      entry.setCookieBytes[scenario] = await setCookieBytes(server.base, `/${scenario}`, cookie);
      const r = await loadgen({ base: server.base, path: `/${scenario}`, cookie, connections: CFG.connections, warmup: CFG.warmup, slice: CFG.duration / CFG.slices, slices: CFG.slices });
      entry.throughput[scenario] = { rps: r.scenario.rps, p50: r.scenario.p50, p99: r.scenario.p99, non2xx: r.scenario.non2xx, ratio: r.ratio, sliceRatios: r.ratios, bareRps: r.bare.rps };
      log(`  /${scenario.padEnd(5)} ${r.scenario.rps.toFixed(0).padStart(6)} req/s  p50 ${r.scenario.p50?.toFixed(2)} ms  ratio ${r.ratio.toFixed(2)}x (slices ${r.ratios.map((x) => x.toFixed(2)).join(' ')})  Set-Cookie ${entry.setCookieBytes[scenario]} B${r.scenario.non2xx ? `  non2xx ${r.scenario.non2xx}` : ''}`);
    }
    if (os.platform() === 'linux') {
      for (const scenario of ['bare', ...CFG.scenarios]) {
        const cookie = scenario === 'read' || scenario === 'write' ? await newSession(server.base) : undefined;
        entry.cpu[scenario] = await cpuPerRequest(server, `/${scenario}`, cookie, { n: CFG.cpuRequests, connections: CFG.connections });
      }
      log(`  server CPU µs/request: ${JSON.stringify(entry.cpu)}`);
    }
    return entry;
  } finally {
    await server.stop();
  }
}

function renderMarkdown(results) {
  const f = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
  const by = Object.fromEntries(results.setups.map((s) => [s.name, s]));
  const ours = by['sessionware-cookie'];
  const vs = (other, k) => (ours.throughput[k] && other?.throughput[k] ? f(ours.throughput[k].ratio / other.throughput[k].ratio) : '–');
  const above = (s, k) => (s.cpu?.[k] !== undefined && s.cpu?.bare !== undefined ? s.cpu[k] - s.cpu.bare : undefined);
  const seal = results.seal;
  return [
    '# Cookie sessions: sessionware + CookieStorage vs cookie-session and iron-session',
    '',
    `${results.meta.date}, commit ${results.meta.commit}, ${results.meta.node}, ${results.meta.cpus}; ${results.meta.pinned}; load average ${results.meta.loadAverage} at the start (2 cores: above 2, neighbours compete for the CPU and req/s ratios get noisy); autocannon ${CFG.connections} connections, ${CFG.duration} s per scenario in ${CFG.slices} slices. Nothing is stored on the server by any of them; every session holds \`n\`.`,
    '',
    '| setup | /read ratio | /read req/s | /write ratio | /write req/s | /new ratio | /new req/s |',
    '|---|---|---|---|---|---|---|',
    ...results.setups.map((s) => `| ${s.label} | ${['read', 'write', 'new'].map((k) => `${f(s.throughput[k]?.ratio)} | ${f(s.throughput[k]?.rps, 0)}`).join(' | ')} |`),
    '',
    `sessionware / cookie-session (ratio to bare): /read ${vs(by['cookie-session'], 'read')}x, /write ${vs(by['cookie-session'], 'write')}x, /new ${vs(by['cookie-session'], 'new')}x; sessionware / iron-session: /read ${vs(by['iron-session'], 'read')}x, /write ${vs(by['iron-session'], 'write')}x, /new ${vs(by['iron-session'], 'new')}x.`,
    '',
    `Server CPU per request (µs, from /proc over ${CFG.cpuRequests} requests at the same concurrency; steadier than req/s on a busy machine; bare = Express without sessions), and in brackets the part above bare (what the session layer costs: opening, change tracking, sealing, the Set-Cookie header):`,
    '',
    '| setup | bare | /read | /write | /new |',
    '|---|---|---|---|---|',
    ...results.setups.map((s) => `| ${s.label} | ${f(s.cpu?.bare, 1)} | ${['read', 'write', 'new'].map((k) => `${f(s.cpu?.[k], 1)} (${f(above(s, k), 1)})`).join(' | ')} |`),
    '',
    'Set-Cookie bytes per response (all header lines; 0: nothing sent):',
    '',
    '| setup | /read | /write | /new |',
    '|---|---|---|---|',
    ...results.setups.map((s) => `| ${s.label} | ${['read', 'write', 'new'].map((k) => s.setCookieBytes[k] ?? '–').join(' | ')} |`),
    '',
    `Sealing cost, one call in a loop of ${CFG.sealIterations} in one process (a session of \`n\` plus a ~200-byte value): sessionware (AES-256-GCM, node:crypto, sync) seal **${f(seal.sessionware.seal)} µs**, open **${f(seal.sessionware.open)} µs**, the size guard of \`set()\` ${f(seal.sessionware.sealedLength)} µs, ${seal.sessionware.chars} characters; iron-session (AES-256-CBC + HMAC-SHA256, WebCrypto, async) seal ${f(seal.iron.seal)} µs, open ${f(seal.iron.open)} µs, ${seal.iron.chars} characters; cookie-session does not encrypt (base64 JSON plus an HMAC-SHA1 signature cookie). A /read opens once; a /write opens and seals once; a /new seals once.`,
    '',
  ].join('\n');
}

async function main() {
  buildDist(log);
  const results = {
    meta: {
      date: new Date().toISOString(),
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim(),
      node: process.version,
      cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      pinned: hasTaskset ? `server on CPU ${env.BENCH_SERVER_CPU ?? '0'}, load generator on CPU ${env.BENCH_LOAD_CPU ?? '1'}` : 'not pinned',
      loadAverage: os.loadavg().map((x) => x.toFixed(1)).join(' '),
    },
    setups: [],
  };
  const only = env.BENCH_SETUPS?.split(',').map((x) => x.trim());
  for (const setup of COOKIE_SETUPS.filter((s) => !only || only.includes(s.name))) {
    const avail = setup.available();
    if (avail !== true) throw new Error(`${setup.name}: ${avail}`);
    log(setup.name);
    results.setups.push({ name: setup.name, label: setup.label, ...(await measureSetup(setup)) });
  }
  results.seal = await sealCost(CFG.sealIterations);
  log(`  seal/open µs: ${JSON.stringify(results.seal)}`);
  if (CFG.scenarios.length < 3 || results.setups.length < COOKIE_SETUPS.length) {
    console.log(JSON.stringify(results, null, 1));
    return; // a partial run does not replace the report
  }
  writeReport(CFG.out, 'cookie', results, renderMarkdown);
}

runMain(main);

// Shared pieces of the benches: a pinned bench/server.mjs process (and the ready / stop handshake
// every bench's server process uses), the pinned load generator, a fetch helper, server CPU time
// per request from /proc, the bare app of the CPU-cost benches, the commit a report was measured
// on, and writing a report. Imports no setup (it loads nothing of dist/).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const env = process.env;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The number in the environment variable `name` (unset or empty: `def`). */
export const envNumber = (name, def) => (env[name] ? Number(env[name]) : def);

/** The load knobs of the side-by-side benches: BENCH_DURATION (s, 5), BENCH_SLICES (5), BENCH_WARMUP (s, 1), BENCH_CONNECTIONS (10). */
export function loadSettings() {
  return {
    duration: envNumber('BENCH_DURATION', 5),
    slices: Math.max(1, envNumber('BENCH_SLICES', 5)),
    warmup: envNumber('BENCH_WARMUP', 1),
    connections: envNumber('BENCH_CONNECTIONS', 10),
  };
}

/** Builds dist/ (`npm run build`) unless BENCH_SKIP_BUILD=1, saying so through `log`; throws when the build fails. */
export function buildDist(log) {
  if (env.BENCH_SKIP_BUILD === '1') return;
  log('building dist/ (npm run build)');
  if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
}

/** A TCP port free on 127.0.0.1 right now (for a private redis-server, memcached or database). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
/** `taskset` pinning works here (and is not turned off with BENCH_NO_PIN=1). */
export const hasTaskset = env.BENCH_NO_PIN !== '1' && os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/** [command, args] running `args` pinned to `cpu` when taskset is usable. */
export const pinned = (cpu, cmd, args) => (hasTaskset ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);

/** Starts `node [nodeArgs] bench/server.mjs <setup>` on `cpu`; resolves { base, pid, stop() }. */
export async function startServer(setup, ctx, { cpu = env.BENCH_SERVER_CPU ?? '0', nodeArgs = [] } = {}) {
  const [cmd, args] = pinned(cpu, process.execPath, [...nodeArgs, path.join(ROOT, 'bench/server.mjs'), setup.name]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, BENCH_CTX: JSON.stringify(ctx), NODE_ENV: 'production' } });
  const { port, pid } = await whenReady(child);
  return {
    base: `http://127.0.0.1:${port}`,
    pid,
    stop: () => stopServerProcess(child),
  };
}

/** The `{ ready, port, pid }` message of a bench/server.mjs `child` (20 s at most); errors start with `label`. */
export function whenReady(child, label = '') {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label}server did not start in 20 s`)), 20_000);
    child.on('message', (m) => m?.ready && (clearTimeout(timer), resolve(m)));
    child.on('exit', (code) => (clearTimeout(timer), reject(new Error(`${label}server exited ${code} before ready`))));
  });
}

/** Asks a bench/server.mjs `child` to stop (IPC `{ stop }`), SIGKILL if it has not exited within 5 s. */
export async function stopServerProcess(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send({ stop: true });
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Runs bench/loadgen.mjs with `plan` on `cpu`; resolves its JSON result. */
export function loadgen(plan, cpu = env.BENCH_LOAD_CPU ?? '1') {
  const [cmd, args] = pinned(cpu, process.execPath, [path.join(ROOT, 'bench/loadgen.mjs'), JSON.stringify(plan)]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`loadgen exited ${code}`))));
  });
}

/** GET `p` with an optional Cookie header; the status, parsed JSON, raw Set-Cookie lines, their `name=value` parts, and when it ended (`at`, performance.now()). */
export async function get(base, p, cookie) {
  const res = await fetch(base + p, { headers: cookie ? { cookie } : {} });
  const body = await res.text();
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const lines = res.headers.getSetCookie();
  return { status: res.status, json, body, setCookieLines: lines, setCookie: lines.map((c) => c.split(';')[0]), at: performance.now() };
}

/** CPU seconds (user + system) the process `pid` has used so far, from /proc (Linux). */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** Server CPU µs per request of `p`: `n` requests over `connections`, after 2 000 to warm up. */
export async function cpuPerRequest(server, p, cookie, { n = 20_000, connections = 10 } = {}) {
  const opts = { url: server.base + p, connections, headers: cookie ? { cookie } : {} };
  await new Promise((resolve, reject) => autocannon({ ...opts, amount: 2000 }, (e) => (e ? reject(e) : resolve())));
  const before = cpuSeconds(server.pid);
  const r = await new Promise((resolve, reject) => autocannon({ ...opts, amount: n }, (e, res) => (e ? reject(e) : resolve(res))));
  await sleep(300);
  if (r.non2xx) throw new Error(`${p}: ${r.non2xx} non-2xx responses`);
  return +(((cpuSeconds(server.pid) - before) * 1e6) / r.requests.total).toFixed(1);
}

/**
 * The app of the CPU-cost benches' server processes, given `express`: `GET /cpu` (the process's CPU
 * µs so far) and `GET /bare` (no session code); a bench mounts its setups on it.
 */
export function costApp(express) {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/cpu', (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.json({ us: user + system });
  });
  app.get('/bare', (_req, res) => res.json({ n: 1 }));
  return app;
}

/** The short commit of this checkout, with ` (lib/ modified)` when lib/ has changes; null outside git. */
export function commitLabel() {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', 'lib'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
  return commit ? `${commit}${dirty ? ' (lib/ modified)' : ''}` : null;
}

/** Writes `<out>/<name>.json` (results) and `<name>.md` (`render(results)`), and prints the Markdown. */
export function writeReport(out, name, results, render) {
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, `${name}.json`), JSON.stringify(results, null, 2) + '\n');
  const md = render(results);
  writeFileSync(path.join(out, `${name}.md`), md);
  console.log('\n' + md);
}

/** Runs the async `main`; a failure is printed and exits with status 1. */
export function runMain(main) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

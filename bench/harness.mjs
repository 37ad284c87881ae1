// Shared pieces of the side-by-side benches that run one setup at a time (memcache.mjs, cookie.mjs): a
// pinned bench/server.mjs process, the pinned load generator, a fetch helper, and server CPU
// time per request from /proc.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT } from './setups.mjs';

const env = process.env;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** `taskset` pinning works here (and is not turned off with BENCH_NO_PIN=1). */
export const hasTaskset = env.BENCH_NO_PIN !== '1' && os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (cpu, cmd, args) => (hasTaskset ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);

/** Starts `node [nodeArgs] bench/server.mjs <setup>` on `cpu`; resolves { base, pid, stop() }. */
export async function startServer(setup, ctx, { cpu = env.BENCH_SERVER_CPU ?? '0', nodeArgs = [] } = {}) {
  const [cmd, args] = pinned(cpu, process.execPath, [...nodeArgs, path.join(ROOT, 'bench/server.mjs'), setup.name]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...env, BENCH_CTX: JSON.stringify(ctx), NODE_ENV: 'production' } });
  const { port, pid } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 20 s')), 20_000);
    child.on('message', (m) => m?.ready && (clearTimeout(timer), resolve(m)));
    child.on('exit', (code) => (clearTimeout(timer), reject(new Error(`server exited ${code} before ready`))));
  });
  return {
    base: `http://127.0.0.1:${port}`,
    pid,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ stop: true });
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
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

// Server CPU time per request of the SQL setups (process.cpuUsage around each slice, divided by
// the requests served), on /bare, /read, /write and /new: steadier than req/s on a shared machine,
// and what decides throughput once the database is not the bottleneck.
//   npm run build && node bench/sql-cost.mjs        (env: COST_ROUNDS=6, COST_SECONDS=1.5,
//   COST_SETUPS=comma list; BENCH_PG / BENCH_MYSQL as for run.mjs)
// The server runs pinned to CPU 0; autocannon and the private databases to CPU 1 (taskset).
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT, getSetup } from './setups.mjs';
import { SQL_SETUPS, startSqlServers } from './sql-setups.mjs';

const ROUNDS = Number(process.env.COST_ROUNDS ?? 6);
const SECONDS = Number(process.env.COST_SECONDS ?? 1.5);
const ROUTES = ['/bare', '/read', '/write', '/new'];
const names = process.env.COST_SETUPS?.split(',') ?? SQL_SETUPS.map((s) => s.name);
const setups = names.map(getSetup);
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (cpu, cmd, args) => (pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);
if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

const sql = await startSqlServers(setups, (cmd, args) => pinned(1, cmd, args));
process.on('exit', () => sql.stop());
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows = [];
for (const setup of setups) {
  if (setup.available() !== true || sql.errors[setup.storage]) {
    rows.push(`| ${setup.label} | not measured | | | |`);
    continue;
  }
  const ctx = { ...sql.ctx, prefix: `cost:${process.pid}:${setup.name}:` };
  const [cmd, args] = pinned(0, process.execPath, [path.join(ROOT, 'bench/server.mjs'), setup.name]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, BENCH_CTX: JSON.stringify(ctx), NODE_ENV: 'production' } });
  const { port } = await new Promise((resolve) => child.on('message', (m) => m?.ready && resolve(m)));
  const base = `http://127.0.0.1:${port}`;
  const seeded = await fetch(`${base}/write`);
  const cookie = seeded.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const cpu = async () => (await (await fetch(`${base}/__cpu`, { headers: { cookie } })).json()).us;
  const load = (route, duration) =>
    new Promise((resolve, reject) => {
      autocannon({ url: base + route, connections: 10, duration, headers: route === '/new' ? {} : { cookie } }, (err, r) => (err ? reject(err) : resolve(r.requests.total)));
    });
  for (const route of ROUTES) await load(route, 0.5);
  const samples = Object.fromEntries(ROUTES.map((r) => [r, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const route of ROUTES) {
      const before = await cpu();
      const requests = await load(route, SECONDS);
      samples[route].push(((await cpu()) - before) / requests);
    }
  }
  child.send({ stop: true });
  await new Promise((r) => child.once('exit', r));
  const us = Object.fromEntries(ROUTES.map((r) => [r, median(samples[r])]));
  rows.push(`| ${setup.label} | ${ROUTES.map((r) => `${us[r].toFixed(0)}${r === '/bare' ? '' : ` (+${(us[r] - us['/bare']).toFixed(0)})`}`).join(' | ')} |`);
  console.error(`[sql-cost] ${setup.name} done`);
}
sql.stop();
console.log('Server CPU µs per request (median of rounds; in parentheses: over /bare)\n');
console.log(`| setup | ${ROUTES.join(' | ')} |`);
console.log(`|---|${ROUTES.map(() => '---:').join('|')}|`);
for (const row of rows) console.log(row);
process.exit(0);

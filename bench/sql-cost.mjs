// Server CPU time per request of the SQL setups (process.cpuUsage around each slice, divided by
// the requests served), on /bare, /read, /write and /new: steadier than req/s on a shared machine,
// and what decides throughput once the database is not the bottleneck.
//   npm run build && node bench/sql-cost.mjs        (env: COST_ROUNDS=6, COST_SECONDS=1.5,
//   COST_SETUPS=comma list; COST_OUT=bench/results/sql/cost.md; BENCH_PG / BENCH_MYSQL as for run.mjs)
// Writes the table to COST_OUT (and stdout), with each sessionware setup's /read CPU over bare
// compared with the incumbents' on the same database.
// The server runs pinned to CPU 0; autocannon and the private databases to CPU 1 (taskset).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT, getSetup } from './setups.mjs';
import { SQL_SETUPS, startSqlServers } from './sql-setups.mjs';

const ROUNDS = Number(process.env.COST_ROUNDS ?? 6);
const SECONDS = Number(process.env.COST_SECONDS ?? 1.5);
const ROUTES = ['/bare', '/read', '/write', '/new'];
const OUT = path.resolve(ROOT, process.env.COST_OUT ?? 'bench/results/sql/cost.md');
const names = process.env.COST_SETUPS?.split(',') ?? SQL_SETUPS.map((s) => s.name);
const setups = names.map(getSetup);
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (cpu, cmd, args) => (pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);
if (pin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

const sql = await startSqlServers(setups, (cmd, args) => pinned(1, cmd, args));
process.on('exit', () => sql.stop());
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows = [];
/** Median server CPU µs per route, by setup name (for the comparison below the table). */
const measured = {};
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
  measured[setup.name] = { ...us, storage: setup.storage, flavor: setup.flavor, label: setup.label };
  rows.push(`| ${setup.label} | ${ROUTES.map((r) => `${us[r].toFixed(0)}${r === '/bare' ? '' : ` (+${(us[r] - us['/bare']).toFixed(0)})`}`).join(' | ')} |`);
  console.error(`[sql-cost] ${setup.name} done`);
}
sql.stop();
// Each sessionware setup against each incumbent on the same database: CPU over bare on /read, and
// the whole request's CPU ratio (what bounds req/s when the server's core is the bottleneck).
const compare = [];
for (const ours of Object.values(measured).filter((m) => m.flavor === 'sessionware')) {
  for (const theirs of Object.values(measured).filter((m) => m.flavor !== 'sessionware' && m.storage === ours.storage)) {
    const over = (m) => m['/read'] - m['/bare'];
    compare.push(`- /read, ${ours.label} vs ${theirs.label}: ${over(ours).toFixed(0)} vs ${over(theirs).toFixed(0)} µs over bare (${(over(theirs) / over(ours)).toFixed(2)}x less); whole request ${(theirs['/read'] / ours['/read']).toFixed(2)}x less CPU`);
  }
}
let commit = '?';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
const text = [
  `# Server CPU per request, SQL setups (\`node bench/sql-cost.mjs\`, ${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${ROUNDS} rounds of ${SECONDS} s)`,
  '',
  `Server CPU µs per request (median of rounds; in parentheses: over /bare). ${Object.values(sql.meta ?? {}).join('; ') || 'databases as configured'}; pools of 10; 10 connections. Server pinned to CPU 0, load generator and databases to CPU 1${pin ? '' : ' (not pinned: no taskset)'}.`,
  '',
  `| setup | ${ROUTES.join(' | ')} |`,
  `|---|${ROUTES.map(() => '---:').join('|')}|`,
  ...rows,
  '',
  ...compare,
  '',
].join('\n');
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, text);
console.log(text);
console.error(`[sql-cost] wrote ${path.relative(ROOT, OUT)}`);
process.exit(0);

// Renders bench/full.mjs's results: the summary (medians), bench/results/full.md, ratios.svg and
// the README's table. `node bench/full-report.mjs` re-renders them from bench/results/full.json.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Median over rounds of a / b, round by round (both bare-normalised). */
const pairedRatio = (a, b) => median(a.map((x, i) => (b[i]?.ratio > 0 && x.ratio !== null ? x.ratio / b[i].ratio : null)));
const fx = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : '–');
const pct = (x) => (typeof x === 'number' ? `${Math.round(x * 100)}%` : '–');

/** Short names for the tables. */
const SHORT = {
  'floor-memory': 'Map',
  'floor-redis-get': 'GET (+EVALSHA)',
  'floor-redis-evalsha': 'one EVALSHA',
  'floor-file-read': 'readFile',
  'floor-file-rmw': 'lock+RMW+durable',
  'floor-file-durable': 'durable write',
  'sessionware-memory': 'MemoryStorage',
  'sessionware-redis': 'RedisStorage',
  'sessionware-redis-hash': 'RedisHashStorage',
  'sessionware-file': 'FileStorage',
  'express-session-memory': 'MemoryStore',
  'express-session-memorystore': 'memorystore',
  'express-session-redis': 'connect-redis',
  'express-session-file': 'session-file-store',
};
const short = (n) => SHORT[n] ?? n;

/** Per layout, connection count and route: the floors, sessionware (reached, x incumbents) and the incumbents. */
export function summarise(results) {
  const out = [];
  for (const layout of results.meta.layouts) {
    for (const c of results.meta.connections) {
      for (const route of results.routes) {
        const s = (name) => results.samples[`${layout}|${c}|${route.id}|${name}`] ?? [];
        const stat = (name) => ({ name, ratio: median(s(name).map((x) => x.ratio)), rps: median(s(name).map((x) => x.rps)), cpu: median(s(name).map((x) => x.cpuPerRequest)), p99: median(s(name).map((x) => x.p99)), bad: s(name).reduce((a, x) => a + x.bad, 0), slices: s(name).map((x) => x.ratio) });
        out.push({
          layout,
          c,
          route: route.id,
          label: route.label,
          floors: route.floors.map(stat),
          sw: route.sw.map((name) => ({ ...stat(name), reached: route.floors.map((f) => pairedRatio(s(name), s(f))), vs: Object.fromEntries(route.inc.map((i) => [i, pairedRatio(s(name), s(i))])) })),
          inc: route.inc.map(stat),
        });
      }
    }
  }
  return { rows: out, targets: targets(results, out) };
}

function targets(results, rows) {
  const t = [];
  const sw = (r) => r.sw;
  const check = (label, ok, detail) => t.push({ label, ok, detail });
  const floorRows = rows.filter((r) => r.route !== 'file-write10' && r.route !== 'redis-set');
  const below = floorRows.flatMap((r) => sw(r).filter((s) => !(s.reached[0] >= 0.9)).map((s) => `${r.label} c=${r.c} ${r.layout} ${short(s.name)} ${pct(s.reached[0])}`));
  check('every route (10-session file /write aside) at least 90% of its floor', below.length === 0, below.length ? `below: ${below.join('; ')}` : 'all');
  for (const [route, min] of [['redis-read', 1.5], ['redis-write', 1.3]]) {
    const miss = rows.filter((r) => r.route === route).flatMap((r) => sw(r).filter((s) => !(s.vs['express-session-redis'] >= min)).map((s) => `c=${r.c} ${r.layout} ${short(s.name)} ${fx(s.vs['express-session-redis'])}x`));
    check(`${route === 'redis-read' ? 'Redis /read' : 'Redis /write'} at least ${min}x connect-redis at every concurrency, both layouts`, miss.length === 0, miss.length ? `short: ${miss.join('; ')}` : 'all');
  }
  const file = rows.filter((r) => r.route === 'file-write' && r.c === 10).flatMap((r) => sw(r).map((s) => `${r.layout} ${fx(s.vs['express-session-file'])}x`));
  const fileOk = rows.filter((r) => r.route === 'file-write' && r.c === 10).every((r) => sw(r).every((s) => s.vs['express-session-file'] >= 3));
  check('file /write of one session at 10 connections at least 3x session-file-store', file.length > 0 && fileOk, file.join('; ') || 'not measured');
  const wrong = Object.entries(results.correctness ?? {}).filter(([name, c]) => name.startsWith('sessionware') && (c.lostUpdates.failures > 0 || c.resurrections.failures > 0));
  check('sessionware: 0 lost updates, 0 resurrections', Object.keys(results.correctness ?? {}).length > 0 && wrong.length === 0, wrong.map(([n]) => n).join(', ') || 'all');
  return t;
}

function routeTable(rows, layout) {
  const lines = ['| route | c | floor: ratio to bare | sessionware: ratio to bare | reached | x incumbents | CPU µs/req (sw / floor) |', '|---|---:|---|---|---:|---|---:|'];
  for (const r of rows.filter((x) => x.layout === layout)) {
    const floor = r.floors.map((f) => `${short(f.name)} ${fx(f.ratio)}`).join('; ');
    for (const s of r.sw) {
      const vs = Object.entries(s.vs).map(([n, x]) => `${fx(x)}x ${short(n)}`).join(', ');
      lines.push(`| ${r.label} | ${r.c} | ${floor} | ${short(s.name)} ${fx(s.ratio)} | ${s.reached.map(pct).join(' / ')} | ${vs} | ${fx(s.cpu, 0)} / ${fx(r.floors[0]?.cpu, 0)} |`);
    }
  }
  return lines.join('\n');
}

function correctnessTable(results) {
  const lines = ['| setup | lost updates | resurrected logouts | overlap happened as planned |', '|---|---:|---:|---:|'];
  for (const [name, c] of Object.entries(results.correctness ?? {})) {
    lines.push(`| ${results.labels[name] ?? name} | ${c.lostUpdates.failures}/${c.lostUpdates.trials} | ${c.resurrections.failures}/${c.resurrections.trials} | ${c.lostUpdates.overlapped}/${c.lostUpdates.trials}, ${c.resurrections.overlapped}/${c.resurrections.trials} |`);
  }
  return lines.join('\n');
}

export function renderFullMarkdown(results) {
  const { meta } = results;
  const summary = results.summary ?? summarise(results);
  const parts = [
    '# Full bench: floors, sessionware and the incumbents, one run',
    '',
    `${meta.date}, commit ${meta.commit}, Node ${meta.node}, ${meta.cpus}. ${meta.rounds} rounds of ${meta.sliceS} s slices per (route, setup), layout and connection count, interleaved (order rotated each round, bare Express every ${meta.bareEvery} slices); medians over rounds. ${meta.pinning}. Redis: ${meta.redis ?? 'not used'}. Took ${meta.elapsedS} s.`,
    '',
    '*ratio to bare*: requests/s over bare Express at the same moment (interpolated between the bare slices around it). *reached*: sessionware over the floor, round by round (median; the first floor, then the others). *x incumbents*: sessionware over each incumbent, round by round. *CPU µs/req*: server CPU time (process.cpuUsage) per request.',
    '',
    'Bare Express requests/s (median, spread = (max - min) / median of the bare slices):',
    '',
    ...Object.entries(results.bare).map(([k, b]) => `- ${k.replace('|', ', c = ')}: ${Math.round(b.rps)} req/s, spread ${pct(b.spread)}`),
    '',
  ];
  for (const layout of meta.layouts) parts.push(`## ${layout === 'pinned' ? 'Pinned (server on CPU 0, load generator and Redis on CPU 1)' : 'Unpinned (every process may use both cores)'}`, '', routeTable(summary.rows, layout), '');
  parts.push('## Incumbents (ratio to bare, CPU µs/req)', '', '| route | c | layout | incumbents |', '|---|---:|---|---|');
  for (const r of summary.rows) parts.push(`| ${r.label} | ${r.c} | ${r.layout} | ${r.inc.map((i) => `${short(i.name)} ${fx(i.ratio)} (${fx(i.cpu, 0)} µs)`).join('; ')} |`);
  parts.push('', '## Correctness (over real HTTP; 0 is right)', '', correctnessTable(results), '', '## Targets', '');
  for (const t of summary.targets) parts.push(`- ${t.ok ? 'met' : '**not met**'}: ${t.label} (${t.detail})`);
  const bad = summary.rows.flatMap((r) => [...r.floors, ...r.sw, ...r.inc].filter((s) => s.bad > 0).map((s) => `${r.label} c=${r.c} ${r.layout} ${s.name}: ${s.bad}`));
  if (bad.length) parts.push('', `Non-2xx responses or errors: ${bad.join('; ')}`);
  return parts.join('\n') + '\n';
}

/** The README's block: pinned and unpinned tables, then correctness. */
export function renderReadmeBlock(results) {
  const summary = results.summary ?? summarise(results);
  const { meta } = results;
  const parts = [`Measured by \`npm run bench:full\` (${meta.date.slice(0, 10)}, ${meta.rounds} x ${meta.sliceS} s slices per cell; full report: [\`bench/results/full.md\`](https://github.com/sessionware/sessionware/blob/main/bench/results/full.md)). Ratios are requests/s over bare Express in the same minutes; *reached* is sessionware over the cheapest possible handler (the floor) of the route.`, ''];
  for (const layout of meta.layouts) parts.push(`**${layout === 'pinned' ? 'Pinned' : 'Unpinned'}**`, '', routeTable(summary.rows, layout), '');
  parts.push(correctnessTable(results));
  return parts.join('\n');
}

/** Bars of the ratio to bare per route (pinned, 10 connections, or the nearest measured). */
export function renderFullSvg(results) {
  const summary = results.summary ?? summarise(results);
  const layout = results.meta.layouts.includes('pinned') ? 'pinned' : results.meta.layouts[0];
  const c = [...results.meta.connections].sort((a, b) => Math.abs(a - 10) - Math.abs(b - 10))[0];
  const rows = summary.rows.filter((r) => r.layout === layout && r.c === c);
  const bars = [];
  for (const r of rows) {
    bars.push({ head: r.label });
    for (const f of r.floors) bars.push({ name: `floor: ${short(f.name)}`, ratio: f.ratio, color: '#9e9e9e' });
    for (const s of r.sw) bars.push({ name: `sessionware ${short(s.name)} (${pct(s.reached[0])} of floor)`, ratio: s.ratio, color: '#1565c0' });
    for (const i of r.inc) bars.push({ name: `express-session ${short(i.name)}`, ratio: i.ratio, color: '#ef6c00' });
  }
  const rowH = 18;
  const left = 330;
  const width = 820;
  const scale = (width - left - 60) / Math.max(1, ...bars.map((b) => b.ratio ?? 0));
  const height = 40 + bars.length * rowH;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`, `<rect width="100%" height="100%" fill="#fff"/>`, `<text x="10" y="20" font-size="14" font-weight="bold">requests/s as a ratio of bare Express (${layout}, ${c} connections; median of ${results.meta.rounds} rounds)</text>`];
  bars.forEach((b, i) => {
    const y = 34 + i * rowH;
    if (b.head) {
      out.push(`<text x="10" y="${y + 13}" font-weight="bold">${esc(b.head)}</text>`);
      return;
    }
    out.push(`<text x="${left - 8}" y="${y + 12}" text-anchor="end">${esc(b.name)}</text>`);
    if (typeof b.ratio === 'number') {
      out.push(`<rect x="${left}" y="${y + 2}" width="${(b.ratio * scale).toFixed(1)}" height="${rowH - 5}" fill="${b.color}"/>`);
      out.push(`<text x="${left + b.ratio * scale + 4}" y="${y + 12}">${b.ratio.toFixed(2)}</text>`);
    }
  });
  out.push(`<line x1="${left + scale}" y1="30" x2="${left + scale}" y2="${height - 4}" stroke="#000" stroke-dasharray="3,3"/>`, '</svg>');
  return out.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'results');
  const results = JSON.parse(readFileSync(path.join(dir, 'full.json'), 'utf8'));
  results.summary = summarise(results);
  writeFileSync(path.join(dir, 'full.md'), renderFullMarkdown(results));
  writeFileSync(path.join(dir, 'ratios.svg'), renderFullSvg(results));
  console.log(renderFullMarkdown(results));
}

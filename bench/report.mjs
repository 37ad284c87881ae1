// Turns bench results (latest.json) into Markdown, an SVG chart and a target check.
// Re-render without re-running: node bench/report.mjs [bench/results/latest.json]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCENARIOS = ['read', 'write', 'new'];
const COLORS = { read: '#2b6cb0', write: '#d69e2e', new: '#38a169' };

const f0 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const f2 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(2));
const f3 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(3));
const ok = (s) => s.status === 'ok';

function byName(results, name) {
  const s = results.setups.find((x) => x.name === name);
  return s && ok(s) ? s : undefined;
}

/** The issue's targets, measured: each { target, value, pass } (pass null when not measurable). */
export function evaluateTargets(results) {
  const t = [];
  const add = (target, value, pass) => t.push({ target, value, pass: pass ?? null });
  const sw = byName(results, 'sessionware-memory');
  const esMem = byName(results, 'express-session-memory');
  const ratio = (s, sc) => s?.scenarios?.[sc]?.ratio;

  if (sw?.scenarios) {
    add('sessionware + memory: /read >= 0.8x bare', `${f2(ratio(sw, 'read'))}x`, ratio(sw, 'read') >= 0.8);
    add('sessionware + memory: /new >= 0.7x bare', `${f2(ratio(sw, 'new'))}x`, ratio(sw, 'new') >= 0.7);
  }
  if (sw?.heap && esMem?.heap) {
    add(
      'sessionware + memory: heap per idle session <= express-session MemoryStore',
      `${f0(sw.heap.bytesPerSession)} B vs ${f0(esMem.heap.bytesPerSession)} B`,
      sw.heap.bytesPerSession <= esMem.heap.bytesPerSession,
    );
  }
  for (const s of results.setups.filter((x) => ok(x) && x.flavor === 'sessionware' && x.correctness)) {
    const c = s.correctness;
    add(`${s.label}: lost updates 0/${c.lostUpdates.trials}`, `${c.lostUpdates.failures}/${c.lostUpdates.trials}`, c.lostUpdates.failures === 0);
    add(`${s.label}: resurrections 0/${c.resurrections.trials}`, `${c.resurrections.failures}/${c.resurrections.trials}`, c.resurrections.failures === 0);
  }
  const vs = (mine, theirs, factor, what) => {
    const a = byName(results, mine);
    const b = byName(results, theirs);
    if (!a?.scenarios?.read || !b?.scenarios?.read) return;
    const byRatio = a.scenarios.read.ratio / b.scenarios.read.ratio;
    const byRps = a.scenarios.read.rps / b.scenarios.read.rps;
    add(`${a.label}: /read >= ${factor}x ${what}'s`, `${f2(byRatio)}x (by ratio to bare; ${f2(byRps)}x by raw req/s)`, byRatio >= factor);
  };
  vs('sessionware-file', 'express-session-file', 5, 'session-file-store');
  vs('sessionware-redis', 'express-session-redis', 1.5, 'connect-redis');
  vs('sessionware-redis-hash', 'express-session-redis', 1.5, 'connect-redis');
  vs('sessionware-postgres', 'express-session-pg', 1.5, 'connect-pg-simple');
  vs('sessionware-mysql', 'express-session-mysql', 1.5, 'express-mysql-session');
  for (const name of ['sessionware-postgres', 'sessionware-mysql']) {
    const s = byName(results, name);
    const c = s?.scenarios?.read?.statementsPerRequest;
    if (c !== undefined) add(`${s.label}: SQL statements per /read <= 1.05`, f3(c), c <= 1.05);
  }
  for (const name of ['sessionware-redis', 'sessionware-redis-hash']) {
    const s = byName(results, name);
    const c = s?.scenarios?.read?.redisCommandsPerRequest;
    if (c !== undefined) add(`${s.label}: Redis commands per /read <= 1.05`, f3(c), c <= 1.05);
  }
  return t;
}

export function renderMarkdown(results) {
  const m = results.meta;
  const L = [];
  L.push('# sessionware benchmark: latest run', '');
  L.push(`${m.date} · commit ${m.commit ?? '?'} · Node ${m.node} · ${m.cpus} · ${m.pinned}`);
  L.push(`autocannon ${m.versions?.autocannon}, ${m.connections} connections, ${m.warmupS} s warm-up + ${m.durationS} s measured per scenario (plus as much bare, interleaved) · correctness ${m.trials} trials each (slow request ${m.slowMs} ms) · heap over ${f0(m.heapSessions)} sessions${m.redis ? ` · Redis ${m.redis}` : ''}${m.sql ? ` · ${Object.entries(m.sql).map(([k, v]) => `${k} ${v}`).join(' · ')}` : ''} · took ${m.elapsedS ?? '?'} s`);
  L.push('', 'Ratios are requests/s divided by bare Express (no session middleware) measured in the same server process, in the same round (bare and scenario slices alternate; see Details). Compare ratios across runs, not raw requests/s.', '');
  L.push('![requests/s ratio to bare Express](latest.svg)', '');

  L.push('## Throughput ratio to bare Express', '');
  L.push('| setup | /read | /write | /new | bare req/s (mean of all bare slices of this setup) | bare spread (max-min)/mean |', '|---|---:|---:|---:|---:|---:|');
  for (const s of results.setups) {
    if (!ok(s) || !s.scenarios) {
      L.push(`| ${s.label} | ${s.status}${s.reason ? `: ${s.reason.split('\n')[0]}` : ''} | | | | |`);
      continue;
    }
    L.push(`| ${s.label} | ${SCENARIOS.map((sc) => (s.scenarios[sc] ? `${f2(s.scenarios[sc].ratio)}x` : '–')).join(' | ')} | ${f0(s.bareRps)} | ${s.bareSpread === undefined ? '–' : `${Math.round(s.bareSpread * 100)}%`} |`);
  }

  L.push('', '## Details', '');
  L.push('Each scenario ran as ' + (m.slices ?? 1) + ' slices of ' + f2(m.durationS / (m.slices ?? 1)) + ' s, each between two bare slices; "ratio" is the median of the slice ratios (listed). Redis cmds/req counts what Redis executed, so commands run inside a Lua script (EVALSHA) appear next to the EVALSHA itself. SQL stmts/req counts the statements each setup sent through its pool (batched TTL refreshes included).', '');
  L.push('| setup | scenario | req/s | p50 ms | p99 ms | ratio | slice ratios | bare req/s (interleaved) | bare p50 / p99 ms | Redis cmds/req | SQL stmts/req | non-2xx |', '|---|---|---:|---:|---:|---:|---|---:|---:|---|---|---:|');
  for (const s of results.setups.filter((x) => ok(x) && x.scenarios)) {
    for (const [sc, r] of Object.entries(s.scenarios)) {
      const cmds = r.redisCommandsPerRequest !== undefined ? `${f3(r.redisCommandsPerRequest)} (${Object.entries(r.redisCommands).map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
      const stmts = r.statementsPerRequest !== undefined ? `${f3(r.statementsPerRequest)} (${Object.entries(r.statements).map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
      L.push(`| ${s.label} | /${sc} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${f2(r.ratio)}x | ${(r.sliceRatios ?? []).map(f2).join(' ')} | ${f0(r.bare?.rps)} | ${f2(r.bare?.p50)} / ${f2(r.bare?.p99)} | ${cmds} | ${stmts} | ${(r.non2xx || 0) + (r.errors || 0)} |`);
    }
  }

  const incr = results.setups.filter((x) => ok(x) && x.scenarios?.incr?.incr);
  if (incr.length) {
    L.push('', `## /incr: one counter bumped by every request (${m.connections ?? '?'} connections, one session)`, '');
    L.push('sessionware uses `increment()` (compare-and-set, retried on conflict); express-session reads `n` and writes it back. "answered" counts the /incr responses with status 200; "lost" is how many of those increments the final count does not hold.', '');
    L.push('| setup | /incr req/s | /incr ratio | /write ratio | answered | final n | lost increments | CAS conflicts | retries per request |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of incr) {
      const r = s.scenarios.incr;
      const c = r.incr;
      const cas = s.flavor === 'express-session' ? '–' : f0(c.conflicts);
      const retries = s.flavor === 'express-session' ? '–' : c.retriesPerRequest.toFixed(4);
      L.push(`| ${s.label} | ${f0(r.rps)} | ${f2(r.ratio)}x | ${s.scenarios.write ? `${f2(s.scenarios.write.ratio)}x` : '–'} | ${f0(c.answered)} | ${f0(c.finalN)} | ${f0(c.lost)} | ${cas} | ${retries} |`);
    }
  }

  const heaps = results.setups.filter((x) => ok(x) && x.heap);
  if (heaps.length) {
    L.push('', '## Heap per idle session (memory setups)', '');
    L.push('| setup | bytes per session | sessions |', '|---|---:|---:|');
    for (const s of heaps) L.push(`| ${s.label} | ${f0(s.heap.bytesPerSession)} | ${f0(s.heap.sessions)} |`);
  }

  const corr = results.setups.filter((x) => ok(x) && x.correctness);
  if (corr.length) {
    L.push('', '## Correctness over real HTTP (failures / trials; lower is better)', '');
    L.push('| setup | lost update (two overlapping writes to different keys) | resurrection (logout during a slow write) | trials where the overlap happened as planned |', '|---|---:|---:|---:|');
    for (const s of corr) {
      const c = s.correctness;
      L.push(`| ${s.label} | ${c.lostUpdates.failures}/${c.lostUpdates.trials} | ${c.resurrections.failures}/${c.resurrections.trials} | ${c.lostUpdates.overlapped}/${c.lostUpdates.trials}, ${c.resurrections.overlapped}/${c.resurrections.trials} |`);
    }
  }

  if (results.targets?.length) {
    L.push('', '## Targets', '');
    L.push('| target | measured | met |', '|---|---|:---:|');
    for (const t of results.targets) L.push(`| ${t.target} | ${t.value} | ${t.pass === null ? '?' : t.pass ? 'yes' : '**no**'} |`);
  }
  const skipped = results.setups.filter((x) => !ok(x));
  if (skipped.length) {
    L.push('', '## Not measured', '');
    for (const s of skipped) L.push(`- ${s.label}: ${s.status} (${(s.reason ?? '').split('\n')[0]})`);
  }
  return L.join('\n') + '\n';
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal grouped bars: /read, /write, /new ratio to bare per setup, with the 1.0 line. */
export function renderSvg(results) {
  const rows = results.setups.filter((s) => ok(s) && s.scenarios);
  const labelW = 270;
  const plotW = 460;
  const barH = 12;
  const gap = 3;
  const groupGap = 14;
  const top = 52;
  const legendH = 0;
  const groupH = SCENARIOS.length * (barH + gap) - gap;
  const height = top + rows.length * (groupH + groupGap) + 36 + legendH;
  const width = labelW + plotW + 70;
  const maxRatio = Math.max(1.1, ...rows.flatMap((s) => SCENARIOS.map((sc) => s.scenarios[sc]?.ratio ?? 0)));
  const scaleMax = Math.ceil(maxRatio * 5) / 5;
  const x = (v) => +(labelW + (v / scaleMax) * plotW).toFixed(1);
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  o.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">Requests/s as a ratio of bare Express (higher is better)</text>`);
  // legend
  SCENARIOS.forEach((sc, i) => {
    const lx = 12 + i * 70;
    o.push(`<rect x="${lx}" y="30" width="12" height="12" fill="${COLORS[sc]}"/><text x="${lx + 16}" y="40">/${sc}</text>`);
  });
  const plotBottom = height - 30;
  // grid
  for (let v = 0; v <= scaleMax + 1e-9; v += 0.2) {
    const gx = x(v);
    o.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${plotBottom}" stroke="#e2e8f0"/>`);
    o.push(`<text x="${gx}" y="${plotBottom + 14}" text-anchor="middle" fill="#4a5568">${v.toFixed(1)}</text>`);
  }
  rows.forEach((s, gi) => {
    const gy = top + gi * (groupH + groupGap);
    o.push(`<text x="${labelW - 8}" y="${gy + groupH / 2 + 4}" text-anchor="end">${esc(s.label)}</text>`);
    SCENARIOS.forEach((sc, i) => {
      const r = s.scenarios[sc]?.ratio;
      if (r === undefined) return;
      const by = gy + i * (barH + gap);
      o.push(`<rect x="${labelW}" y="${by}" width="${Math.max(1, x(r) - labelW).toFixed(1)}" height="${barH}" fill="${COLORS[sc]}"><title>${esc(s.label)} /${sc}: ${r.toFixed(2)}x (${Math.round(s.scenarios[sc].rps)} req/s)</title></rect>`);
      o.push(`<text x="${(x(r) + 4).toFixed(1)}" y="${by + barH - 2}" font-size="10" fill="#2d3748">${r.toFixed(2)}</text>`);
    });
  });
  o.push(`<line x1="${x(1)}" y1="${top - 8}" x2="${x(1)}" y2="${plotBottom}" stroke="#c53030" stroke-width="1.5" stroke-dasharray="5,3"/>`);
  o.push(`<text x="${x(1)}" y="${top - 10}" text-anchor="middle" font-size="10" fill="#c53030">bare = 1.0</text>`);
  o.push(`<text x="${labelW + plotW / 2}" y="${height - 4}" text-anchor="middle" fill="#4a5568" font-size="10">${esc(`${results.meta.date.slice(0, 10)} · ${results.meta.connections} connections · ${results.meta.durationS} s per scenario · ${results.meta.pinned}`)}</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results/latest.json'));
  const results = JSON.parse(readFileSync(file, 'utf8'));
  results.targets = evaluateTargets(results);
  const dir = path.dirname(file);
  writeFileSync(path.join(dir, 'latest.md'), renderMarkdown(results));
  writeFileSync(path.join(dir, 'latest.svg'), renderSvg(results));
  console.log(renderMarkdown(results));
}

// What bench/run.mjs and bench/full.mjs share: the HTTP helpers and the correctness trials (lost
// updates and resurrected logouts over real HTTP; see bench/README.md, "Correctness").
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One GET: status, JSON body (if any), the cookies it sets (name=value), and when it finished. */
export async function get(base, p, cookie) {
  const res = await fetch(base + p, { headers: cookie ? { cookie } : {} });
  const body = await res.text();
  const setCookie = res.headers.getSetCookie().map((c) => c.split(';')[0]);
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, body, setCookie, at: performance.now() };
}

/** A new session: one request that writes, keeping the cookie it sets. */
export async function newSession(base, p = '/write') {
  const r = await get(base, p);
  if (r.status !== 200 || !r.setCookie.length) throw new Error(`seeding ${p} gave ${r.status}, cookies ${JSON.stringify(r.setCookie)}: ${r.body}`);
  return r.setCookie.join('; ');
}

/** The correctness trials with these settings: `{ trials, trialConcurrency, slowMs, log }`. */
export function correctnessTrials(CFG) {
  async function lostUpdateTrial(base) {
    const cookie = await newSession(base, '/fast-write?key=init');
    const slow = get(base, `/slow-write?key=a&ms=${CFG.slowMs}`, cookie);
    await sleep(CFG.slowMs * 0.3);
    const fast = await get(base, '/fast-write?key=b', cookie);
    const slowRes = await slow;
    const dump = (await get(base, '/dump', cookie)).json ?? {};
    return { failed: !(dump.a && dump.b), overlapped: fast.at < slowRes.at, dump };
  }

  async function resurrectionTrial(base) {
    const cookie = await newSession(base, '/fast-write?key=init');
    const slow = get(base, `/slow-write?key=a&ms=${CFG.slowMs}`, cookie);
    await sleep(CFG.slowMs * 0.3);
    const logout = await get(base, '/logout', cookie);
    const slowRes = await slow;
    const dump = (await get(base, '/dump', cookie)).json ?? {};
    return { failed: Object.keys(dump).length > 0, overlapped: logout.at < slowRes.at, dump };
  }

  async function trials(fn, base) {
    const results = [];
    let next = 0;
    const worker = async () => {
      while (next < CFG.trials) {
        next++;
        results.push(await fn(base));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, CFG.trialConcurrency) }, worker));
    return { trials: results.length, failures: results.filter((r) => r.failed).length, overlapped: results.filter((r) => r.overlapped).length, example: results.find((r) => r.failed)?.dump };
  }

  return async function correctness(server) {
    const lost = await trials(lostUpdateTrial, server.base);
    const res = await trials(resurrectionTrial, server.base);
    CFG.log(`  correctness: lost updates ${lost.failures}/${lost.trials} (overlapped ${lost.overlapped}), resurrections ${res.failures}/${res.trials} (overlapped ${res.overlapped})`);
    return { lostUpdates: lost, resurrections: res };
  };
}

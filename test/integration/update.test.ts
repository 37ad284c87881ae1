/**
 * `update()` / `increment()` over real HTTP on every storage: 50 concurrent requests of one session
 * change the same key and none of their changes is lost; writers of other keys keep theirs; a
 * logout racing them stays a logout.
 */
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Manager, session, type Storage } from 'sessionware';
import { wrap } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

const N = 50;
const HOUR = 3_600_000;

/** The app of these tests; exported for the two-process and Redis Cluster tests. */
export function buildUpdateApp(storage: Storage): express.Express {
  const app = express();
  app.use(session(storage));
  app.get('/incr', wrap(async (req, res) => {
    await req.session.get('user'); // load first, as a real handler would: the loaded value goes stale
    res.json({ n: await req.session.increment('n') });
  }));
  app.get('/append', wrap(async (req, res) => {
    const item = String(req.query['item']);
    const list = await req.session.update<string[]>('list', (current = []) => [...current, item]);
    res.json({ length: list?.length ?? 0 });
  }));
  app.get('/set', wrap(async (req, res) => {
    await req.session.set(String(req.query['k']), true);
    res.send('ok');
  }));
  app.get('/logout', wrap(async (req, res) => {
    await req.session.removeAll();
    res.send('bye');
  }));
  app.get('/data', wrap(async (req, res) => {
    res.json(await req.session.data());
  }));
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.name, code: err.code ?? null, message: err.message });
  });
  return app;
}

/** Stores a session through a `Manager` on `storage`; resolves its id. */
export async function seedSession(storage: Storage, values: Record<string, unknown>): Promise<string> {
  const s = new Manager({ storage }).new();
  await s.setMap(values);
  const id = await s.id();
  await s.close();
  return id;
}

export async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describeEachStorage((name, current) => {
  let server: Awaited<ReturnType<typeof listen>>;
  beforeEach(async () => {
    server = await listen(buildUpdateApp(current()));
  });
  afterEach(() => server.close());

  const get = (path: string, id: string) => fetch(`${server.url}${path}`, { headers: { cookie: `sessionid=${id}` } });
  /** What is stored, read from the storage itself (an HTTP read would leave a TTL refresh in flight past the test). */
  const stored = async (id: string) => {
    const record = await current().getSession(id, HOUR);
    return record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));
  };
  const json = async (path: string, id: string) => {
    const res = await get(path, id);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };

  it(`should count every one of ${N} concurrent increments of one key on ${name}`, async () => {
    const id = await seedSession(current(), { user: 'ada' });
    const answers = await Promise.all(Array.from({ length: N }, () => json('/incr', id)));
    // Each increment resolved the value it stored: 1 to N, each once.
    expect(answers.map((a) => a['n']).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    await expect(stored(id)).resolves.toEqual({ user: 'ada', n: N });
  });

  it(`should keep every one of ${N} concurrent appends to one list on ${name}`, async () => {
    const id = await seedSession(current(), { user: 'ada' });
    await Promise.all(Array.from({ length: N }, (_, i) => json(`/append?item=${i}`, id)));
    const data = (await stored(id)) ?? {};
    expect((data['list'] as string[]).slice().sort()).toEqual(Array.from({ length: N }, (_, i) => String(i)).sort());
  });

  it(`should keep the increments and the writes of other keys of ${N} + ${N} mixed concurrent requests on ${name}`, async () => {
    const id = await seedSession(current(), { user: 'ada' });
    await Promise.all(Array.from({ length: N }, (_, i) => [json('/incr', id), get(`/set?k=k${i}`, id).then((r) => expect(r.status).toBe(200))]).flat());
    const data = (await stored(id)) ?? {};
    expect(data['n']).toBe(N);
    for (let i = 0; i < N; i++) expect(data[`k${i}`]).toBe(true);
  });

  it(`should let a logout racing ${N} increments win on ${name}`, async () => {
    const id = await seedSession(current(), { user: 'ada', n: 0 });
    const incs = Array.from({ length: N }, async () => (await get('/incr', id)).status);
    await new Promise((r) => setTimeout(r, 5));
    const logout = await get('/logout', id);
    expect(logout.status).toBe(200);
    const statuses = await Promise.all(incs);
    expect(statuses.every((s) => s === 200)).toBe(true);
    await expect(stored(id)).resolves.toBeUndefined();
  });
});

/**
 * `update()` / `increment()` over real HTTP on every storage: 50 concurrent requests of one session
 * change the same key and none of their changes is lost; writers of other keys keep theirs; a
 * logout racing them stays a logout.
 */
import { describeEachStorage } from '../helpers/storages';
import { buildUpdateApp, listen, seedSession } from '../helpers/update-app';

const N = 50;
const HOUR = 3_600_000;

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

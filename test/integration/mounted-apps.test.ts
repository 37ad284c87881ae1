/**
 * Read-your-writes across mounted Express apps. Express gives a response the mounted app's
 * prototype when the request enters it (`app.use('/api', api)`) and the parent's again when the
 * request leaves it unanswered: a change made on one side of that swap and a response sent on the
 * other must still be stored before the client sees the response complete (an earlier hook that
 * lived in a per-response prototype was dropped by the swap, and the change was lost).
 */
import type express5 from 'express';
import request from 'supertest';
import { MemoryStorage, session, type Storage } from 'sessionware';
import { FRAMEWORKS, cookieValue, recordCalls, wrap } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

type Express = typeof express5;

/** A middleware that stores `k` = `value`, then passes the request on. */
const setThenNext = (value: string) => (req: express5.Request, _res: express5.Response, next: express5.NextFunction) => {
  req.session.set('k', value).then(() => next(), next);
};

/** Where the change is made and who answers, in an app with a mounted app (and one inside it). */
const ARRANGEMENTS: Record<string, (express: Express, storage: Storage) => express5.Express> = {
  'a change in the parent, the answer from a mounted app': (express, storage) => {
    const app = express();
    app.use(session(storage));
    app.use(setThenNext('parent'));
    const api = express();
    api.get('/x', (_req, res) => void res.send('from api'));
    app.use('/api', api);
    return app;
  },
  'a change in a mounted app that passes the request on, the answer from the parent': (express, storage) => {
    const app = express();
    app.use(session(storage));
    const api = express();
    api.use(setThenNext('api'));
    app.use('/api', api);
    app.get('/api/x', (_req, res) => void res.send('from parent'));
    return app;
  },
  'a change two mounts deep, the answer from the parent': (express, storage) => {
    const app = express();
    app.use(session(storage));
    const outer = express();
    const inner = express();
    inner.use(setThenNext('inner'));
    outer.use('/in', inner);
    app.use('/api', outer);
    app.get('/api/in/x', (_req, res) => void res.json({ from: 'parent' }));
    return app;
  },
  'the session middleware itself in a mounted app, the answer from the parent': (express, storage) => {
    const app = express();
    const api = express();
    api.use(session(storage));
    api.use(setThenNext('mounted'));
    app.use('/api', api);
    app.get('/api/x', (_req, res) => void res.send('from parent'));
    return app;
  },
  'an app whose response prototype has an end() of its own, the answer from the parent': (express, storage) => {
    const app = express();
    const api = express();
    // A prototype on the way that shadows the shared methods: the hook wraps this response with closures.
    const inherited = Object.getPrototypeOf(api.response) as { end: (...args: unknown[]) => unknown };
    Object.defineProperty(api.response, 'end', { value: function end(this: unknown, ...args: unknown[]) { return inherited.end.apply(this, args); }, writable: true, configurable: true });
    api.use(session(storage));
    api.use(setThenNext('own end'));
    app.use('/api', api);
    app.get('/api/x', (_req, res) => void res.send('from parent'));
    return app;
  },
};

/** What the arrangement stored, read back through a plain app on the same storage with the cookie the first response gave. */
async function roundTrip(express: Express, storage: Storage, name: string): Promise<unknown> {
  const app = (ARRANGEMENTS[name] as (e: Express, s: Storage) => express5.Express)(express, storage);
  const first = await request(app).get(name.includes('deep') ? '/api/in/x' : '/api/x').expect(200);
  const id = cookieValue(first.headers['set-cookie']);
  expect(id).toBeDefined();
  const reader = express();
  reader.use(session(storage));
  reader.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('k')) ?? null })));
  const second = await request(reader).get('/get').set('Cookie', `sessionid=${id}`).expect(200);
  return (second.body as { value: unknown }).value;
}

const EXPECTED: Record<string, string> = {
  'a change in the parent, the answer from a mounted app': 'parent',
  'a change in a mounted app that passes the request on, the answer from the parent': 'api',
  'a change two mounts deep, the answer from the parent': 'inner',
  'the session middleware itself in a mounted app, the answer from the parent': 'mounted',
  'an app whose response prototype has an end() of its own, the answer from the parent': 'own end',
};

describe.each(Object.entries(FRAMEWORKS))('mounted apps, %s', (_framework, express) => {
  let memory: MemoryStorage;
  let slow: Storage;
  beforeEach(() => {
    memory = new MemoryStorage();
    slow = recordCalls(memory, { delay: { setSession: 100 } }).storage; // a write the response must wait for
  });
  afterEach(() => memory.close());

  it.each(Object.keys(ARRANGEMENTS))('should store the change before the client sees the response complete: %s', async (name) => {
    await expect(roundTrip(express, slow, name)).resolves.toBe(EXPECTED[name]);
  });

  it('should hold the response for exactly the write: the client waits at least as long as setSession takes', async () => {
    const app = (ARRANGEMENTS['a change in the parent, the answer from a mounted app'] as (e: Express, s: Storage) => express5.Express)(express, slow);
    const started = Date.now();
    await request(app).get('/api/x').expect(200, 'from api');
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});

describeEachStorage((name, current) => {
  const express = FRAMEWORKS['Express 5'];
  it.each(Object.keys(ARRANGEMENTS).slice(0, 2))(`should store the change before the response completes on ${name}: %s`, async (arrangement) => {
    await expect(roundTrip(express, current(), arrangement)).resolves.toBe(EXPECTED[arrangement]);
  });
});

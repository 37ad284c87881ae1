/**
 * Read-your-writes on every way a response is sent: after a change, the client must not see the
 * response complete before the session is stored. Each path runs against a storage whose write
 * takes 100 ms, and a second request sent the moment the first completes must see the change.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import connect from 'connect';
import type express5 from 'express';
import request from 'supertest';
import { MemoryStorage, session, type SessionOptions, type Storage } from 'sessionware';
import { FRAMEWORKS, cookieValue, listen, recordCalls, wrap } from '../helpers/app';
import { describeEachStorage } from '../helpers/storages';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BODY = 'hello, session';

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sessionware-paths-'));
  file = join(dir, 'page.txt');
  await writeFile(file, BODY);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Respond = (req: express5.Request, res: express5.Response) => void | Promise<void>;

/** Every way of sending the response, each run after `await req.session.set('k', <v>)`. */
const PATHS: Record<string, Respond> = {
  send: (_req, res) => void res.send(BODY),
  json: (_req, res) => void res.json({ body: BODY }),
  redirect: (_req, res) => res.redirect('/elsewhere'),
  'end(body)': (_req, res) => void res.end(BODY),
  'write + end': (_req, res) => {
    res.write('hello, ');
    res.end('session');
  },
  'write with Content-Length': (_req, res) => {
    res.setHeader('Content-Length', String(Buffer.byteLength(BODY)));
    res.write(BODY); // the client has the whole body now, before end()
    setTimeout(() => res.end(), 5);
  },
  'writeHead with Content-Length, then write': (_req, res) => {
    res.writeHead(200, { 'Content-Length': String(Buffer.byteLength(BODY)) });
    res.write(BODY.slice(0, 5));
    res.write(BODY.slice(5));
    res.end();
  },
  sendFile: (_req, res) => res.sendFile(file),
  download: (_req, res) => res.download(file),
  'pipe of a stream': (_req, res) => {
    Readable.from([Buffer.from('hello, '), Buffer.from('session')]).pipe(res);
  },
  'pipe of a file with Content-Length': (_req, res) => {
    res.setHeader('Content-Length', String(Buffer.byteLength(BODY)));
    createReadStream(file).pipe(res);
  },
  'end(cb)': (_req, res) =>
    new Promise<void>((resolve) => {
      res.end(BODY, () => resolve());
    }),
  '204 with flushHeaders': (_req, res) => {
    res.status(204);
    res.flushHeaders(); // a 204 is complete with its headers
    setTimeout(() => res.end(), 5);
  },
  '304': (_req, res) => void res.status(304).end(),
};

/** An app where `/path/<name>?v=` sets `k` and answers through that path; `/get` reads `k`. */
function pathsApp(express: typeof express5, storage: Storage, options: SessionOptions = {}): express5.Express {
  const app = express();
  app.use(session(storage, options));
  app.all('/path/:name', wrap(async (req, res) => {
    const respond = PATHS[String(req.params['name'])] as Respond;
    await req.session.set('k', String(req.query['v']));
    await respond(req, res);
  }));
  app.get('/get', wrap(async (req, res) => {
    res.json({ value: (await req.session.get('k')) ?? null });
  }));
  return app;
}

/** Runs one path, then reads back at once with the cookie it got; resolves what the read saw. */
async function roundTrip(app: express5.Express, name: string, v: string, method: 'get' | 'head' = 'get'): Promise<unknown> {
  const first = await request(app)[method](`/path/${encodeURIComponent(name)}?v=${v}`);
  expect(first.status).toBeLessThan(400);
  const id = cookieValue(first.headers['set-cookie']);
  expect(id).toBeDefined();
  const second = await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200);
  return (second.body as { value: unknown }).value;
}

describe.each(Object.entries(FRAMEWORKS))('read-your-writes on every response path, %s', (_framework, express) => {
  let memory: MemoryStorage;
  let slow: Storage;
  beforeEach(() => {
    memory = new MemoryStorage();
    slow = recordCalls(memory, { delay: { setSession: 100 } }).storage;
  });
  afterEach(() => memory.close());

  it.each(Object.keys(PATHS))('should store the change before the client sees %s complete', async (name) => {
    await expect(roundTrip(pathsApp(express, slow), name, 'one')).resolves.toBe('one');
  });

  it.each(['send', 'write with Content-Length', 'sendFile'])('should hold a HEAD response to %s until the change is stored', async (name) => {
    await expect(roundTrip(pathsApp(express, slow), name, 'head', 'head')).resolves.toBe('head');
  });

  it('should include a change made after the writes started', async () => {
    const app = express();
    app.use(session(slow));
    app.get('/', wrap(async (req, res) => {
      res.setHeader('Content-Length', String(Buffer.byteLength(BODY)));
      res.write(BODY.slice(0, 4));
      await req.session.set('k', 'late');
      res.write(BODY.slice(4));
      await sleep(5);
      res.end();
    }));
    app.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('k')) ?? null })));
    // The headers left before the session had an id: the client holds none. Use a known session.
    const id = 'respPathsLate0000000001';
    await memory.setSession(id, { set: new Map([['k', '"before"']]), removed: new Set() }, 60_000, { create: true });
    const first = await request(app).get('/').set('Cookie', `sessionid=${id}`).expect(200);
    expect(first.text).toBe(BODY);
    await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200, { value: 'late' });
  });

  it('should keep backpressure: a large body written against write() returning false and drain', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'x');
    let sawFalse = false;
    const app = express();
    app.use(session(slow));
    app.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'big');
      res.setHeader('Content-Length', String(big.length));
      const chunk = 64 * 1024;
      for (let offset = 0; offset < big.length; offset += chunk) {
        if (!res.write(big.subarray(offset, offset + chunk))) {
          sawFalse = true;
          await new Promise((r) => res.once('drain', r));
        }
      }
      res.end();
    }));
    app.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('k')) ?? null })));
    const first = await request(app).get('/').buffer(true).parse((res, done) => {
      let length = 0;
      res.on('data', (d: Buffer) => (length += d.length));
      res.on('end', () => done(null, length));
    }).expect(200);
    expect(first.body).toBe(big.length);
    expect(sawFalse).toBe(true);
    const id = cookieValue(first.headers['set-cookie']);
    await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200, { value: 'big' });
  });

  it('should treat a second end() as Node does: ignored, the body arrives, the write lands first, nothing throws', async () => {
    const errors: unknown[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const app = express();
      app.use(session(slow, { onError: (err) => errors.push(err) }));
      let secondEnd: unknown;
      app.get('/', wrap(async (req, res) => {
        try {
          await req.session.set('k', 'twice');
          res.end('x');
        } finally {
          secondEnd = res.end(); // common in try/finally code
        }
      }));
      app.get('/cb', wrap(async (req, res) => {
        await req.session.set('k', 'cb');
        res.end('y');
        await new Promise<void>((resolve) => res.end(() => resolve())); // a callback on a second end() fires on finish
      }));
      app.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('k')) ?? null })));
      const first = await request(app).get('/').expect(200, 'x');
      expect(secondEnd).toBeDefined();
      await request(app).get('/get').set('Cookie', `sessionid=${cookieValue(first.headers['set-cookie'])}`).expect(200, { value: 'twice' });
      await request(app).get('/cb').expect(200, 'y');
      await sleep(20);
      expect(errors).toEqual([]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('should keep the held response intact when the handler sends twice (the second fails as in plain Node)', async () => {
    const app = express();
    app.use(session(slow));
    let second: unknown;
    app.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'once');
      res.send('first');
      try {
        res.status(500).send('a second, longer body that must not change the first');
      } catch (err) {
        second = (err as NodeJS.ErrnoException).code;
      }
    }));
    app.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('k')) ?? null })));
    const agent = request.agent(app);
    const first = await agent.get('/').expect(200, 'first');
    expect(first.headers['content-length']).toBe('5');
    expect(second).toBe('ERR_HTTP_HEADERS_SENT');
    await agent.get('/get').set('Cookie', `sessionid=${cookieValue(first.headers['set-cookie'])}`).expect(200, { value: 'once' });
  });

  it('should drop data written after end() without crashing, reporting it through onError', async () => {
    const errors: Error[] = [];
    const app = express();
    app.use(session(slow, { onError: (err) => errors.push(err) }));
    let callbackError: unknown;
    app.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'v');
      res.end('x');
      res.write('late', (err) => (callbackError = err));
      res.end('later');
    }));
    await request(app).get('/').expect(200, 'x');
    await sleep(20);
    expect((callbackError as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_STREAM_WRITE_AFTER_END');
    expect(errors.map((e) => e.name)).toEqual(['SessionStateError', 'SessionStateError']);
  });

  it.each<[string, (res: http.ServerResponse) => void]>([
    ['an object', (res) => res.writeHead(200, { 'Set-Cookie': 'other=x', 'Content-Type': 'text/plain' })],
    ['an object with a list', (res) => res.writeHead(200, { 'Set-Cookie': ['other=x', 'more=y'] })],
    ['a flat raw list', (res) => res.writeHead(200, ['Set-Cookie', 'other=x', 'Set-Cookie', 'more=y'])],
    ['a status message and an object', (res) => res.writeHead(200, 'Fine', { 'set-cookie': 'other=x' })],
  ])('should merge its Set-Cookie into writeHead headers given as %s', async (_what, writeHead) => {
    const app = express();
    app.use(session(slow));
    app.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'merged');
      writeHead(res);
      res.end('ok');
    }));
    app.get('/get', wrap(async (req, res) => void res.json({ value: (await req.session.get('k')) ?? null })));
    const first = await request(app).get('/').expect(200, 'ok');
    const cookies = first.headers['set-cookie'] as unknown as string[];
    expect(cookies).toEqual(expect.arrayContaining([expect.stringMatching(/^other=x/)]));
    const id = cookieValue(cookies);
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200, { value: 'merged' });
  });

  it.each<[string, (res: express5.Response) => void]>([
    ['an unrelated object', (res) => void (res.locals = { theme: 'dark' })],
    ['null', (res) => void ((res as { locals: unknown }).locals = null)],
  ])('should neither crash nor lose the write when res.locals is replaced with %s', async (_what, replace) => {
    const app = express();
    app.use(session(slow));
    app.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'before');
      replace(res);
      await req.session.set('k2', 'after');
      res.send('ok');
    }));
    app.get('/get', wrap(async (req, res) => void res.json({ value: [await req.session.get('k'), await req.session.get('k2')] })));
    const first = await request(app).get('/').expect(200, 'ok');
    const id = cookieValue(first.headers['set-cookie']);
    await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200, { value: ['before', 'after'] });
  });

  it('should work through a Proxy around req and a second app the request is handed to', async () => {
    const inner = express();
    inner.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'proxied');
      res.send('inner');
    }));
    const app = express();
    app.use(session(slow));
    app.use((req: express5.Request, res: express5.Response) => {
      inner(new Proxy(req, {}), res); // an app not mounted, called with a wrapped request
    });
    const first = await request(app).get('/').expect(200, 'inner');
    const id = cookieValue(first.headers['set-cookie']);
    expect((await memory.getSession(id as string))?.get('k')).toBe('"proxied"');
  });
});

describe('a client that goes away while the write is held', () => {
  it('should still store the change, and nothing throws', async () => {
    const memory = new MemoryStorage();
    const { storage } = recordCalls(memory, { delay: { setSession: 100 } });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const express = FRAMEWORKS['Express 5'];
    const app = express();
    app.use(session(storage, { onError: () => undefined }));
    let id: string | undefined;
    app.get('/', wrap(async (req, res) => {
      await req.session.set('k', 'gone');
      id = await req.session.id();
      res.setHeader('Content-Length', '4');
      res.write('abcd');
      res.end();
    }));
    const server = await listen(app);
    try {
      await new Promise<void>((resolve) => {
        const req = http.get(`${server.url}/`, (res) => {
          res.once('data', () => {
            req.destroy(); // the last byte is held: the client gives up before it
            resolve();
          });
        });
        req.on('error', () => undefined);
      });
      await sleep(200);
      expect((await memory.getSession(id as string))?.get('k')).toBe('"gone"');
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await server.close();
      await memory.close();
    }
  });
});

describe('read-your-writes without Express', () => {
  let memory: MemoryStorage;
  let slow: Storage;
  beforeEach(() => {
    memory = new MemoryStorage();
    slow = recordCalls(memory, { delay: { setSession: 100 } }).storage;
  });
  afterEach(() => memory.close());

  type Plain = (res: http.ServerResponse) => void;
  const plainPaths: Record<string, Plain> = {
    'end(body)': (res) => res.end(BODY),
    'write with Content-Length': (res) => {
      res.setHeader('Content-Length', String(Buffer.byteLength(BODY)));
      res.write(BODY);
      setTimeout(() => res.end(), 5);
    },
    'pipe of a file with Content-Length': (res) => {
      res.setHeader('Content-Length', String(Buffer.byteLength(BODY)));
      createReadStream(file).pipe(res);
    },
  };

  function handler(middleware: ReturnType<typeof session>, respond: Plain) {
    return (req: http.IncomingMessage, res: http.ServerResponse) => {
      middleware(req, res, () => {
        void (async () => {
          const s = (req as unknown as Express.Request).session;
          if (req.url?.startsWith('/get')) {
            res.end(String(await s.get('k')));
            return;
          }
          await s.set('k', 'plain');
          respond(res);
        })();
      });
    };
  }

  it.each(Object.keys(plainPaths))('should store the change before a node:http client sees %s complete', async (name) => {
    const server = await listen(handler(session(slow, { cookie: false, header: 'x-sid' }), plainPaths[name] as Plain));
    try {
      const first = await fetch(`${server.url}/`);
      expect(await first.text()).toBe(BODY);
      const id = first.headers.get('x-sid') as string;
      const second = await fetch(`${server.url}/get`, { headers: { 'x-sid': id } });
      expect(await second.text()).toBe('plain');
    } finally {
      await server.close();
    }
  });

  it.each(Object.keys(plainPaths))('should store the change before a Connect client sees %s complete', async (name) => {
    const app = connect();
    app.use(handler(session(slow), plainPaths[name] as Plain) as unknown as connect.NextHandleFunction);
    const first = await request(app).get('/').expect(200, BODY);
    const id = cookieValue(first.headers['set-cookie']);
    await request(app).get('/get').set('Cookie', `sessionid=${id}`).expect(200, 'plain');
  });
});

describeEachStorage((name, current) => {
  const express = FRAMEWORKS['Express 5'];
  it.each(['sendFile', 'write with Content-Length', 'end(body)', 'pipe of a file with Content-Length'])(
    `should store the change before the client sees %s complete on ${name}`,
    async (path) => {
      const app = pathsApp(express, current());
      for (let i = 0; i < 3; i++) await expect(roundTrip(app, path, `v${i}`)).resolves.toBe(`v${i}`);
    },
  );
});

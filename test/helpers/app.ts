/**
 * Test apps: the same routes on Express 4, Express 5, Connect and plain node:http, plus a storage
 * wrapper that records every call (to prove laziness and close semantics).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import connect from 'connect';
import express5 from 'express';
import { session, type SessionOptions, type Storage } from 'sessionware';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const express4 = require('express4') as typeof express5;

/** The frameworks every HTTP test runs against. */
export const FRAMEWORKS = { 'Express 5': express5, 'Express 4': express4 } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds an Express app with the standard test routes. */
export function buildApp(express: typeof express5, storage: Storage, options: SessionOptions = {}): express5.Express {
  const app = express();
  app.use(session(storage, options));
  app.get('/untouched', (_req, res) => {
    res.send('ok');
  });
  app.get('/get', wrap(async (req, res) => {
    res.json({ value: (await req.session.get(String(req.query['k']))) ?? null });
  }));
  app.get('/set', wrap(async (req, res) => {
    await req.session.set(String(req.query['k']), req.query['v']);
    res.send('ok');
  }));
  app.get('/slow-set', wrap(async (req, res) => {
    await req.session.get('user');
    await sleep(Number(req.query['ms'] ?? 100));
    await req.session.set(String(req.query['k']), req.query['v']);
    res.send('ok');
  }));
  app.get('/logout', wrap(async (req, res) => {
    await req.session.removeAll();
    res.send('bye');
  }));
  app.get('/regenerate', wrap(async (req, res) => {
    await req.session.regenerate();
    res.send('ok');
  }));
  app.get('/id', wrap(async (req, res) => {
    res.send(await req.session.id());
  }));
  app.get('/data', wrap(async (req, res) => {
    res.json(await req.session.data());
  }));
  app.get('/set-fn', wrap(async (req, res) => {
    await req.session.set('fn', () => 1);
    res.send('unreachable');
  }));
  app.get('/stream', wrap(async (req, res) => {
    await req.session.set('streamed', true);
    res.write('part 1,');
    await sleep(10);
    res.end('part 2');
  }));
  app.get('/stream-read', wrap(async (req, res) => {
    const value = await req.session.get(String(req.query['k']));
    res.write(`${JSON.stringify(value ?? null)},`);
    await sleep(10);
    res.end('done');
  }));
  app.use((err: Error & { code?: string }, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
    res.status(500).json({ error: err.name, code: err.code ?? null });
  });
  return app;
}

/** Express 4 does not catch rejected handler promises: forward them to the error handler. */
export function wrap(fn: (req: express5.Request, res: express5.Response) => Promise<void>) {
  return (req: express5.Request, res: express5.Response, next: express5.NextFunction) => {
    fn(req, res).catch(next);
  };
}

/** Connect app with a counter route. */
export function buildConnectApp(storage: Storage, options: SessionOptions = {}): connect.Server {
  const app = connect();
  app.use(session(storage, options));
  app.use((req: http.IncomingMessage & { session?: Express.Request['session'] }, res: http.ServerResponse) => {
    void (async () => {
      const s = (req as unknown as Express.Request).session;
      const n = ((await s.get<number>('n')) ?? 0) + 1;
      await s.set('n', n);
      res.end(String(n));
    })();
  });
  return app;
}

/** A storage call, as recorded by {@link recordCalls}. */
export interface StorageCall {
  readonly method: string;
  readonly id: string | undefined;
}

/**
 * Wraps a storage so every call is recorded (and can be slowed down or made to fail), without
 * changing what it does.
 */
export function recordCalls<S extends Storage>(storage: S, hooks: { delay?: Partial<Record<string, number>>; fail?: Partial<Record<string, Error>> } = {}): { storage: S; calls: StorageCall[] } {
  const calls: StorageCall[] = [];
  const proxy = new Proxy(storage, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string' || prop === 'constructor') return value;
      return async (...args: unknown[]) => {
        calls.push({ method: prop, id: typeof args[0] === 'string' ? args[0] : undefined });
        const delay = hooks.delay?.[prop];
        if (delay) await sleep(delay);
        const failure = hooks.fail?.[prop];
        if (failure) throw failure;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { storage: proxy, calls };
}

/** Starts a plain `http.Server` on a free port; resolves its base URL and a closer. */
export async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The `name=value` part of a Set-Cookie header for `name`, or undefined. */
export function cookieOf(setCookie: string[] | string | undefined, name = 'sessionid'): string | undefined {
  const list = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  return list.find((c) => c.startsWith(`${name}=`));
}

/** The value of the session cookie in a response, or undefined. */
export function cookieValue(setCookie: string[] | string | undefined, name = 'sessionid'): string | undefined {
  return cookieOf(setCookie, name)?.split(';')[0]?.slice(name.length + 1);
}

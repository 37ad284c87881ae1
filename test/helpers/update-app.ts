/**
 * The app of the `update()` / `increment()` HTTP tests (`/incr`, `/append`, `/set`, `/logout`,
 * `/data`), a way to seed a session, and a server on a free port.
 */
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Manager, session, type Storage } from 'sessionware';
import { wrap } from './app';

/** The test app on `storage`. */
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


/**
 * The app of the "log out everywhere" tests: `/login?user=`, `/me`, `/devices`, `/logout-others`,
 * `/logout-all`, `/regen`, and `/slow` (loads the session, waits until the test opens its gate,
 * then writes). Relative imports, so that a child process (tsx, no jest mapping) can load it too.
 */
import express from 'express';
import { session, type SessionMiddleware, type Storage } from '../../lib/index';

/**
 * The storages (by their name in `test/helpers/storages.ts`) that keep no owner index, and say so
 * (`owners.test.ts` fails until the list is exact).
 */
export const WITHOUT_INDEX: ReadonlySet<string> = new Set(['MemcacheStorage', 'StoreAdapter(express-session MemoryStore)']);

/** Opens the gate `/slow` waits at. */
export interface Gate {
  /** Resolves once a `/slow` request loaded its session and waits. */
  readonly reached: Promise<void>;
  open(): void;
}

export function buildOwnerApp(storage: Storage): { app: express.Express; sessions: SessionMiddleware; gate: () => Gate } {
  const sessions = session(storage);
  const app = express();
  app.use(sessions);
  let gate: { reached: () => void; opened: Promise<void> } | undefined;
  const wrap = (fn: (req: express.Request, res: express.Response) => Promise<void>) => (req: express.Request, res: express.Response, next: express.NextFunction) => {
    fn(req, res).catch(next);
  };
  app.post('/login', wrap(async (req, res) => {
    await req.session.regenerate({ keep: [] });
    const user = String(req.query['user']);
    await req.session.set('user', user);
    await req.session.setOwner(user);
    res.json({ user });
  }));
  app.get('/me', wrap(async (req, res) => {
    res.json({ user: (await req.session.get('user')) ?? null, owner: (await req.session.getOwner()) ?? null, data: await req.session.data() });
  }));
  app.get('/devices', wrap(async (req, res) => {
    const owner = await req.session.getOwner();
    res.json(owner === undefined ? [] : await sessions.manager.sessionsOf(owner, { current: await req.session.id() }));
  }));
  app.post('/logout-others', wrap(async (req, res) => {
    const owner = await req.session.getOwner();
    res.json({ ended: owner === undefined ? 0 : await sessions.manager.revoke(owner, { except: await req.session.id() }) });
  }));
  app.post('/logout-all', wrap(async (req, res) => {
    const owner = await req.session.getOwner();
    res.json({ ended: owner === undefined ? 0 : await sessions.manager.revoke(owner) });
  }));
  app.post('/regen', wrap(async (req, res) => {
    await req.session.regenerate();
    res.json({ owner: (await req.session.getOwner()) ?? null });
  }));
  app.get('/slow', wrap(async (req, res) => {
    await req.session.get('user'); // loaded before the revoke
    const current = gate;
    current?.reached();
    await current?.opened;
    await req.session.set('late', true);
    res.json({ wrote: true });
  }));
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.name, code: err.code ?? null, message: err.message });
  });
  return {
    app,
    sessions,
    gate: () => {
      let reached!: () => void;
      let open!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      const opened = new Promise<void>((r) => (open = r));
      gate = { reached, opened };
      return { reached: reachedP, open };
    },
  };
}

/**
 * Libraries written against express-session's `req.session`, unchanged, on
 * sessionware/express-session over real HTTP: connect-flash (on Express 5, Express 4 and Connect)
 * and csrf-sync.
 */
import express from 'express';
import request from 'supertest';
import flash from 'connect-flash';
import { csrfSync } from 'csrf-sync';
import { session } from 'sessionware/express-session';
import { MemoryStorage } from 'sessionware';
import { compatApp, COMPAT_FRAMEWORKS, json, redirect, type Handler } from '../helpers/compat-app';

const SECRET = 'keyboard cat';

describe.each(COMPAT_FRAMEWORKS)('connect-flash on %s', (framework) => {
  it('shows a flash set before a redirect once, after it', async () => {
    const app = compatApp(framework);
    app.use(session({ secret: SECRET, store: new MemoryStorage(), saveUninitialized: false }) as unknown as Handler);
    app.use(flash() as unknown as Handler);
    app.post('/save', (req, res) => {
      (req as unknown as express.Request).flash('info', 'saved!');
      redirect(res, '/');
    });
    app.get('/', (req, res) => json(res, (req as unknown as express.Request).flash('info')));
    const agent = request.agent(app.handler());
    await agent.post('/save').expect(302).expect('location', '/');
    expect((await agent.get('/').expect(200)).body).toEqual(['saved!']);
    expect((await agent.get('/').expect(200)).body).toEqual([]);
  });
});

describe('csrf-sync', () => {
  function csrfApp(): express.Express {
    const { generateToken, csrfSynchronisedProtection } = csrfSync({
      getTokenFromRequest: (req) => (req.headers['x-csrf-token'] as string | undefined),
    });
    const app = express();
    app.use(session({ secret: SECRET, store: new MemoryStorage(), saveUninitialized: false }));
    app.get('/form', (req, res) => { res.json({ token: generateToken(req) }); });
    app.post('/logout', (req, res, next) => {
      (req.session as unknown as { destroy(cb: (err?: unknown) => void): void }).destroy((err) => (err ? next(err) : res.send('bye')));
    });
    app.post('/transfer', csrfSynchronisedProtection, (_req, res) => { res.send('done'); });
    app.use((err: { status?: number; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(err.status ?? 500).send(err.message);
    });
    return app;
  }

  it('accepts the token it issued, rejects a wrong one, and rejects it after logout', async () => {
    const agent = request.agent(csrfApp());
    const { token } = (await agent.get('/form').expect(200)).body as { token: string };
    expect(typeof token).toBe('string');
    await agent.post('/transfer').set('x-csrf-token', token).expect(200, 'done');
    await agent.post('/transfer').set('x-csrf-token', 'forged').expect(403);
    await agent.post('/transfer').expect(403);
    const logout = await agent.post('/logout').expect(200);
    expect(String(logout.headers['set-cookie'])).toMatch(/connect\.sid=;.*Expires=Thu, 01 Jan 1970/);
    await agent.post('/transfer').set('x-csrf-token', token).expect(403);
  });
});

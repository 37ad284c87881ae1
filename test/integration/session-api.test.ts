/**
 * The promise API over real HTTP (Express 5): a callback handed to it fails the request with a
 * message that points to sessionware/express-session instead of hanging it, `JSON.stringify` of
 * `req.session` is harmless, and refused values reach the error handler.
 */
import express from 'express';
import request from 'supertest';
import { MemoryStorage, session } from 'sessionware';
import { wrap } from '../helpers/app';

describe('req.session over HTTP', () => {
  const storage = new MemoryStorage();
  afterAll(() => storage.close());
  const app = express();
  app.use(session(storage));
  type Callback = (err?: unknown) => void;
  app.get('/login-callback', (req, res, next) => {
    // Passport's style: a promise API would never call the callback; it gets the error instead.
    (req.session.regenerate as unknown as (cb: Callback) => void)((err) => (err ? next(err) : res.send('called')));
  });
  app.get('/login-callback-later', (req, _res, next) => {
    // The same call from inside an async callback: a synchronous throw there would end the process.
    setTimeout(() => {
      (req.session.regenerate as unknown as (cb: Callback) => void)((err) => next(err));
    }, 5);
  });
  app.get('/save-callback-later', (req, _res, next) => {
    void (async () => {
      await new Promise((r) => setTimeout(r, 5));
      (req.session.save as (cb: Callback) => void)((err) => next(err));
    })();
  });
  app.get('/destroy', (req, res) => {
    req.session.destroy();
    res.send('unreachable');
  });
  app.get('/stringify', wrap(async (req, res) => {
    await req.session.set('secret', 'do-not-leak');
    res.json({ session: req.session });
  }));
  app.get('/regexp', wrap(async (req, res) => {
    await req.session.set('pattern', /x/);
    res.send('unreachable');
  }));
  app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.name, code: err.code ?? null, message: err.message });
  });

  it('should fail regenerate(cb) at once with a SessionStateError naming sessionware/express-session', async () => {
    const res = await request(app).get('/login-callback').expect(500);
    expect(res.body).toMatchObject({ error: 'SessionStateError', code: 'ERR_SESSION_STATE' });
    expect(res.body.message).toContain('sessionware/express-session');
  });

  it.each(['/login-callback-later', '/save-callback-later'])('should answer 500 for a callback call from inside an async callback (%s), and the process survives', async (path) => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    try {
      const res = await request(app).get(path).expect(500);
      expect(res.body).toMatchObject({ error: 'SessionStateError', code: 'ERR_SESSION_STATE' });
      expect(res.body.message).toContain('sessionware/express-session');
      await new Promise((r) => setTimeout(r, 50)); // an unhandled rejection would be reported by now
      await request(app).get('/stringify').expect(200); // still serving
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    }
  });

  it("should fail express-session's destroy() with a message saying what to use", async () => {
    const res = await request(app).get('/destroy').expect(500);
    expect(res.body.message).toMatch(/removeAll\(\).*sessionware\/express-session/);
  });

  it('should serialise req.session to a placeholder without data or id', async () => {
    const res = await request(app).get('/stringify').expect(200);
    const id = (res.headers['set-cookie'] as unknown as string[])[0]?.split(';')[0]?.split('=')[1] as string;
    expect(JSON.stringify(res.body)).not.toContain('do-not-leak');
    expect(JSON.stringify(res.body)).not.toContain(id);
    expect(typeof res.body.session).toBe('string');
  });

  it('should report a value JSON would change as a SessionValueError, and send no cookie', async () => {
    const res = await request(app).get('/regexp').expect(500);
    expect(res.body).toMatchObject({ error: 'SessionValueError', code: 'ERR_SESSION_VALUE' });
    expect(res.body.message).toContain('RegExp');
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});

/**
 * Passport 0.7 + passport-local on sessionware/express-session, on every storage, on Express 5,
 * Express 4 and Connect, over real HTTP: login regenerates the session (a new id), `req.user` is
 * there on the next request, `req.logout(cb)` logs out, and logging in again works.
 */
import type { RequestListener } from 'node:http';
import express from 'express';
import request from 'supertest';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import session from 'sessionware/express-session';
import type { Storage } from 'sessionware';
import { compatApp, COMPAT_FRAMEWORKS, json, send, type CompatFramework, type Handler } from '../helpers/compat-app';
import { describeEachStorage } from '../helpers/storages';

const SECRET = 'keyboard cat';

function passportApp(framework: CompatFramework, store: Storage): RequestListener {
  const passport = new Passport();
  passport.use(new LocalStrategy((username, password, done) => {
    done(null, username === 'alice' && password === 'pw' ? { id: 7, name: 'alice' } : false);
  }));
  passport.serializeUser((user, done) => done(null, (user as { id: number }).id));
  passport.deserializeUser((id: number, done) => done(null, { id, name: 'alice' }));
  const app = compatApp(framework);
  app.use(express.urlencoded({ extended: false }) as unknown as Handler);
  app.use(session({ secret: SECRET, store, saveUninitialized: false, cookie: { maxAge: 3_600_000 } }) as unknown as Handler);
  app.use(passport.session() as unknown as Handler);
  app.post('/login', passport.authenticate('local') as unknown as Handler, (_req, res) => send(res, 'ok'));
  app.get('/me', (req, res) => json(res, { user: (req as { user?: unknown }).user ?? null }));
  app.post('/logout', (req, res, next) => (req as unknown as express.Request).logout((err) => (err ? next(err) : send(res, 'bye'))));
  return app.handler();
}

function sid(res: request.Response): string | undefined {
  const list = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const c = list.find((v) => v.startsWith('connect.sid=') && !v.startsWith('connect.sid=;'));
  return c === undefined ? undefined : decodeURIComponent(c.slice('connect.sid='.length).split(';')[0] as string);
}

describe.each(COMPAT_FRAMEWORKS)('on %s', (framework) => {
  describeEachStorage((name, current) => {
    it(`logs in, sees req.user, logs out and logs in again (${name})`, async () => {
      const app = passportApp(framework, current());
      const agent = request.agent(app);
      const first = await agent.get('/me').expect(200);
      expect(first.body).toEqual({ user: null });
      const login = await agent.post('/login').type('form').send({ username: 'alice', password: 'pw' }).expect(200);
      const id1 = sid(login);
      expect(id1).toMatch(/^s:[A-Za-z0-9_-]+\./);
      expect((await agent.get('/me').expect(200)).body).toEqual({ user: { id: 7, name: 'alice' } });
      const logout = await agent.post('/logout').expect(200);
      const id2 = sid(logout);
      expect(id2).toBeDefined(); // passport regenerates on logout: a new, empty session
      expect(id2).not.toBe(id1);
      expect((await agent.get('/me').expect(200)).body).toEqual({ user: null });
      // The old cookie does not log anybody in any more.
      const replay = await request(app).get('/me').set('Cookie', `connect.sid=${encodeURIComponent(id1 as string)}`).expect(200);
      expect(replay.body).toEqual({ user: null });
      const again = await agent.post('/login').type('form').send({ username: 'alice', password: 'pw' }).expect(200);
      expect(sid(again)).not.toBe(id2);
      expect((await agent.get('/me').expect(200)).body).toEqual({ user: { id: 7, name: 'alice' } });
    });

    it(`rejects a wrong password without a session (${name})`, async () => {
      const app = passportApp(framework, current());
      const res = await request(app).post('/login').type('form').send({ username: 'alice', password: 'nope' }).expect(401);
      expect(sid(res)).toBeUndefined();
    });
  });
});

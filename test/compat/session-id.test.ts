/**
 * `req.sessionID` of sessionware/express-session (a shared accessor, not a property per request):
 * the id of the session as loaded, the new one after `regenerate()`, the pending id of a new
 * session, and an application's own assignment, on Express 5, Express 4 and Connect.
 */
import type { IncomingMessage, RequestListener } from 'node:http';
import request from 'supertest';
import session, { type CompatSession } from 'sessionware/express-session';
import { MemoryStorage } from 'sessionware';
import { compatApp, COMPAT_FRAMEWORKS, json, type CompatFramework, type CompatRequest, type Handler } from '../helpers/compat-app';

const bag = (req: CompatRequest): CompatSession => req.session as CompatSession;

function app(framework: CompatFramework): RequestListener {
  const a = compatApp(framework);
  a.use(session({ secret: 'keyboard cat', store: new MemoryStorage() }) as unknown as Handler);
  a.get('/write', (req, res) => {
    bag(req)['n'] = 1;
    json(res, { sessionID: req.sessionID, id: bag(req).id });
  });
  a.get('/read', (req, res) => json(res, { sessionID: req.sessionID, id: bag(req).id }));
  a.get('/login', (req, res, next) => {
    const before = req.sessionID;
    bag(req).regenerate((err) => {
      if (err) return next(err);
      bag(req)['user'] = 'ann';
      json(res, { before, after: req.sessionID, id: bag(req).id });
    });
  });
  a.get('/assign', (req, res) => {
    req.sessionID = 'assigned-by-the-app';
    json(res, { sessionID: req.sessionID, own: Object.hasOwn(req, 'sessionID') });
  });
  return a.handler();
}

describe.each(COMPAT_FRAMEWORKS)('req.sessionID on %s', (framework) => {
  it('shows the id of a new session, of the loaded one, and the new id after regenerate()', async () => {
    const agent = request.agent(app(framework));
    const created = (await agent.get('/write')).body as { sessionID: string; id: string };
    expect(typeof created.sessionID).toBe('string');
    expect(created.sessionID).toBe(created.id);
    expect((await agent.get('/read')).body).toEqual({ sessionID: created.id, id: created.id });
    const login = (await agent.get('/login')).body as { before: string; after: string; id: string };
    expect(login.before).toBe(created.id);
    expect(login.after).not.toBe(created.id);
    expect(login.after).toBe(login.id);
    expect((await agent.get('/read')).body).toEqual({ sessionID: login.after, id: login.after });
  });

  it('takes an assignment as a plain property, and a request it does not serve has none', async () => {
    const agent = request.agent(app(framework));
    await agent.get('/write');
    expect((await agent.get('/assign')).body).toEqual({ sessionID: 'assigned-by-the-app', own: true });
    expect(((await agent.get('/read')).body as { sessionID: string }).sessionID).not.toBe('assigned-by-the-app');
    const other = compatApp(framework);
    other.get('/', (req, res) => json(res, { has: (req as IncomingMessage & { sessionID?: unknown }).sessionID !== undefined }));
    expect((await request(other.handler()).get('/')).body).toEqual({ has: false });
  });
});

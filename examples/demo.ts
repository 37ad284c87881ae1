/**
 * The demo app: sessions in the default FileStorage (`<os tmpdir>/sessionware`), for browsers (an
 * HTML page, a login form, a cookie) and for API clients that keep the id in a header (`/api`).
 * Run: npm run demo   (serves until Ctrl-C) then open http://localhost:3000, or use curl or fetch
 * (see README). `PORT` chooses the port (default 3000; `PORT=0` picks a free one).
 */
import express from 'express';
import { FileStorage, session } from 'sessionware';
import { serve } from './serve';

declare module 'sessionware' {
  interface SessionData {
    user: { name: string };
    views: number;
  }
}

const storage = new FileStorage(); // the default storage: what `session()` uses when given none
const app = express();

// A JSON API for clients that keep the id in a header instead of a cookie (fetch, mobile apps): it
// never sets cookies; the id travels in the `sessionid` header both ways.
const api = express.Router();
api.use(express.json());
api.use(session(storage, { cookie: false }));
api.use((_req, res, next) => {
  res.setHeader('Access-Control-Expose-Headers', 'sessionid'); // readable by cross-origin scripts too
  next();
});

api.post('/login', async (req, res) => {
  const name = nameFrom(req.body);
  if (name === undefined) {
    res.status(400).json({ error: 'send {"name": "..."} (1 to 64 characters) as JSON' });
    return;
  }
  await req.session.regenerate({ keep: ['views'] }); // new id on login (no session fixation); only the view count carries over
  await req.session.set('user', { name });
  // The new id is in the `sessionid` response header; send it back in a `sessionid` request header.
  res.json({ user: { name }, sessionid: res.getHeader('sessionid') });
});

api.get('/me', async (req, res) => {
  res.json({ user: (await req.session.get('user')) ?? null, views: await req.session.get('views', 0) });
});

api.post('/logout', async (req, res) => {
  await req.session.removeAll(); // deleted now; the response's empty `sessionid` header says: forget it
  res.json({ user: null });
});

api.use((_req, res) => {
  res.status(404).json({ error: 'no such API route: GET /api/me, POST /api/login, POST /api/logout' });
});
app.use('/api', api);

// The browser app: the id in an HttpOnly cookie.
app.use(express.urlencoded({ extended: false }));
app.use(session(storage)); // 24 h TTL, cookie (or header) `sessionid`

app.get('/', async (req, res) => {
  const views = await req.session.increment('views'); // atomic: two tabs loading at once both count
  const user = await req.session.get('user');
  res.setHeader('Cache-Control', 'no-store'); // per-user page: the back button asks the server again
  res.type('html').send(`<!doctype html>
    <title>sessionware demo</title>
    <h1>${user ? `Hello, ${escape(user.name)}` : 'Not logged in'}</h1>
    <p>You viewed this page <span id="views">${views}</span> time(s) in this session.</p>
    ${user
      ? '<form method="post" action="/logout"><button>Log out</button></form>'
      : '<form method="post" action="/login"><input name="name" placeholder="name"><button>Log in</button></form>'}`);
});

app.post('/login', async (req, res) => {
  // A new id on login (no session fixation), carrying over only what may survive a login: a session
  // planted before it (with an attacker's CSRF token) or left by a previous user keeps nothing else.
  await req.session.regenerate({ keep: ['views'] });
  await req.session.set('user', { name: nameFrom(req.body) ?? 'guest' });
  res.redirect(303, '/'); // stored before the redirect reaches the browser
});

app.post('/logout', async (req, res) => {
  await req.session.removeAll(); // deleted now, cookie cleared
  res.redirect(303, '/');
});

/** The `name` field of a parsed form or JSON body, if it is a usable name. */
function nameFrom(body: unknown): string | undefined {
  const name: unknown = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['name'] : undefined;
  if (typeof name !== 'string') return undefined;
  const trimmed = name.trim();
  return trimmed.length >= 1 && trimmed.length <= 64 ? trimmed : undefined;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

serve(app, { name: 'sessionware demo', defaultPort: 3000, storage });

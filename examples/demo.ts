/**
 * The demo app: sessions on the embedded default storage (FileStorage in the OS temp dir).
 * Run: npm run demo   then open http://localhost:3000 (or use curl, see README).
 */
import express from 'express';
import { session } from 'sessionware';

declare module 'sessionware' {
  interface SessionData {
    user: { name: string };
    views: number;
  }
}

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(session()); // FileStorage, 24 h TTL, cookie (or header) `sessionid`

app.get('/', async (req, res) => {
  const views = (await req.session.get('views', 0)) + 1;
  await req.session.set('views', views);
  const user = await req.session.get('user');
  res.type('html').send(`
    <h1>${user ? `Hello, ${escape(user.name)}` : 'Not logged in'}</h1>
    <p>You viewed this page ${views} time(s) in this session.</p>
    ${user
      ? '<form method="post" action="/logout"><button>Log out</button></form>'
      : '<form method="post" action="/login"><input name="name" placeholder="name"><button>Log in</button></form>'}`);
});

app.post('/login', async (req, res) => {
  // A new id on login (no session fixation), carrying over only what may survive a login: a session
  // planted before it (with an attacker's CSRF token) or left by a previous user keeps nothing else.
  await req.session.regenerate({ keep: ['views'] });
  await req.session.set('user', { name: String(req.body.name || 'guest') });
  res.redirect('/'); // stored before the redirect reaches the browser
});

app.post('/logout', async (req, res) => {
  await req.session.removeAll(); // deleted now, cookie cleared
  res.redirect('/');
});

// A JSON API for clients that keep the id in a header instead of a cookie.
app.get('/api/me', async (req, res) => {
  res.json({ user: (await req.session.get('user')) ?? null, views: await req.session.get('views', 0) });
});

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const port = Number(process.env['PORT'] ?? 3000);
app.listen(port, () => console.log(`sessionware demo on http://localhost:${port}`));

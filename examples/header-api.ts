/**
 * A header-only JSON API (mobile apps, SPAs with tokens): no cookies at all, the id travels in
 * `X-Session-Id` both ways.
 * Run: npx tsx examples/header-api.ts   (serves until Ctrl-C; `PORT` chooses the port, default 3001)
 *   curl -i -X POST localhost:3001/login?name=ada          # -> X-Session-Id: <id>
 *   curl -H "X-Session-Id: <id>" localhost:3001/me          # -> {"name":"ada"}
 */
import express from 'express';
import { MemoryStorage, session } from 'sessionware';
import { serve } from './serve';

const storage = new MemoryStorage();
const app = express();
app.use(session(storage, { cookie: false, header: 'X-Session-Id', ttl: 15 * 60 * 1000 }));
app.use((_req, res, next) => {
  res.setHeader('Access-Control-Expose-Headers', 'X-Session-Id'); // let browsers read it
  next();
});

app.post('/login', async (req, res) => {
  await req.session.regenerate();
  await req.session.set('name', String(req.query['name'] ?? 'guest'));
  res.status(204).end(); // the new id is in the X-Session-Id response header
});
app.get('/me', async (req, res) => {
  const name = await req.session.get<string>('name');
  if (name === undefined) res.status(401).json({ error: 'log in first' });
  else res.json({ name });
});
app.post('/logout', async (req, res) => {
  await req.session.removeAll(); // answers with an empty X-Session-Id: forget it
  res.status(204).end();
});

serve(app, { name: 'header API', defaultPort: 3001, storage });

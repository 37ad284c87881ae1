/**
 * WebSockets with the session of the HTTP side: log in over HTTP, the socket sees the user, and a
 * logout over HTTP ends the socket's access at its next message. `sessions.open(req)` reads the id
 * of the upgrade request with the middleware's own rules (cookie name, signature, strict ids).
 * Run: npx tsx examples/websocket.ts   (serves until Ctrl-C; `PORT` chooses the port, default 3002)
 *   curl -i -X POST 'localhost:3002/login?name=ada'       # -> Set-Cookie: sessionid=...
 *   npx wscat -H 'Cookie: sessionid=...' -c ws://localhost:3002/ws   # say hi: {"user":"ada","echo":"hi"}
 *   curl -X POST -H 'Cookie: sessionid=...' localhost:3002/logout   # the socket closes at its next message
 */
import { createServer, type IncomingMessage } from 'node:http';
import express from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import { MemoryStorage, session } from 'sessionware';
import { serve } from './serve';

const storage = new MemoryStorage();
const sessions = session(storage, { secret: process.env['SESSION_SECRET'] ?? 'example secret, set SESSION_SECRET' });
const app = express();
app.use(sessions);

app.post('/login', async (req, res) => {
  await req.session.regenerate();
  await req.session.set('login', String(req.query['name'] ?? 'guest'));
  res.status(204).end();
});
app.post('/logout', async (req, res) => {
  await req.session.removeAll();
  res.status(204).end();
});

/** The user of the session the upgrade request carries, read once (a fresh session each time, closed at once). */
async function userOf(req: IncomingMessage): Promise<string | undefined> {
  const s = sessions.open(req);
  try {
    return await s.get<string>('login');
  } finally {
    await s.close(); // refreshes the session's TTL: the socket keeps it alive while used
  }
}

const server = createServer(app);
const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', function upgrade(req, socket, head) {
  socket.on('error', () => socket.destroy());
  userOf(req).then(
    (user) => {
      if (user === undefined) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    (err: unknown) => {
      console.error('session storage failed during an upgrade:', err);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    },
  );
});

wss.on('connection', function connection(ws: WebSocket, req: IncomingMessage) {
  ws.on('message', (data) => {
    // Every message checks the session again: a logout (or revoke) over HTTP takes effect here.
    userOf(req).then(
      (user) => {
        if (user === undefined) ws.close(4401, 'logged out');
        else ws.send(JSON.stringify({ user, echo: String(data) }));
      },
      () => ws.close(1011, 'session storage unavailable'),
    );
  });
});
// On Ctrl-C / SIGTERM (`serve` closes the HTTP server): upgraded sockets would keep it open.
const closeSockets = (): void => {
  for (const client of wss.clients) client.close(1001, 'server shutting down');
  wss.close();
};
process.once('SIGINT', closeSockets);
process.once('SIGTERM', closeSockets);

serve(server, { name: 'websocket example', defaultPort: 3002, storage });

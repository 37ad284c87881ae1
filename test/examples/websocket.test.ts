/**
 * examples/websocket.ts as a user runs it: login over HTTP, the socket sees the user, a logout over
 * HTTP ends the socket's access at its next message; no session, no socket.
 */
import WebSocket from 'ws';
import { startExample, type RunningExample } from '../helpers/demo';

let example: RunningExample;
beforeAll(async () => {
  example = await startExample('websocket.ts', { PORT: '0' });
});
afterAll(async () => {
  expect(await example.stop()).toBe(0);
});

function connect(cookie: string | undefined): Promise<WebSocket> {
  const ws = new WebSocket(`${example.url.replace('http', 'ws')}/ws`, { headers: cookie === undefined ? {} : { Cookie: cookie } });
  return new Promise((resolveOpen, reject) => {
    ws.once('open', () => resolveOpen(ws));
    ws.once('unexpected-response', (req, res) => {
      req.destroy(); // ws leaves the refused request open otherwise
      reject(new Error(`HTTP ${String(res.statusCode)}`));
    });
    ws.once('error', reject);
  });
}

function next(ws: WebSocket): Promise<{ message: string } | { closed: number; reason: string }> {
  return new Promise((resolveNext) => {
    ws.once('message', (data) => resolveNext({ message: String(data) }));
    ws.once('close', (code, reason) => resolveNext({ closed: code, reason: String(reason) }));
  });
}

async function login(name: string): Promise<string> {
  const res = await fetch(`${example.url}/login?name=${name}`, { method: 'POST' });
  expect(res.status).toBe(204);
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  expect(cookie).toMatch(/^sessionid=/);
  return cookie as string;
}

describe('examples/websocket.ts', () => {
  it('should let a logged-in socket see its user, and end its access at the next message after a logout over HTTP', async () => {
    const cookie = await login('ada');
    const ws = await connect(cookie);
    ws.send('hi');
    expect(await next(ws)).toEqual({ message: JSON.stringify({ user: 'ada', echo: 'hi' }) });
    const out = await fetch(`${example.url}/logout`, { method: 'POST', headers: { Cookie: cookie } });
    expect(out.status).toBe(204);
    ws.send('still there?');
    expect(await next(ws)).toEqual({ closed: 4401, reason: 'logged out' });
  });

  it('should refuse the upgrade without a session, with a forged cookie, and after the logout', async () => {
    await expect(connect(undefined)).rejects.toThrow('HTTP 401');
    const cookie = await login('bob');
    const [name, value] = cookie.split('=') as [string, string];
    await expect(connect(`${name}=${value.slice(0, -2)}xx`)).rejects.toThrow('HTTP 401'); // signature no longer matches
    await fetch(`${example.url}/logout`, { method: 'POST', headers: { Cookie: cookie } });
    await expect(connect(cookie)).rejects.toThrow('HTTP 401');
  });

  it('should stop cleanly with a socket still open', async () => {
    const ws = await connect(await login('cy'));
    const closed = next(ws);
    expect(await example.stop()).toBe(0);
    expect(await closed).toEqual({ closed: 1001, reason: 'server shutting down' });
    example = await startExample('websocket.ts', { PORT: '0' }); // for afterAll
  });

  it('should keep two users apart on two sockets', async () => {
    const [a, b] = await Promise.all([login('ann'), login('ben')]);
    const [wa, wb] = await Promise.all([connect(a), connect(b)]);
    const replies = [next(wa), next(wb)]; // listening before sending: a reply must not arrive unheard
    wa.send('1');
    wb.send('2');
    expect(await replies[0]).toEqual({ message: JSON.stringify({ user: 'ann', echo: '1' }) });
    expect(await replies[1]).toEqual({ message: JSON.stringify({ user: 'ben', echo: '2' }) });
    wa.close();
    wb.close();
  });
});

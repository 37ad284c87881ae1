/**
 * The demo and the header API example as a user runs them: they listen on `PORT`, fail loudly
 * when they cannot, stop cleanly on SIGTERM, and the demo's JSON API logs a header client in
 * (over real HTTP, with `fetch`).
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { runExample, startExample, type RunningExample } from '../helpers/demo';

const ROOT = resolve(__dirname, '../..');

/** A port that something else is listening on. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolveListen) => server.listen(0, resolveListen));
  return { port: (server.address() as AddressInfo).port, server };
}

describe.each(['demo.ts', 'header-api.ts'])('examples/%s', (file) => {
  it('should exit with code 1 and say so when the port is taken', async () => {
    const { port, server } = await takenPort();
    try {
      const result = await runExample(file, { PORT: String(port) });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`port ${port} is already in use`);
      expect(result.stderr).toContain('PORT=');
      expect(result.stdout).not.toContain('http://localhost');
    } finally {
      server.close();
    }
  });

  it('should refuse a PORT that is not a port number', async () => {
    const result = await runExample(file, { PORT: 'eighty' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PORT must be a port number from 0 to 65535, got "eighty"');
  });

  it('should listen on PORT, print its URL, and exit 0 on SIGTERM', async () => {
    const app = await startExample(file);
    try {
      expect(app.url).toMatch(/^http:\/\/localhost:\d+$/);
      expect((await fetch(`${app.url}/nothing-here`)).status).toBe(404);
    } finally {
      expect(await app.stop()).toBe(0);
    }
  });
});

describe('npm run demo', () => {
  it('should fail the npm script (non-zero exit, a clear message) when the port is taken', async () => {
    const { port, server } = await takenPort();
    try {
      const err = await promisify(execFile)('npm', ['run', '--silent', 'demo'], { cwd: ROOT, env: { ...process.env, PORT: String(port) } }).then(
        () => undefined,
        (e: { code?: number; stderr?: string }) => e,
      );
      expect(err?.code).toBe(1);
      expect(err?.stderr).toContain(`sessionware demo: port ${port} is already in use`);
    } finally {
      server.close();
    }
  });
});

describe('the demo JSON API for header clients (fetch)', () => {
  let demo: RunningExample;
  beforeAll(async () => {
    demo = await startExample('demo.ts');
  }, 30_000);
  afterAll(async () => {
    await demo?.stop();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${demo.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('should log in with POST /api/login, answering the new id in the sessionid header and the JSON, and never a cookie', async () => {
    const login = await post('/api/login', { name: 'ada' });
    expect(login.status).toBe(200);
    const id = login.headers.get('sessionid');
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,128}$/);
    expect(await login.json()).toEqual({ user: { name: 'ada' }, sessionid: id });
    expect(login.headers.get('set-cookie')).toBeNull();
    expect(login.headers.get('access-control-expose-headers')).toBe('sessionid');

    const me = await fetch(`${demo.url}/api/me`, { headers: { sessionid: id ?? '' } });
    expect(await me.json()).toEqual({ user: { name: 'ada' }, views: 0 });
    expect((await (await fetch(`${demo.url}/api/me`)).json())).toEqual({ user: null, views: 0 });
  });

  it('should give a new id on a second login (no fixation) and forget the old one', async () => {
    const first = (await post('/api/login', { name: 'ada' })).headers.get('sessionid') ?? '';
    const second = (await post('/api/login', { name: 'bob' }, { sessionid: first })).headers.get('sessionid') ?? '';
    expect(second).not.toBe(first);
    expect(await (await fetch(`${demo.url}/api/me`, { headers: { sessionid: second } })).json()).toEqual({ user: { name: 'bob' }, views: 0 });
    expect(await (await fetch(`${demo.url}/api/me`, { headers: { sessionid: first } })).json()).toEqual({ user: null, views: 0 });
  });

  it('should log out with POST /api/logout, answering an empty sessionid header', async () => {
    const id = (await post('/api/login', { name: 'ada' })).headers.get('sessionid') ?? '';
    const logout = await post('/api/logout', {}, { sessionid: id });
    expect(logout.headers.get('sessionid')).toBe('');
    expect(await logout.json()).toEqual({ user: null });
    expect(await (await fetch(`${demo.url}/api/me`, { headers: { sessionid: id } })).json()).toEqual({ user: null, views: 0 });
  });

  it('should answer 400 with what to send for a login without a usable name', async () => {
    for (const body of [{}, { name: '' }, { name: 7 }, { name: 'x'.repeat(65) }, ['ada']]) {
      const res = await post('/api/login', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: expect.stringContaining('{"name": "..."}') });
      expect(res.headers.get('sessionid')).toBeNull();
    }
  });

  it('should share sessions with the cookie app: a cookie id works in the header', async () => {
    const page = await fetch(`${demo.url}/`);
    const cookie = /sessionid=([^;]+)/.exec(page.headers.get('set-cookie') ?? '')?.[1] ?? '';
    expect(cookie).not.toBe('');
    expect(await (await fetch(`${demo.url}/api/me`, { headers: { sessionid: cookie } })).json()).toEqual({ user: null, views: 1 });
  });
});

describe('the examples', () => {
  it('should type-check (npm run typecheck covers examples/)', async () => {
    await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.examples.json', '--noEmit'], { cwd: ROOT });
  }, 60_000);
});

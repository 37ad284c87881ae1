/** The middleware without Express: Connect and a bare node:http server. */
import request from 'supertest';
import { MemoryStorage, session } from 'sessionware';
import { buildConnectApp, cookieValue, listen } from '../helpers/app';

describe('session() without Express', () => {
  let storage: MemoryStorage;
  beforeEach(() => {
    storage = new MemoryStorage();
  });
  afterEach(() => storage.close());

  it('should work as Connect middleware', async () => {
    const app = buildConnectApp(storage);
    const first = await request(app).get('/').expect(200, '1');
    const id = cookieValue(first.headers['set-cookie']) as string;
    await request(app).get('/').set('Cookie', `sessionid=${id}`).expect(200, '2');
    await request(app).get('/').set('sessionid', id).expect(200, '3');
  });

  it('should work on a bare node:http server', async () => {
    const middleware = session(storage, { cookie: false, header: 'x-session' });
    const server = await listen((req, res) => {
      middleware(req, res, (err) => {
        if (err) {
          res.statusCode = 500;
          res.end();
          return;
        }
        void (async () => {
          const s = (req as unknown as Express.Request).session;
          const n = ((await s.get<number>('n')) ?? 0) + 1;
          await s.set('n', n);
          res.end(String(n));
        })();
      });
    });
    try {
      const first = await fetch(`${server.url}/`);
      expect(await first.text()).toBe('1');
      const id = first.headers.get('x-session') as string;
      expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const second = await fetch(`${server.url}/`, { headers: { 'x-session': id } });
      expect(await second.text()).toBe('2');
      expect(second.headers.get('x-session')).toBeNull();
    } finally {
      await server.close();
    }
  });
});

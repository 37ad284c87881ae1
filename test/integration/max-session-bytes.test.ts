import express from 'express';
import request from 'supertest';
import { MemoryStorage, session } from 'sessionware';
import { wrap } from '../helpers/app';

describe('maxSessionBytes over HTTP', () => {
  it('should reject a set beyond session({ maxSessionBytes }) with a SessionValueError and store nothing', async () => {
    const storage = new MemoryStorage();
    const app = express();
    app.use(session(storage, { maxSessionBytes: 100 }));
    app.get('/set', wrap(async (req, res) => {
      await req.session.set('blob', 'x'.repeat(Number(req.query['n'])));
      res.send('ok');
    }));
    app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: err.code ?? null });
    });
    await request(app).get('/set?n=50').expect(200);
    const res = await request(app).get('/set?n=200').expect(500);
    expect(res.body).toEqual({ code: 'ERR_SESSION_VALUE' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(storage.size).toBe(1);
    await storage.close();
  });
});

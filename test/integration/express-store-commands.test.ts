/**
 * What a request costs through StoreAdapter over connect-redis, counted with Redis MONITOR: the
 * README's numbers (a read one GET plus the touch; a write GET + SET, after the request's own load
 * when the session existed; a logout GET + DEL; an untouched request nothing).
 */
import request from 'supertest';
import { StoreAdapter } from 'sessionware/express-session-store';
import { cookieValue } from '../helpers/app';
import { createRedisFixture, type StoreFixture } from '../helpers/express-stores';
import { commandCountApp, monitorCommands, uniquePrefix, useSharedRedis } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-es-cmds');
const redis = useSharedRedis(PREFIX);
const monitor = monitorCommands(redis, PREFIX);

describe('StoreAdapter over connect-redis: Redis commands per request (MONITOR)', () => {
  let fixture: StoreFixture;
  beforeEach(async () => {
    fixture = await createRedisFixture(PREFIX);
  });
  afterEach(() => fixture.cleanup());

  it('should cost GET + SET for a write, GET + EXPIRE for a read, GET + DEL for a logout, nothing untouched', async () => {
    // A new session: nothing to load, the write is GET + SET.
    const storage = new StoreAdapter(fixture.store);
    const app = commandCountApp(storage);
    app.get('/untouched', (_req, res) => res.send('ok'));
    await monitor.take();

    const id = cookieValue((await request(app).get('/set').expect(200)).headers['set-cookie']) as string;
    expect((await monitor.take()).map((c) => c[0])).toEqual(['get', 'set']);

    await request(app).get('/read').set('Cookie', `sessionid=${id}`).expect(200, '"alice"');
    expect((await monitor.take()).map((c) => c[0])).toEqual(['get', 'expire']);

    await request(app).get('/untouched').set('Cookie', `sessionid=${id}`).expect(200);
    expect(await monitor.take()).toEqual([]);

    // An existing session: the request loads it (GET), then the write re-reads it under the lock.
    await request(app).get('/set').set('Cookie', `sessionid=${id}`).expect(200);
    expect((await monitor.take()).map((c) => c[0])).toEqual(['get', 'get', 'set']);

    await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
    expect((await monitor.take()).map((c) => c[0])).toEqual(['get', 'del']);
    await storage.close();
  });
});

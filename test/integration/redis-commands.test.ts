/**
 * Redis round trips per request over real HTTP, counted with MONITOR: a read-only request on an
 * existing session sends exactly one command (the batched TTL refresh excluded), a write one
 * script, a logout one script (DEL of the session and of a forward); for both Redis storages.
 */
import request from 'supertest';
import { generateId, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { cookieValue } from '../helpers/app';
import { commandCountApp, monitorCommands, uniquePrefix, useSharedRedis } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-test-cmds');
const redis = useSharedRedis(PREFIX);

type RedisSessionStorage = Storage & { flush(): Promise<void>; readonly pendingTTLUpdates: number; close(): Promise<void> };

describe.each<[string, (prefix: string) => RedisSessionStorage, string]>([
  ['RedisStorage', (prefix) => new RedisStorage(redis.client, { prefix }), 'get'],
  ['RedisHashStorage', (prefix) => new RedisHashStorage(redis.client, { prefix }), 'hgetall'],
])('%s: commands per request (MONITOR)', (name, make, readCommand) => {
  const prefix = `${PREFIX}${name}:`;
  const monitor = monitorCommands(redis, prefix);

  it(`should read with one ${readCommand.toUpperCase()}, write with one script, refresh in a batch and log out with one script`, async () => {
    const storage = make(prefix);
    const app = commandCountApp(storage);
    await monitor.take();

    const id = cookieValue((await request(app).get('/set').expect(200)).headers['set-cookie']) as string;
    const written = await monitor.take();
    // One EVALSHA (plus one EVAL the first time this server sees the script).
    expect(written.map((c) => c[0])).toEqual(written.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);

    await request(app).get('/read').set('Cookie', `sessionid=${id}`).expect(200, '"alice"');
    expect(await monitor.take()).toEqual([[readCommand, prefix + id]]);
    expect(storage.pendingTTLUpdates).toBe(1);

    await storage.flush();
    expect((await monitor.take()).map((c) => c.slice(0, 2))).toEqual([['pexpire', prefix + id]]);

    await request(app).get('/logout').set('Cookie', `sessionid=${id}`).expect(200);
    const logout = await monitor.take();
    expect(logout.map((c) => c[0])).toEqual(logout.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);
    expect(logout[0]?.slice(2)).toEqual(['2', prefix + id, `{${prefix}${id}}>`]);
    await storage.close();
  });

  it('should move a session (login) with one script: old key, its forward key and the new key', async () => {
    const storage = make(prefix);
    const [oldId, newId] = [generateId(), generateId()];
    await storage.setSession(oldId, { set: new Map([['user', '"alice"']]), removed: new Set() }, 60_000, { create: true });
    await monitor.take();
    await expect(storage.moveSession?.(oldId, newId, { set: new Map(), removed: new Set() }, 60_000, { keep: undefined, forwardTTL: 1000 })).resolves.toEqual(new Map([['user', '"alice"']]));
    const moved = await monitor.take();
    expect(moved.map((c) => c[0])).toEqual(moved.length > 1 ? ['evalsha', 'eval'] : ['evalsha']);
    expect(moved[0]?.slice(2, 6)).toEqual(['3', prefix + oldId, `{${prefix}${oldId}}>`, prefix + newId]);
    await storage.close();
  });
});

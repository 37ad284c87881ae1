/**
 * "Log out everywhere" across processes: a child process and this one serve the same app on one
 * storage (a FileStorage directory, a Redis prefix). Sessions logged in through either are listed
 * by both, and a revoke in one process ends sessions used through the other at once.
 */
import { join } from 'node:path';
import request from 'supertest';
import { FileStorage, StorageError, type Storage } from 'sessionware';
import { RedisStorage } from 'sessionware/redis';
import { cookieOf, cookieValue } from '../helpers/app';
import { libPath, serveScript, type ServedScript } from '../helpers/child';
import { buildOwnerApp, WITHOUT_INDEX } from '../helpers/owner-app';
import { cleanupPrefix, sharedRedisUrl, stopSharedRedis, testClient, uniquePrefix } from '../helpers/redis';
import { useTempDir } from '../helpers/temp-dir';

const OWNER_APP = join(__dirname, '../helpers/owner-app.ts');

/** A child process serving the owner app on the storage `make` builds (source text, gets `lib`); resolves its URL and a stop function. */
function serve(make: string, args: string[]): Promise<ServedScript> {
  return serveScript(`
    const lib = require(${JSON.stringify(libPath('index.ts'))});
    const redis = require(${JSON.stringify(libPath('redis.ts'))});
    const { buildOwnerApp } = require(${JSON.stringify(OWNER_APP)});
    const storage = (${make})(lib, redis, process.argv[2]);
    const { app } = buildOwnerApp(storage);
    const server = app.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
    process.on('SIGTERM', () => { server.close(); storage.close().then(() => process.exit(0)); });
  `, args);
}

async function loginAt(url: string, user: string): Promise<string> {
  const res = await fetch(`${url}/login?user=${user}`, { method: 'POST' });
  expect(res.status).toBe(200);
  const id = cookieValue(res.headers.getSetCookie());
  if (id === undefined) throw new Error('no cookie after login');
  return id;
}

async function userAt(url: string, id: string): Promise<{ user: string | null; cleared: boolean }> {
  const res = await fetch(`${url}/me`, { headers: { cookie: `sessionid=${id}` } });
  const set = cookieOf(res.headers.getSetCookie());
  return { user: ((await res.json()) as { user: string | null }).user, cleared: set !== undefined && /^sessionid=;/.test(set) };
}

/** The scenario, on a child serving `child` and this process serving `storage` (the same sessions). */
async function bothWays(child: { url: string }, storage: Storage): Promise<void> {
  const { app, sessions } = buildOwnerApp(storage);
  const [c1, c2] = [await loginAt(child.url, 'ada'), await loginAt(child.url, 'ada')];
  const here = cookieValue((await request(app).post('/login?user=ada').expect(200)).headers['set-cookie']) as string;
  const digests = (await sessions.manager.sessionsOf('ada')).map((d) => d.digest).sort();
  expect(digests).toEqual([c1, c2, here].map((id) => sessions.manager.digestOf(id)).sort());

  // Revoked here, used there: ended at once for the other process.
  expect(await sessions.manager.revoke('ada', { except: [c1, here] })).toBe(1);
  expect(await userAt(child.url, c2)).toEqual({ user: null, cleared: true });
  expect((await userAt(child.url, c1)).user).toBe('ada');

  // Revoked there, used here.
  const res = await fetch(`${child.url}/logout-others`, { method: 'POST', headers: { cookie: `sessionid=${c1}` } });
  expect(await res.json()).toEqual({ ended: 1 });
  const after = await request(app).get('/me').set('Cookie', `sessionid=${here}`).expect(200);
  expect(after.body.user).toBeNull();
  expect(cookieOf(after.headers['set-cookie'])).toMatch(/^sessionid=;/);
  expect((await sessions.manager.sessionsOf('ada')).map((d) => d.digest)).toEqual([sessions.manager.digestOf(c1)]);
}

describe('two processes sharing a FileStorage', () => {
  const tmp = useTempDir('sessionware-owners-proc-');

  it('should list and revoke the sessions of one owner from either process', async () => {
    const child = await serve('(lib, _redis, dir) => new lib.FileStorage(dir)', [tmp.path]);
    const storage = new FileStorage(tmp.path);
    try {
      await bothWays(child, storage);
    } finally {
      await child.stop();
      await storage.close();
    }
  }, 60_000);
});

describe('two processes sharing a RedisStorage prefix', () => {
  afterAll(stopSharedRedis);

  if (WITHOUT_INDEX.has('RedisStorage')) {
    it('should refuse with a StorageError while RedisStorage keeps no owner index', async () => {
      const client = testClient(await sharedRedisUrl());
      const storage = new RedisStorage(client, { prefix: uniquePrefix('sw-owners-proc') });
      await expect(buildOwnerApp(storage).sessions.manager.sessionsOf('ada')).rejects.toThrow(StorageError);
      await storage.close();
      client.disconnect();
    });
    return;
  }

  it('should list and revoke the sessions of one owner from either process', async () => {
    const url = await sharedRedisUrl();
    const prefix = uniquePrefix('sw-owners-proc');
    const child = await serve(`(_lib, redis, url) => new redis.RedisStorage(url, { prefix: ${JSON.stringify(prefix)} })`, [url]);
    const client = testClient(url);
    const storage = new RedisStorage(client, { prefix });
    try {
      await bothWays(child, storage);
    } finally {
      await child.stop();
      await storage.close();
      await cleanupPrefix(client, prefix);
      client.disconnect();
    }
  }, 60_000);
});

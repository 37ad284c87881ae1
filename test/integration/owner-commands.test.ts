/**
 * What "log out everywhere" costs per request over real HTTP, on the SQL storages (statements
 * counted at the pool) and the Redis storages (commands recorded on the storage's own client): a login with
 * `setOwner()`, a read-only request on an owned session (still exactly one statement / command:
 * the owner index adds nothing to reads), the devices page (`sessionsOf()`) and `revoke()`.
 */
import request from 'supertest';
import type { Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { cookieValue } from '../helpers/app';
import { buildOwnerApp } from '../helpers/owner-app';
import { testClient, uniquePrefix, useSharedRedis } from '../helpers/redis';
import { recordCommands } from '../helpers/redis-record';
import type { Redis } from 'ioredis';
import { uniqueTable } from '../helpers/sql';
import { countedSqlStorage, type CountedSqlStorage } from '../helpers/sql-storage';

type Closable = Storage & { close(): Promise<void> };

async function login(app: ReturnType<typeof buildOwnerApp>['app'], user: string): Promise<string> {
  const res = await request(app).post(`/login?user=${encodeURIComponent(user)}`).expect(200);
  return `sessionid=${cookieValue(res.headers['set-cookie']) as string}`;
}

describe.each([
  ['PostgresStorage', 'pg'],
  ['MysqlStorage', 'mysql'],
] as const)('statements of log out everywhere on %s', (_name, kind) => {
  let sql: CountedSqlStorage;
  beforeAll(async () => {
    sql = await countedSqlStorage(kind, 'sw_owner_count');
  });
  afterAll(() => sql.cleanup());
  const take = () => sql.take();

  it('should cost one statement to log in with setOwner(), one per read-only request, one listing per devices page', async () => {
    const { app } = buildOwnerApp(sql.storage);
    const user = `ada-${uniqueTable('u')}`;
    const cookie = await login(app, user);
    const written = await take();
    expect(written).toHaveLength(1); // the upsert that writes $sw:owner fills the owner column too
    expect(written[0]).toMatch(/\bowner\b/);

    await request(app).get('/me').set('Cookie', cookie).expect(200);
    const read = await take();
    expect(read).toHaveLength(1); // unchanged by the owner index
    expect(read[0]).not.toMatch(/\bowner\b/);

    const other = await login(app, user);
    await take();
    const devices = await request(app).get('/devices').set('Cookie', cookie).expect(200);
    expect(devices.body).toHaveLength(2);
    const listing = await take();
    // the request's own read, one SELECT on the owner index, and the manager's check of each session
    expect(listing.filter((s) => /WHERE owner = /.test(s))).toHaveLength(1);
    expect(listing).toHaveLength(1 + 1 + 2);

    await request(app).post('/logout-all').set('Cookie', other).expect(200, { ended: 2 });
    await request(app).get('/me').set('Cookie', cookie).expect(200);
  });
});

const PREFIX = uniquePrefix('sw-test-owner-cmds');
const redis = useSharedRedis(PREFIX);

describe.each<[string, (client: Redis, prefix: string) => Closable, string]>([
  ['RedisStorage', (client, prefix) => new RedisStorage(client, { prefix }), 'get'],
  ['RedisHashStorage', (client, prefix) => new RedisHashStorage(client, { prefix }), 'hgetall'],
])('commands of log out everywhere on %s', (name, make, readCommand) => {
  const prefix = `${PREFIX}${name}:`;
  let client: Redis;
  let monitor: { take(): string[][] };
  beforeAll(() => {
    client = testClient(redis.url);
    monitor = recordCommands(client);
  });
  afterAll(() => client.disconnect());
  const scripts = (cmds: string[][]) => cmds.map((c) => c[0]).filter((c) => c !== 'eval'); // the EVAL after a NOSCRIPT is a retry, not a step

  it('should cost one script more to log in with setOwner() (addOwner), one command per read-only request, one script per listing', async () => {
    const storage = make(client, prefix);
    const { app } = buildOwnerApp(storage);
    monitor.take();
    const cookie = await login(app, 'ada');
    // RedisStorage: addOwner, then one merge at close; RedisHashStorage writes each set() through: set('user'), addOwner, the write of $sw:owner
    expect(scripts(monitor.take())).toEqual(name === 'RedisStorage' ? ['evalsha', 'evalsha'] : ['evalsha', 'evalsha', 'evalsha']);

    await request(app).get('/me').set('Cookie', cookie).expect(200);
    // one read (RedisHashStorage: /me's data() is one more HGETALL, as without an owner)
    expect((monitor.take()).map((c) => c[0])).toEqual(name === 'RedisStorage' ? [readCommand] : [readCommand, readCommand]);

    await login(app, 'ada');
    monitor.take();
    await request(app).get('/devices').set('Cookie', cookie).expect(200);
    const listing = (monitor.take()).map((c) => c[0]).filter((c) => c !== 'eval');
    // the request's own read, one listing script, and the manager's check of each session
    expect(listing).toEqual([readCommand, 'evalsha', readCommand, readCommand]);
    await storage.close();
  });
});

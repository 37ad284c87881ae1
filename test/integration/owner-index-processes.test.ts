/**
 * The owner index shared by two processes ("log out everywhere" across app instances): a child
 * process and this one, each with its own client or pool on the same Redis prefix or SQL table,
 * own sessions of one owner; each lists all of them; this process ends them all (what
 * `manager.revoke()` does with the listing), and the child then sees none of them, cannot write
 * to them (a request in flight loses), and lists nothing; another owner's session is untouched.
 */
import { generateId, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { libPath, serveScript, type ServedScript } from '../helpers/child';
import { cleanupPrefix, sharedRedisUrl, testClient, uniquePrefix } from '../helpers/redis';
import { sqlStorage } from '../helpers/sql-storage';

const HOUR = 3_600_000;
const OWNER_KEY = '$sw:owner';

type Owned = Storage & Required<Pick<Storage, 'addOwner' | 'ownerSessions' | 'forgetOwner'>> & { close(): Promise<void> };

/** What the child runs: a tiny HTTP server over its own storage (argv: kind, connection, prefix or table). */
const CHILD = `
const http = require('node:http');
const [kind, connection, name] = process.argv.slice(2);
const make = () => {
  if (kind === 'RedisStorage') return new (require(${JSON.stringify(libPath('redis.ts'))}).RedisStorage)(connection, { prefix: name });
  if (kind === 'RedisHashStorage') return new (require(${JSON.stringify(libPath('redis.ts'))}).RedisHashStorage)(connection, { prefix: name });
  if (kind === 'PostgresStorage') return new (require(${JSON.stringify(libPath('postgres.ts'))}).PostgresStorage)(connection, { table: name });
  return new (require(${JSON.stringify(libPath('mysql.ts'))}).MysqlStorage)(connection, { table: name });
};
const storage = make();
const HOUR = 3600000;
const routes = {
  async own(q) {
    await storage.addOwner(q.get('owner'), q.get('id'), HOUR);
    return storage.setSession(q.get('id'), { set: new Map([['$sw:owner', JSON.stringify(q.get('owner'))]]), removed: new Set() }, HOUR, { create: true });
  },
  async get(q) { const r = await storage.getSession(q.get('id'), HOUR); return r ? Object.fromEntries(r) : null; },
  async write(q) { return storage.setSession(q.get('id'), { set: new Map([['late', '1']]), removed: new Set() }, HOUR, { create: false }); },
  async list(q) { return (await storage.ownerSessions(q.get('owner'))).map((o) => o.id).sort(); },
};
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  try { res.end(JSON.stringify(await routes[url.pathname.slice(1)](url.searchParams))); }
  catch (e) { res.statusCode = 500; res.end(String(e && e.message)); }
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
process.on('SIGTERM', () => { server.close(); storage.close().then(() => process.exit(0)); });
`;

/** One kind of shared storage: this process's instance, what the child connects with, and the cleanup. */
interface Shared {
  readonly storage: Owned;
  readonly args: [string, string];
  cleanup(): Promise<void>;
}

const KINDS: ReadonlyArray<[string, () => Promise<Shared>]> = [
  ...(['RedisStorage', 'RedisHashStorage'] as const).map((kind): [string, () => Promise<Shared>] => [
    kind,
    async () => {
      const url = await sharedRedisUrl();
      const client = testClient(url);
      const prefix = uniquePrefix(`sw-test-owner-proc-${kind}`);
      const storage = (kind === 'RedisStorage' ? new RedisStorage(client, { prefix }) : new RedisHashStorage(client, { prefix })) as Owned;
      return {
        storage,
        args: [url, prefix],
        async cleanup() {
          await storage.close();
          await cleanupPrefix(client, prefix);
          client.disconnect();
        },
      };
    },
  ]),
  ...([['PostgresStorage', 'pg'], ['MysqlStorage', 'mysql']] as const).map(([name, kind]): [string, () => Promise<Shared>] => [
    name,
    async () => {
      const { storage, url, table, cleanup } = sqlStorage(kind, 'sw_owner_proc');
      return { storage: storage as Owned, args: [url, table], cleanup };
    },
  ]),
];

describe.each(KINDS)('owner index shared by two processes on %s', (kind, setup) => {
  it('should list the sessions both processes gave an owner, and end them for both', async () => {
    const shared = await setup();
    let child: ServedScript | undefined;
    try {
      child = await serveScript(CHILD, [kind, ...shared.args]);
      const { url } = child;
      const ask = async (route: string, params: Record<string, string>): Promise<unknown> => {
        const res = await fetch(`${url}/${route}?${new URLSearchParams(params).toString()}`);
        const text = await res.text();
        if (res.status !== 200) throw new Error(`child ${route}: ${text}`);
        return JSON.parse(text) as unknown;
      };
      const { storage } = shared;
      const [owner, other] = [`ada:${generateId()}`, `bob:${generateId()}`];
      const theirs = [generateId(), generateId(), generateId()];
      const ours = [generateId(), generateId()];
      const bobs = generateId();
      for (const id of theirs) expect(await ask('own', { owner, id })).toBe(true);
      expect(await ask('own', { owner: other, id: bobs })).toBe(true);
      for (const id of ours) {
        await storage.addOwner(owner, id, HOUR);
        await storage.setSession(id, { set: new Map([[OWNER_KEY, JSON.stringify(owner)]]), removed: new Set() }, HOUR, { create: true });
      }
      const all = [...theirs, ...ours].sort();
      expect((await storage.ownerSessions(owner)).map((o) => o.id).sort()).toEqual(all);
      expect(await ask('list', { owner })).toEqual(all);

      // revoke: end every listed session, then forget them
      const listed = await storage.ownerSessions(owner);
      for (const { id } of listed) expect(await storage.removeAll(id)).toBe(true);
      await storage.forgetOwner(owner, listed.map((o) => o.id));

      for (const id of all) {
        expect(await ask('get', { id })).toBeNull();
        expect(await ask('write', { id })).toBe(false); // a request in flight cannot bring it back
      }
      expect(await ask('list', { owner })).toEqual([]);
      expect(await storage.ownerSessions(owner)).toEqual([]);
      expect(await ask('list', { owner: other })).toEqual([bobs]);
      expect(await ask('get', { id: bobs })).toEqual({ [OWNER_KEY]: JSON.stringify(other) });
    } finally {
      await child?.stop();
      await shared.cleanup();
    }
  }, 60_000);
});

/**
 * `increment()` / `update()` over real HTTP where the requests of one session are served by two
 * app instances: two processes sharing a FileStorage directory, and two apps (two ioredis Cluster
 * clients) on a real 3-master Redis Cluster. Here compare-and-set conflicts come from the other
 * instance, and none of the 50 changes may be lost.
 */
import { Cluster } from 'ioredis';
import { FileStorage, type Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { libPath, serveScript, type ServedScript } from '../helpers/child';
import { cleanupPrefix, uniquePrefix, useRedisCluster } from '../helpers/redis';
import { useTempDir } from '../helpers/temp-dir';
import { buildUpdateApp, listen, seedSession } from '../helpers/update-app';

const N = 50;
const HOUR = 3_600_000;

const plain = (record: ReadonlyMap<string, string> | undefined) => record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));

/** Sends `N` concurrent requests of `path(i)` with the session cookie, alternating between `urls`; all must answer 200. */
async function hammer(urls: readonly string[], id: string, path: (i: number) => string): Promise<void> {
  const statuses = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const res = await fetch(`${urls[i % urls.length] as string}${path(i)}`, { headers: { cookie: `sessionid=${id}` } });
      return res.status === 200 ? 200 : `${res.status} ${await res.text()}`;
    }),
  );
  expect(statuses.filter((s) => s !== 200)).toEqual([]);
}

describe('two processes sharing a FileStorage', () => {
  const tmp = useTempDir('sessionware-update-proc-');

  /** A child process serving the test app on a FileStorage in the test's temp dir. */
  function serve(): Promise<ServedScript> {
    return serveScript(`
      const express = require(${JSON.stringify(require.resolve('express'))});
      const { session, FileStorage } = require(${JSON.stringify(libPath('index.ts'))});
      const storage = new FileStorage(process.argv[2]);
      const app = express();
      app.use(session(storage));
      app.get('/incr', async (req, res, next) => { try { res.json({ n: await req.session.increment('n') }); } catch (e) { next(e); } });
      app.get('/append', async (req, res, next) => {
        try { res.json(await req.session.update('list', (l = []) => [...l, String(req.query.item)])); } catch (e) { next(e); }
      });
      const server = app.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
      process.on('SIGTERM', () => { server.close(); storage.close().then(() => process.exit(0)); });
    `, [tmp.path]);
  }

  it(`should count ${N} concurrent increments and keep ${N} appends served by two processes`, async () => {
    const [a, b] = await Promise.all([serve(), serve()]);
    const storage = new FileStorage(tmp.path);
    try {
      const id = await seedSession(storage, { user: 'ada' });
      await hammer([a.url, b.url], id, () => '/incr');
      await hammer([a.url, b.url], id, (i) => `/append?item=${i}`);
      const data = plain(await storage.getSession(id, HOUR)) as { n: number; list: string[] };
      expect(data.n).toBe(N);
      expect(data.list.slice().sort()).toEqual(Array.from({ length: N }, (_, i) => String(i)).sort());
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await storage.close();
    }
  }, 60_000);
});

describe('a real Redis Cluster, two app instances', () => {
  const redis = useRedisCluster();

  for (const [name, Kind] of [['RedisStorage', RedisStorage], ['RedisHashStorage', RedisHashStorage]] as const) {
    it(`should count ${N} concurrent increments, keep ${N} appends, and count 500 sustained increments on ${name}`, async () => {
      const prefix = uniquePrefix(`sw-update-cluster-${name}`);
      const clients = [0, 1].map(() => redis.cluster.client());
      const storages: Storage[] = clients.map((client) => new Kind(client, { prefix }));
      const servers = await Promise.all(storages.map((s) => listen(buildUpdateApp(s))));
      try {
        const id = await seedSession(storages[0] as Storage, { user: 'ada' });
        await hammer(servers.map((s) => s.url), id, () => '/incr');
        await hammer(servers.map((s) => s.url), id, (i) => `/append?item=${i}`);
        const data = plain(await (storages[1] as Storage).getSession(id, HOUR)) as { n: number; list: string[] };
        expect(data.n).toBe(N);
        expect(data.list.slice().sort()).toEqual(Array.from({ length: N }, (_, i) => String(i)).sort());

        // Sustained: 20 clients, 500 increments, alternating instances. Neither instance may
        // starve the other into a SessionConflictError (each re-reads before it writes).
        let sent = 0;
        const failures: string[] = [];
        const client = async (c: number): Promise<void> => {
          while (sent < 500) {
            sent++;
            const res = await fetch(`${(servers[(c + sent) % 2] as { url: string }).url}/incr`, { headers: { cookie: `sessionid=${id}` } });
            const body = await res.text();
            if (res.status !== 200) failures.push(body);
          }
        };
        await Promise.all(Array.from({ length: 20 }, (_, c) => client(c)));
        expect(failures).toEqual([]);
        expect(plain(await (storages[0] as Storage).getSession(id, HOUR))?.['n']).toBe(N + 500);
      } finally {
        await Promise.all(servers.map((s) => s.close()));
        for (const s of storages) await s.close();
        await cleanupPrefix(clients[0] as Cluster, prefix);
        for (const c of clients) c.disconnect();
      }
    }, 60_000);
  }
});

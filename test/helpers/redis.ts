/**
 * Real Redis servers for the tests: the shared server at `REDIS_URL` (default
 * `redis://127.0.0.1:6379`), per-run random key prefixes cleaned with SCAN + UNLINK, and throwaway
 * standalone servers and 3-master Clusters spawned with `redis-server` on free ports.
 *
 * Never skips: when the shared server is unreachable a standalone server is spawned in its place.
 */
import express from 'express';
import { session, type Storage } from 'sessionware';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const run = promisify(execFile);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A key prefix unique to this run, e.g. `sw-test:4f1c…:`. */
export function uniquePrefix(label = 'sw-test'): string {
  return `${label}:${randomBytes(6).toString('hex')}:`;
}

/**
 * Deletes every key starting with `prefix` on `client` (every master of a Cluster), and the
 * forwards `moveSession` left for them (`{<prefix>...}>`).
 */
export async function cleanupPrefix(client: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) await node.unlink(key);
      } while (cursor !== '0');
    }
  }
}

/** Resolves a TCP port nobody listens on (and, with `bus`, whose port + 10000 is free too). */
export async function freePort(bus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = bus ? 20000 + Math.floor(Math.random() * 20000) : await ephemeralPort();
    if ((await isFree(port)) && (!bus || (await isFree(port + 10000)))) return port;
  }
  throw new Error('no free port found');
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Pings `host:port` until it answers PONG, or throws after `timeoutMs`. */
export async function waitForRedis(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { stdout } = await run('redis-cli', ['-p', String(port), 'ping']);
      if (stdout.trim() === 'PONG') return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
    await sleep(50);
  }
}

/** A `redis-server` child process on its own port; can be stopped and started again. */
export class RedisServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly extraArgs: readonly string[],
  ) {}

  /** Spawns a server on a free port (or `port`). */
  static async start(options: { port?: number; args?: readonly string[] } = {}): Promise<RedisServer> {
    const server = new RedisServer(options.port ?? (await freePort(options.args?.includes('--cluster-enabled') ?? false)), options.args ?? []);
    await server.resume();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server process on the same port. */
  async resume(): Promise<void> {
    if (this.#child) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...this.extraArgs], { stdio: 'ignore' });
    this.#child = child;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    await waitForRedis(this.port);
  }

  /** Kills the server (SIGKILL: like a crash) and waits until the port is closed. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
    while (!(await isFree(this.port))) await sleep(20);
  }
}

/** A 3-master Redis Cluster of spawned servers. */
export class RedisTestCluster {
  private constructor(
    readonly servers: readonly RedisServer[],
    readonly dir: string,
  ) {}

  static async start(): Promise<RedisTestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'sessionware-cluster-'));
    const servers: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const port = await freePort(true);
        servers.push(await RedisServer.start({ port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir] }));
      }
      const cluster = new RedisTestCluster(servers, dir);
      await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes']);
      await cluster.#waitOk();
      return cluster;
    } catch (err) {
      for (const s of servers) await s.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The seed nodes for `new Cluster(...)`. */
  get nodes(): Array<{ host: string; port: number }> {
    return this.servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  /** A new Cluster client on it (one retry per request, connection errors left to the commands). */
  client(): Cluster {
    const client = new Cluster(this.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    client.on('error', () => undefined);
    return client;
  }

  async stop(): Promise<void> {
    for (const s of this.servers) await s.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #waitOk(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.servers.map(async (s) => (await run('redis-cli', ['-p', String(s.port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')),
      );
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error('the test cluster never reached cluster_state:ok');
      await sleep(100);
    }
  }
}

/**
 * A 3-master Redis Cluster for this test file, started before its tests and stopped after them,
 * with one connected client.
 */
export function useRedisCluster(): { readonly cluster: RedisTestCluster; readonly client: Cluster } {
  let cluster: RedisTestCluster | undefined;
  let client: Cluster | undefined;
  beforeAll(async () => {
    cluster = await RedisTestCluster.start();
    client = cluster.client();
    await client.ping();
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });
  return {
    get cluster() {
      return cluster as RedisTestCluster;
    },
    get client() {
      return client as Cluster;
    },
  };
}

let shared: Promise<{ url: string; server?: RedisServer }> | undefined;

/**
 * The shared Redis for this test file: `REDIS_URL` (default `redis://127.0.0.1:6379`) when it
 * answers. If it does not, a standalone `redis-server` is spawned for the file (the tests never
 * skip) and stopped by {@link stopSharedRedis}.
 */
export function sharedRedisUrl(): Promise<string> {
  shared ??= (async () => {
    const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return { url };
    } catch {
      // Never skip (CI or not): start a private server for this file instead.
      const server = await RedisServer.start();
      return { url: server.url, server };
    } finally {
      probe.disconnect();
    }
  })();
  return shared.then((s) => s.url);
}

/** Stops the server {@link sharedRedisUrl} spawned, if it spawned one. */
export async function stopSharedRedis(): Promise<void> {
  const s = await shared;
  await s?.server?.stop();
  shared = undefined;
}

/** A client for tests (quick to give up, quiet about connection errors). */
export function testClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

/**
 * Connects a test file to the shared Redis (see {@link sharedRedisUrl}) and removes every key under
 * `prefix` afterwards. Call at the top level of the file; read `client`/`url` inside tests.
 */
export function useSharedRedis(prefix: string): { readonly client: Redis; readonly url: string } {
  let client: Redis | undefined;
  let url: string | undefined;
  beforeAll(async () => {
    url = await sharedRedisUrl();
    client = testClient(url);
  });
  afterAll(async () => {
    if (client) {
      await cleanupPrefix(client, prefix);
      client.disconnect();
    }
    await stopSharedRedis();
  });
  return {
    get client() {
      return client as Redis;
    },
    get url() {
      return url as string;
    },
  };
}

/**
 * Records with `MONITOR` the commands clients send for keys under `prefix` (commands run inside Lua
 * scripts are left out: only round trips count). Call inside a `describe`.
 */
export function monitorCommands(redis: { readonly client: Redis }, prefix: string): { take(): Promise<string[][]> } {
  let monitor: Awaited<ReturnType<Redis['monitor']>>;
  let seen: string[][] = [];
  beforeAll(async () => {
    monitor = await redis.client.monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!source.includes('lua') && args.some((a) => a.includes(prefix))) {
        const script = /^eval/i.test(args[0] ?? ''); // shorten a script's SHA or source
        seen.push(args.map((a, i) => (i === 0 ? a.toLowerCase() : script && i === 1 ? `${a.slice(0, 8)}…` : a)));
      }
    });
  });
  afterAll(() => monitor.disconnect());
  return {
    /** The commands seen since the last call, after letting in-flight ones arrive. */
    async take() {
      await sleep(150);
      const taken = seen;
      seen = [];
      return taken;
    },
  };
}

/** The app the command-count tests drive: `/set` (writes `user`), `/read`, `/logout`. */
export function commandCountApp(storage: Storage): express.Express {
  const app = express();
  app.use(session(storage));
  app.get('/set', async (req, res) => {
    await req.session.set('user', 'alice');
    res.send('ok');
  });
  app.get('/read', async (req, res) => {
    res.json(await req.session.get('user'));
  });
  app.get('/logout', async (req, res) => {
    await req.session.removeAll();
    res.send('bye');
  });
  return app;
}

/**
 * Real memcached servers for the tests: `memcached` processes spawned on free ports (the Debian
 * package; `.ci/run` installs it), stopped with SIGKILL like a crash, and a raw text-protocol line
 * client to read `stats` and items as memcached sees them. `memcachedHosts()` / `stopMemcached()`
 * give the StoreAdapter tests (connect-memcached) a throwaway server of their own, one per file.
 *
 * Never skips: a missing `memcached` binary fails the test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort, sleep } from './redis';

/** Sends raw text-protocol lines and resolves the reply up to (and including) a line matching `end`. */
export function rawCommand(port: number, line: string, end = /^(END|OK|ERROR|HD.*|EN|NF|VA .*|CLIENT_ERROR.*|SERVER_ERROR.*)\r\n/m): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (end.test(reply)) {
        socket.end();
        resolve(reply);
      }
    });
    socket.write(`${line}\r\n`);
  });
}

/** A `memcached` child process on its own port; can be killed and started again (empty). */
export class MemcachedServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly extraArgs: readonly string[],
  ) {}

  /** Spawns a server on a free port (or `port`), 16 MB, one worker thread, TCP only. */
  static async start(options: { port?: number; args?: readonly string[] } = {}): Promise<MemcachedServer> {
    const server = new MemcachedServer(options.port ?? (await freePort()), options.args ?? []);
    await server.resume();
    return server;
  }

  /** `host:port`, as memcache-client wants it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** (Re)starts the process on the same port. */
  async resume(): Promise<void> {
    if (this.#child) return;
    const user = process.getuid?.() === 0 ? ['-u', 'root'] : []; // memcached refuses to run as root without -u
    const child = spawn('memcached', [...user, '-l', '127.0.0.1', '-p', String(this.port), '-U', '0', '-m', '16', '-t', '1', ...this.extraArgs], { stdio: 'ignore' });
    this.#child = child;
    const failed = new Promise<never>((_, reject) => child.once('error', (err) => reject(new Error(`cannot start memcached (apt-get install memcached): ${err.message}`))));
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    await Promise.race([failed, this.#waitReady()]);
  }

  /** Kills the server (SIGKILL: like a crash) and waits until the port is closed. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
  }

  /** The server's `stats` counters. */
  async stats(): Promise<Record<string, number>> {
    const reply = await rawCommand(this.port, 'stats');
    const stats: Record<string, number> = {};
    for (const match of reply.matchAll(/^STAT (\S+) (\S+)\r$/gm)) stats[match[1] as string] = Number(match[2]);
    return stats;
  }

  /** Seconds left until `key` expires (`-1` for never), or `undefined` when it is missing (meta `mg`). */
  async ttlOf(key: string): Promise<number | undefined> {
    const reply = await rawCommand(this.port, `mg ${key} t`);
    const match = /^HD t(-?\d+)/.exec(reply);
    return match ? Number(match[1]) : undefined;
  }

  /** The raw value of `key`, or `undefined`. */
  async valueOf(key: string): Promise<string | undefined> {
    const reply = await rawCommand(this.port, `get ${key}`);
    const match = /^VALUE \S+ \d+ \d+\r\n([\s\S]*)\r\nEND\r\n$/.exec(reply);
    return match?.[1];
  }

  /** Stores a raw value (flags 0) under `key`. */
  async put(key: string, value: string, exptime = 3600): Promise<void> {
    const reply = await rawCommand(this.port, `set ${key} 0 ${exptime} ${Buffer.byteLength(value)}\r\n${value}`, /^(STORED|NOT_STORED|SERVER_ERROR.*|CLIENT_ERROR.*)\r\n/m);
    if (!reply.startsWith('STORED')) throw new Error(`memcached set failed: ${reply.trim()}`);
  }

  async #waitReady(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await rawCommand(this.port, 'version', /\r\n/)).startsWith('VERSION')) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`memcached on port ${this.port} did not start`);
      await sleep(30);
    }
  }
}

/**
 * Commands a client sent, from `stats` counters: `cmd_get` (get/gets), `cmd_set` (set/add/cas/...),
 * `cmd_touch` (touch/gat/gats), deletes. The helpers' own `stats` and `version` are not counted.
 */
export function commandsBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const names = ['cmd_get', 'cmd_set', 'cmd_touch', 'delete_hits', 'delete_misses', 'cas_hits', 'cas_badval', 'cas_misses'] as const;
  const delta: Record<string, number> = {};
  for (const name of names) delta[name] = (after[name] ?? 0) - (before[name] ?? 0);
  delta['total'] = (delta['cmd_get'] ?? 0) + (delta['cmd_set'] ?? 0) + (delta['cmd_touch'] ?? 0) + (delta['delete_hits'] ?? 0) + (delta['delete_misses'] ?? 0);
  return delta;
}

let shared: Promise<MemcachedServer> | undefined;

/** One memcached per test file (started on first use); stop it with {@link stopSharedMemcached}. */
export function sharedMemcached(): Promise<MemcachedServer> {
  shared ??= MemcachedServer.start();
  return shared;
}

/** Stops the server {@link sharedMemcached} started. */
export async function stopSharedMemcached(): Promise<void> {
  const server = await shared;
  shared = undefined;
  await server?.stop();
}

// ---- a throwaway memcached per file for the StoreAdapter (connect-memcached) tests ----

let hostsServer: Promise<{ child: ChildProcess; hosts: string }> | undefined;

/** `host:port` of this file's memcached, started on first use. */
export function memcachedHosts(): Promise<string> {
  hostsServer ??= (async () => {
    const port = await freePort();
    const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : []; // memcached refuses root without -u
    const child = spawn('memcached', [...asRoot, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64'], { stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start memcached (apt-get install -y memcached): ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`memcached exited at start (code ${String(code)})`)));
    });
    failed.catch(() => undefined); // reported through the race below, or not at all once it runs
    await Promise.race([waitForPort(port), failed]);
    return { child, hosts: `127.0.0.1:${port}` };
  })();
  return hostsServer.then((s) => s.hosts);
}

/** Kills this file's memcached, if one was started. */
export async function stopMemcached(): Promise<void> {
  const current = await hostsServer?.catch(() => undefined);
  hostsServer = undefined;
  if (!current) return;
  const exited = new Promise<void>((resolve) => current.child.once('exit', () => resolve()));
  current.child.kill('SIGKILL');
  await exited;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`memcached on port ${port} did not start`);
    await sleep(50);
  }
}

/**
 * A throwaway memcached for the tests: `memcached` (Debian's package) spawned on a free loopback
 * port, one per test file, killed by {@link stopMemcached}. Never skips: without the binary the
 * tests fail and say what to install.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort, sleep } from './redis';

let server: Promise<{ child: ChildProcess; hosts: string }> | undefined;

/** `host:port` of this file's memcached, started on first use. */
export function memcachedHosts(): Promise<string> {
  server ??= (async () => {
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
  return server.then((s) => s.hosts);
}

/** Kills this file's memcached, if one was started. */
export async function stopMemcached(): Promise<void> {
  const current = await server?.catch(() => undefined);
  server = undefined;
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

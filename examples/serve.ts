/**
 * How the examples listen: on `PORT` (or their default port), failing loudly when they cannot (the
 * port is taken, `PORT` is not a port number), and closing the server and the session storage on
 * Ctrl-C / SIGTERM so that pending TTL refreshes are flushed.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Storage } from 'sessionware';

/** Something `listen`s like an Express app or a `node:http` server. */
interface Listenable {
  listen(port: number): Server;
}

/**
 * Serves `app` on `PORT` (default `defaultPort`; `PORT=0` picks a free port) and prints the URL.
 * Exits with code 1 and a message saying what to do when the port cannot be used.
 */
export function serve(app: Listenable, { name, defaultPort, storage }: { name: string; defaultPort: number; storage: Storage }): void {
  const raw = process.env['PORT'];
  const port = raw === undefined || raw === '' ? defaultPort : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    fail(`${name}: PORT must be a port number from 0 to 65535, got ${JSON.stringify(raw)}`, storage);
    return;
  }
  const server = app.listen(port);
  server.once('error', function listenFailed(err: NodeJS.ErrnoException) {
    const hint = err.code === 'EADDRINUSE' ? `port ${port} is already in use: stop what uses it, or choose another port, e.g. PORT=${port + 1}` : `cannot listen on port ${port}: ${err.message}`;
    fail(`${name}: ${hint}`, storage);
  });
  server.once('listening', function listening() {
    console.log(`${name} on http://localhost:${(server.address() as AddressInfo).port} (Ctrl-C stops it)`);
    const shutDown = (): void => {
      server.close();
      server.closeAllConnections();
      storage.close().catch((err: unknown) => {
        console.error(err);
        process.exitCode = 1;
      });
    };
    process.once('SIGINT', shutDown);
    process.once('SIGTERM', shutDown);
  });
}

function fail(message: string, storage: Storage): void {
  console.error(message);
  process.exitCode = 1;
  void storage.close();
}

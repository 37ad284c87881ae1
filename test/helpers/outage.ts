/**
 * What the storage outage tests share: waiting for a StorageError, retrying until a restarted
 * server answers again, and the app whose untouched and writing routes they probe.
 */
import express from 'express';
import { session, StorageError, type Storage } from 'sessionware';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves the StorageError `promise` rejects with, and how long that took. */
export async function failure(promise: Promise<unknown>): Promise<{ err: StorageError; ms: number }> {
  const start = Date.now();
  const err = await promise.then(
    () => {
      throw new Error('expected a StorageError, but the call succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return { err: err as StorageError, ms: Date.now() - start };
}

/** `eventually(fn, ms = defaultMs)`: retries `fn` every 100 ms until it succeeds or `ms` ran out. */
export function retrying(defaultMs: number) {
  return async function eventually<T>(fn: () => Promise<T>, ms = defaultMs): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  };
}

/** `/untouched` never opens the session; `/set` writes one key; a StorageError answers 503 with its code and operation. */
export function appFor(storage: Storage) {
  const app = express();
  app.use(session(storage, { onError: () => undefined }));
  app.get('/untouched', (_req, res) => {
    res.send('ok');
  });
  app.get('/set', async (req, res, next) => {
    try {
      await req.session.set('k', 'v');
      res.send('ok');
    } catch (err) {
      next(err);
    }
  });
  app.use((err: StorageError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(503).json({ code: err.code, operation: err.operation });
  });
  return app;
}

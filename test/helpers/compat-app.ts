/**
 * Apps for the `sessionware/express-session` tests, the same on Express 5, Express 4 and Connect:
 * routes are plain `(req, res, next)` handlers that answer through `node:http` (`json`, `send`,
 * `redirect` below), so one test body runs on every framework express-session users run.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import connect from 'connect';
import express5 from 'express';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const express4 = require('express4') as typeof express5;

/** A request as the handlers see it (Express adds more; only what Connect has too is typed). */
export type CompatRequest = IncomingMessage & { session?: unknown; sessionID?: string; originalUrl?: string } & Record<string, unknown>;
/** A Connect-style handler; `next(err)` reaches the app's error handler. */
export type Handler = (req: CompatRequest, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The frameworks the drop-in is tested on. */
export const COMPAT_FRAMEWORKS = ['Express 5', 'Express 4', 'Connect'] as const;
export type CompatFramework = (typeof COMPAT_FRAMEWORKS)[number];

/** An app on one framework: middlewares and routes in order, then `handler` for supertest. */
export interface CompatApp {
  readonly framework: CompatFramework;
  use(...handlers: Handler[]): CompatApp;
  get(path: string, ...handlers: Handler[]): CompatApp;
  post(path: string, ...handlers: Handler[]): CompatApp;
  /** Express's `app.set('trust proxy', ...)`; `false` on Connect, which has no such setting. */
  trustProxy(value: boolean): boolean;
  /** Adds the error handler (a 500 with the message) and returns the request listener. */
  handler(): RequestListener;
}

/** Answers with JSON. */
export function json(res: ServerResponse, body: unknown, status = 200): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

/** Answers with text. */
export function send(res: ServerResponse, text: string, status = 200): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(text);
}

/** Answers with a 302 to `location`. */
export function redirect(res: ServerResponse, location: string): void {
  res.statusCode = 302;
  res.setHeader('Location', location);
  res.end();
}

/** Runs `handlers` in turn, as a router does: each calls `next()` to go on, `next(err)` to fail. */
function chain(handlers: readonly Handler[]): Handler {
  return (req, res, done) => {
    let i = 0;
    const step = (err?: unknown): void => {
      const h = handlers[i++];
      if (err !== undefined || h === undefined) return done(err);
      try {
        h(req, res, step);
      } catch (thrown) {
        done(thrown);
      }
    };
    step();
  };
}

function errorHandler(err: unknown, _req: IncomingMessage, res: ServerResponse, _next: (err?: unknown) => void): void {
  const e = err as { status?: number; message?: string };
  send(res, String(e?.message ?? err), e?.status ?? 500);
}

/** A new app on `framework`. */
export function compatApp(framework: CompatFramework): CompatApp {
  if (framework === 'Connect') {
    const app = connect();
    const route = (method: string, path: string, handlers: Handler[]) => {
      const run = chain(handlers);
      app.use(((req: CompatRequest, res: ServerResponse, next: (err?: unknown) => void) => {
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        if (req.method !== method || (q === -1 ? url : url.slice(0, q)) !== path) return next();
        run(req, res, next);
      }) as connect.NextHandleFunction);
    };
    const self: CompatApp = {
      framework,
      use: (...handlers) => (app.use(chain(handlers) as unknown as connect.NextHandleFunction), self),
      get: (path, ...handlers) => (route('GET', path, handlers), self),
      post: (path, ...handlers) => (route('POST', path, handlers), self),
      trustProxy: () => false,
      handler: () => {
        app.use(errorHandler as unknown as connect.ErrorHandleFunction);
        return app as unknown as RequestListener;
      },
    };
    return self;
  }
  const app = (framework === 'Express 5' ? express5 : express4)();
  const self: CompatApp = {
    framework,
    use: (...handlers) => (app.use(...(handlers as unknown as express5.RequestHandler[])), self),
    get: (path, ...handlers) => (app.get(path, ...(handlers as unknown as express5.RequestHandler[])), self),
    post: (path, ...handlers) => (app.post(path, ...(handlers as unknown as express5.RequestHandler[])), self),
    trustProxy: (value) => (app.set('trust proxy', value), true),
    handler: () => {
      app.use(errorHandler as unknown as express5.ErrorRequestHandler);
      return app as unknown as RequestListener;
    },
  };
  return self;
}

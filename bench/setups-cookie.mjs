// The client-side (cookie) setups: sessionware + CookieStorage (AES-256-GCM seal) beside
// cookie-session 2 (signed only: base64 JSON plus a keygrip HMAC-SHA1 `.sig` cookie, no
// confidentiality) and iron-session 8 (iron seal: AES-256-CBC + HMAC-SHA256, WebCrypto, async).
// Imported by setups.mjs, so `npm run bench` includes them; BENCH_SETUPS=sessionware-cookie,
// cookie-session,iron-session runs only these. Nothing is stored on the server by any of them.
//
// All three use the express-session-like routes of bench/server.mjs: sessionware through its own
// flavor; cookie-session and iron-session through the 'express-session' flavor (req.session.n),
// with iron-session wrapped below as an Express middleware (getIronSession() on each request, and
// save() awaited before the response ends when the session changed).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST_INDEX = path.join(ROOT, 'dist', 'index.js');
/** A 32+ character secret, as all three require (iron-session: a password of at least 32). */
const SECRET = 'bench-cookie-secret-not-for-production-0123456789';
const DAY = 24 * 60 * 60 * 1000;

const has = (name) => {
  try {
    require.resolve(name);
    return true;
  } catch {
    return `${name} is not installed (npm ci)`;
  }
};

/** iron-session 8 as an Express middleware: the session loads before the handler, saves before the end. */
function ironMiddleware(getIronSession) {
  const options = { password: SECRET, cookieName: 'iron', ttl: DAY / 1000, cookieOptions: { httpOnly: true, sameSite: 'lax' } };
  return function ironSession(req, res, next) {
    getIronSession(req, res, options).then((session) => {
      const before = JSON.stringify(session);
      let destroyed = false;
      // iron's own methods are fixed on the object: a thin view adds express-session's destroy(cb)
      req.session = new Proxy({}, {
        get: (_t, key) => (key === 'destroy' ? (cb) => ((destroyed = true), session.destroy(), cb?.()) : session[key]),
        set: (_t, key, value) => ((session[key] = value), true),
        ownKeys: () => Reflect.ownKeys(session),
        getOwnPropertyDescriptor: (_t, key) => {
          const d = Reflect.getOwnPropertyDescriptor(session, key);
          return d && { ...d, configurable: true };
        },
      });
      const end = res.end;
      res.end = function endAfterSave(...args) {
        if (destroyed || JSON.stringify(session) === before) return end.apply(this, args);
        session.save().then(() => end.apply(this, args), (err) => res.destroy(err));
        return this;
      };
      next();
    }, next);
  };
}

export const COOKIE_SETUPS = [
  {
    name: 'sessionware-cookie',
    label: 'sessionware + CookieStorage',
    flavor: 'sessionware',
    storage: 'cookie',
    available: () => existsSync(DIST_INDEX) || 'dist/index.js not built',
    create() {
      const { session, CookieStorage } = require(DIST_INDEX);
      const storage = new CookieStorage({ secrets: [SECRET] });
      return { middleware: session(storage), close: () => storage.close() };
    },
  },
  {
    name: 'cookie-session',
    label: 'cookie-session (signed only)',
    flavor: 'express-session',
    storage: 'cookie',
    available: () => has('cookie-session'),
    create() {
      const cookieSession = require('cookie-session');
      const middleware = cookieSession({ name: 'session', keys: [SECRET], maxAge: DAY, httpOnly: true, sameSite: 'lax' });
      return {
        middleware(req, res, next) {
          middleware(req, res, (err) => {
            if (err) return next(err);
            // express-session's destroy(cb), for the bench's logout route
            if (req.session) Object.defineProperty(req.session, 'destroy', { value: (cb) => ((req.session = null), cb?.()) });
            next();
          });
        },
        close() {},
      };
    },
  },
  {
    name: 'iron-session',
    label: 'iron-session 8',
    flavor: 'express-session',
    storage: 'cookie',
    available: () => has('iron-session'),
    create() {
      const { getIronSession } = require('iron-session');
      return { middleware: ironMiddleware(getIronSession), close() {} };
    },
  },
];

/**
 * The CPU cost of one seal and one open (a session of `n` plus a ~200-byte value), in µs, for
 * sessionware (sync AES-256-GCM) and iron-session (async WebCrypto), measured in this process;
 * resolves { sessionware: { seal, open, sealedLength, chars }, iron: { seal, open, chars } }.
 * `node bench/setups-cookie.mjs` prints it; bench/cookie.mjs puts it in the report.
 */
export async function sealCost(iterations = 20_000) {
  const { CookieStorage } = require(DIST_INDEX);
  const { sealData, unsealData } = require('iron-session');
  const storage = new CookieStorage({ secrets: [SECRET] });
  const now = Date.now();
  const data = { n: 1, user: { id: 7, name: 'x'.repeat(200) } };
  const sealed = { sid: 'a'.repeat(32), iat: now, exp: now + DAY, abs: now + 30 * DAY, data: new Map(Object.entries(data).map(([k, v]) => [k, JSON.stringify(v)])) };
  const time = async (fn) => {
    for (let i = 0; i < 2000; i++) await fn();
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    return +(Number(process.hrtime.bigint() - start) / 1000 / iterations).toFixed(2);
  };
  const value = storage.seal(sealed, 'sessionid');
  const iron = await sealData(data, { password: SECRET });
  const out = {
    sessionware: {
      chars: value.length,
      seal: await time(() => storage.seal(sealed, 'sessionid')),
      open: await time(() => storage.unseal(value, 'sessionid')),
      sealedLength: await time(() => storage.sealedLength(sealed)),
    },
    iron: {
      chars: iron.length,
      seal: await time(() => sealData(data, { password: SECRET })),
      open: await time(() => unsealData(iron, { password: SECRET })),
    },
  };
  await storage.close();
  return out;
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  const c = await sealCost();
  console.log(`sessionware seal: ${c.sessionware.chars} characters; iron: ${c.iron.chars}`);
  console.log(`sessionware seal ${c.sessionware.seal} µs, open ${c.sessionware.open} µs, sealedLength (set guard) ${c.sessionware.sealedLength} µs`);
  console.log(`iron-session sealData ${c.iron.seal} µs, unsealData ${c.iron.open} µs`);
}

/**
 * Property tests (fast-check, seeded): whatever a client sends as a `Cookie` header or an id
 * header, reading the id never throws, yields only a well-formed id, and with a secret only an id
 * signed with one of the server's secrets; over real HTTP no invalid id reaches the storage and no
 * id the server did not issue is adopted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import express from 'express';
import { MemoryStorage, Signer, isValidId, session, type SessionOptions } from 'sessionware';
import { readClientId } from '../../lib/client-id';
import { resolveOptions } from '../../lib/options';
import { cookieValue, recordCalls, wrap } from '../helpers/app';
import { CURRENT_SECRET, OLD_SECRET, SEED, cookieHeaderArb, idHeaderArb, tokenArb } from '../helpers/id-arbitraries';

const ISSUED = ['issuedSessionId0000000001', 'issuedSessionId0000000002', 'Zz9_-issued-id-three-xx'];
const secrets = [CURRENT_SECRET, OLD_SECRET];
const verifier = new Signer(secrets);
const CONFIGS: Record<string, SessionOptions> = {
  unsigned: {},
  signed: { secret: secrets },
  'header only': { cookie: false, header: 'x-sid', secret: secrets },
};

/** Whether `id` is in `text` the way the configuration accepts it: plain, or signed with one of the server's secrets. */
function sentValidly(text: string, id: string, signed: boolean): boolean {
  if (!signed) return text.includes(id);
  return secrets.some((s) => text.includes(new Signer(s).sign(id)));
}

/** Whether the server could accept `token` as an id at all (quotes aside): the junk filter for planted duplicates. */
function acceptable(token: string, signed: boolean): boolean {
  const bare = token.length >= 2 && token.startsWith('"') && token.endsWith('"') ? token.slice(1, -1) : token;
  return isValidId(signed ? verifier.unsign(bare.trim()) : bare.trim());
}

describe('readClientId on arbitrary input', () => {
  it.each(Object.entries(CONFIGS))('should never throw and yield only a well-formed, validly sent id (%s)', (_name, config) => {
    const options = resolveOptions(config);
    const signed = options.signer !== undefined;
    const input = fc.record({
      cookie: fc.option(cookieHeaderArb('sessionid', ISSUED, false), { nil: undefined }),
      header: fc.option(idHeaderArb(ISSUED, false), { nil: undefined }),
    });
    fc.assert(
      fc.property(input, ({ cookie, header }) => {
        const headers: Record<string, string> = {};
        if (cookie !== undefined) headers['cookie'] = cookie;
        if (header !== undefined) headers[options.header ?? 'sessionid'] = header;
        const client = readClientId({ headers } as unknown as http.IncomingMessage, options);
        if (client.id === undefined) return;
        expect(isValidId(client.id)).toBe(true);
        const source = client.via === 'cookie' ? (cookie as string) : (header as string);
        expect(sentValidly(source, client.id, signed)).toBe(true);
        if (signed) expect(verifier.unsign(verifier.sign(client.id))).toBe(client.id);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe('arbitrary ids over real HTTP', () => {
  it.each(Object.entries(CONFIGS))('should never crash, never hand the storage an invalid id, never adopt an unissued one (%s)', async (_name, config) => {
    const memory = new MemoryStorage();
    for (const id of ISSUED) await memory.setSession(id, { set: new Map([['user', '"alice"']]), removed: new Set() }, 60_000, { create: true });
    const { storage, calls } = recordCalls(memory);
    const app = express();
    app.use(session(storage, config));
    app.get('/', wrap(async (req, res) => {
      const user = await req.session.get('user');
      await req.session.set('seen', true);
      res.json({ user: user ?? null });
    }));
    app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).end());
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const { port } = server.address() as AddressInfo;
    const headerName = config.header === undefined ? 'sessionid' : (config.header as string);
    const signed = config.secret !== undefined;
    const send = (headers: Record<string, string>) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', headers, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        });
        req.on('error', reject);
      });
    try {
      const input = fc.record({
        cookie: fc.option(cookieHeaderArb('sessionid', ISSUED, true), { nil: undefined }),
        header: fc.option(idHeaderArb(ISSUED, true), { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(input, async ({ cookie, header }) => {
          const headers: Record<string, string> = {};
          if (cookie !== undefined) headers['cookie'] = cookie;
          if (header !== undefined) headers[headerName] = header;
          calls.length = 0;
          const res = await send(headers);
          if (res.status === 431) return; // Node's own header size limit answered before any middleware
          expect(res.status).toBe(200);
          const sent = `${cookie ?? ''}\n${header ?? ''}`;
          for (const call of calls) {
            if (call.id === undefined) continue;
            expect(isValidId(call.id)).toBe(true);
            // Every id the storage sees is issued, or fresh: never one the client made up.
            if (!ISSUED.includes(call.id)) expect(sentValidly(sent, call.id, signed) && call.method !== 'getSession').toBe(false);
          }
          const token = cookieValue(res.headers['set-cookie']) ?? (res.headers[headerName] as string | undefined);
          if (token) {
            const id = signed ? verifier.unsign(token) : token;
            expect(id !== undefined && isValidId(id)).toBe(true);
            if (!ISSUED.includes(id as string)) expect(sent.includes(id as string)).toBe(false);
          }
        }),
        { seed: SEED, numRuns: 300 },
      );
      for (const id of ISSUED) await expect(memory.getSession(id)).resolves.toBeDefined(); // no junk logged anyone out

      // Planted duplicates: junk values before (and after) the real one never hide it or clear it.
      if (config.cookie === false) return;
      const real = signed ? new Signer(CURRENT_SECRET).sign(ISSUED[0] as string) : (ISSUED[0] as string);
      const junk = tokenArb(ISSUED, true).filter((t) => !acceptable(t, signed));
      const planted = fc.tuple(fc.array(junk, { maxLength: 3 }), fc.array(junk, { maxLength: 3 }), fc.array(fc.constantFrom('theme=dark', 'a=b'), { maxLength: 2 }));
      await fc.assert(
        fc.asyncProperty(planted, async ([before, after, others]) => {
          const pairs = [...before.map((t) => `sessionid=${t}`), ...others, `sessionid=${real}`, ...after.map((t) => `sessionid=${t}`)];
          const res = await send({ cookie: pairs.join('; ') });
          if (res.status === 431) return;
          expect(res.status).toBe(200);
          expect(cookieValue(res.headers['set-cookie'])).toBeUndefined(); // neither cleared nor replaced
        }),
        { seed: SEED, numRuns: 200 },
      );
    } finally {
      agent.destroy();
      await new Promise((r) => server.close(r));
      await memory.close();
    }
  });
});

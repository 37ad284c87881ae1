/**
 * The published package, as a user gets it: packed with `npm pack` (whose `prepack` builds it),
 * its file list and metadata checked, its types checked by @arethetypeswrong/cli in every
 * resolution mode, then installed from the tarball into fresh CommonJS, ES module and strict
 * TypeScript apps (node16, nodenext, bundler, node10) that each run a session round trip, and the
 * README's TypeScript snippets type-checked against it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { installTarball, packTarball, ROOT, run, STRICT, tsBlocks, typeCheck, writeFiles, type Packed } from '../helpers/package';

const pkg = require('../../package.json') as Record<string, unknown>;

/** Every `.ts` file under `lib/`, relative to it, as the build's inputs. */
function libSources(dir = join(ROOT, 'lib')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? libSources(path) : /\.m?ts$/.test(name) ? [relative(join(ROOT, 'lib'), path)] : [];
  });
}

/** What the build makes of a `lib/` source: `x.ts` gives `x.js` and `x.d.ts`, `x.mts` gives `x.mjs` and `x.d.mts`. */
const builtFrom = (ts: string): string[] => (ts.endsWith('.mts') ? [ts.replace(/\.mts$/, '.mjs'), ts.replace(/\.mts$/, '.d.mts')] : [ts.replace(/\.ts$/, '.js'), ts.replace(/\.ts$/, '.d.ts')]);

/** The round trip every app runs: a session stored by one `Session` and read back by the next. */
const ROUND_TRIP_TS = `import { Manager, MemoryStorage, SessionError, isValidId } from 'sessionware';
import type { RedisStorage, RedisHashStorage, RedisStorageOptions } from 'sessionware/redis';
import type { StorageHarness, StorageFactory } from 'sessionware/testing';

declare module 'sessionware' {
  interface SessionData {
    views: number;
  }
}

export const redisOptions: RedisStorageOptions = { prefix: 'app:sess:', commandTimeout: 500 };
export const factory: StorageFactory = async (): Promise<StorageHarness> => ({ storage: new MemoryStorage(), advance: async () => {} });
export type RedisStorages = RedisStorage | RedisHashStorage;

async function main(): Promise<void> {
  const manager = new Manager({ storage: new MemoryStorage(), ttl: 60_000 });
  const first = manager.new();
  await first.set('views', 41);
  const id = await first.id();
  await first.close();
  const second = manager.new(id);
  const views: number | undefined = await second.get('views');
  await second.set('views', (views ?? 0) + 1);
  await second.close();
  const third = manager.new(id);
  console.log(JSON.stringify({ views: await third.get('views'), sameId: (await third.id()) === id, validId: isValidId(id), errors: typeof SessionError }));
  await third.close();
  await manager.getStorage().close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`;

const ROUND_TRIP_OUTPUT = { views: 42, sameId: true, validId: true, errors: 'function' };

/** The same round trip in plain JavaScript, after `imports` (require() calls or import statements). */
const roundTripJs = (imports: string) => `${imports}
if (typeof RedisStorage !== 'function' || typeof RedisHashStorage !== 'function' || typeof describeStorage !== 'function') throw new Error('missing subpath exports');

(async () => {
  const manager = new Manager({ storage: new MemoryStorage(), ttl: 60_000 });
  const first = manager.new();
  await first.set('views', 41);
  const id = await first.id();
  await first.close();
  const second = manager.new(id);
  await second.set('views', (await second.get('views')) + 1);
  await second.close();
  const third = manager.new(id);
  console.log(JSON.stringify({ views: await third.get('views'), sameId: (await third.id()) === id, validId: isValidId(id), errors: typeof SessionError }));
  await third.close();
  await manager.getStorage().close();
})().catch((err) => { console.error(err); process.exitCode = 1; });
`;

const REQUIRES = `'use strict';
const { Manager, MemoryStorage, SessionError, isValidId } = require('sessionware');
const { RedisStorage, RedisHashStorage } = require('sessionware/redis');
const { describeStorage } = require('sessionware/testing');`;

const IMPORTS = `import { Manager, MemoryStorage, SessionError, isValidId } from 'sessionware';
import { RedisStorage, RedisHashStorage } from 'sessionware/redis';
import { describeStorage } from 'sessionware/testing';`;

/**
 * `sessionware/express-session` as express-session users load it (the module itself is the
 * middleware factory), after `imports` that bind `session` (the module's default / `module.exports`),
 * `named` (its `session` export) and `sessionOf`: two requests over real HTTP on `node:http`.
 */
const compatJs = (imports: string) => `${imports}
const http = require('node:http');
const mw = session({ secret: 'package test secret', saveUninitialized: false });
const server = http.createServer((req, res) => mw(req, res, (err) => {
  if (err) { res.statusCode = 500; res.end(String(err)); return; }
  const s = sessionOf(req);
  s.views = (Number(s.views) || 0) + 1;
  res.end(String(s.views));
}));
server.listen(0, '127.0.0.1', async () => {
  const url = 'http://127.0.0.1:' + server.address().port + '/';
  const first = await fetch(url);
  const cookie = String(first.headers.get('set-cookie')).split(';')[0];
  const second = await fetch(url, { headers: { cookie } });
  console.log(JSON.stringify({ callable: typeof session, same: named === session && session.session === session && session.sessionOf === sessionOf, views: [await first.text(), await second.text()], signed: /^connect\\.sid=s(:|%3A)/.test(cookie) }));
  server.close();
  await mw.close();
});
`;

const COMPAT_OUTPUT = { callable: 'function', same: true, views: ['1', '2'], signed: true };

/** The same in strict TypeScript: types of the default export, the named exports and the option and session types. */
const compatTs = (imports: string) => `${imports}
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

const options: ExpressSessionOptions = { secret: 'package test secret', saveUninitialized: false, cookie: { maxAge: 60_000 } };
const mw: ExpressSessionMiddleware = session(options);
const again: ExpressSessionMiddleware = named({ secret: 'other' });
void again.close();
const server = http.createServer((req, res) => mw(req, res, (err?: unknown) => {
  if (err) { res.statusCode = 500; res.end(String(err)); return; }
  const s: CompatSession = sessionOf(req);
  s['views'] = (Number(s['views']) || 0) + 1;
  const age: number | null = s.cookie.maxAge;
  s.save((saveErr?: unknown) => res.end(saveErr === undefined && age !== 0 ? String(s['views']) : 'failed'));
}));
server.listen(0, '127.0.0.1', () => {
  void (async () => {
    const url = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}/\`;
    const first = await fetch(url);
    const cookie = String(first.headers.get('set-cookie')).split(';')[0] ?? '';
    const second = await fetch(url, { headers: { cookie } });
    console.log(JSON.stringify({ callable: typeof session, same: named === session && session.session === session && session.sessionOf === sessionOf, views: [await first.text(), await second.text()], signed: /^connect\\.sid=s(:|%3A)/.test(cookie) }));
    server.close();
    await mw.close();
  })();
});
`;

const COMPAT_TS_TYPES = 'type CompatSession, type ExpressSessionMiddleware, type ExpressSessionOptions';
/** The compat module and its types through a default import (and named ones). */
const COMPAT_TS_DEFAULT = `import session, { session as named, sessionOf, ${COMPAT_TS_TYPES} } from 'sessionware/express-session';`;
/** The same through `import = require()` (a CommonJS export assignment). */
const COMPAT_TS_REQUIRE = `import session = require('sessionware/express-session');
import named = session.session;
import sessionOf = session.sessionOf;
type CompatSession = session.CompatSession;
type ExpressSessionMiddleware = session.ExpressSessionMiddleware;
type ExpressSessionOptions = session.ExpressSessionOptions;`;

/** One strict TypeScript app per resolution mode: its package type and compiler options. */
const TS_APPS = {
  node16: { type: 'module', compilerOptions: { module: 'Node16', moduleResolution: 'Node16' } },
  nodenext: { type: 'commonjs', compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } },
  bundler: { type: 'module', compilerOptions: { module: 'Preserve', moduleResolution: 'Bundler' } },
  node10: { type: 'commonjs', compilerOptions: { module: 'CommonJS', moduleResolution: 'Node10' } },
} as const;

/** The compat app per TypeScript setting: how it imports the module, in what kind of package. */
const COMPAT_TS_APPS = {
  'nodenext, ES module, default import': { type: 'module', compilerOptions: TS_APPS.nodenext.compilerOptions, imports: COMPAT_TS_DEFAULT },
  'nodenext, CommonJS, import = require()': { ...TS_APPS.nodenext, imports: COMPAT_TS_REQUIRE },
  'nodenext, CommonJS, default import': { ...TS_APPS.nodenext, imports: COMPAT_TS_DEFAULT },
  'bundler, default import': { ...TS_APPS.bundler, imports: COMPAT_TS_DEFAULT },
  'node10, CommonJS, import = require()': { ...TS_APPS.node10, imports: COMPAT_TS_REQUIRE },
} as const;

let packed: Packed;

beforeAll(async () => {
  packed = await packTarball();
}, 180_000);

afterAll(async () => {
  await packed?.remove();
});

describe('npm pack', () => {
  it('should build first (prepack) and ship the JavaScript and declarations of every lib/ module', () => {
    expect(pkg['scripts']).toMatchObject({ prepack: 'npm run build' });
    const files = new Set(packed.pack.files.map((f) => f.path));
    const expected = libSources().flatMap((ts) => builtFrom(ts).map((f) => `dist/${f}`));
    expect(expected.filter((f) => !files.has(f))).toEqual([]);
    for (const f of ['package.json', 'README.md', 'LICENSE']) expect(files).toContain(f);
  });

  it('should ship nothing but dist/, the README, the LICENSE and package.json: no tests, bench, sources or source maps', () => {
    const shipped = (f: string): boolean => ['package.json', 'README.md', 'LICENSE'].includes(f) || /^dist\/[\w/.-]+(?<!\.test)\.(m?js|d\.m?ts)$/.test(f);
    expect(packed.pack.files.map((f) => f.path).filter((f) => !shipped(f))).toEqual([]);
    // Stack traces name files that exist: the JavaScript in dist/, not unshipped sources.
    expect(packed.pack.files.filter((f) => f.path.endsWith('.map'))).toEqual([]);
    expect(packed.pack.files.length).toBe(packed.pack.entryCount);
  });

  it('should point every entry point of package.json at a shipped file, for require, import and node10 types', () => {
    const files = new Set(packed.pack.files.map((f) => f.path));
    const targets: string[] = [pkg['main'] as string, pkg['types'] as string];
    type Target = string | { [condition: string]: Target };
    const leaves = (t: Target): string[] => (typeof t === 'string' ? [t] : Object.values(t).flatMap(leaves));
    for (const entry of Object.values(pkg['exports'] as Record<string, Target>)) targets.push(...leaves(entry));
    for (const paths of Object.values((pkg['typesVersions'] as Record<string, Record<string, string[]>>)['*'] ?? {})) targets.push(...paths);
    expect(targets.map((t) => t.replace(/^\.\//, '')).filter((t) => !files.has(t))).toEqual([]);
    expect(Object.keys((pkg['typesVersions'] as Record<string, Record<string, string[]>>)['*'] ?? {}).sort()).toEqual(
      Object.keys(pkg['exports'] as object).filter((k) => k !== '.' && k !== './package.json').map((k) => k.slice(2)).sort(),
    );
  });

  it('should name its MIT license, repository, homepage and issue tracker', async () => {
    expect(pkg['license']).toBe('MIT');
    expect(await readFile(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} sessionware contributors\n/);
    expect(pkg['repository']).toEqual({ type: 'git', url: 'git+https://github.com/sessionware/sessionware.git' });
    expect(pkg['homepage']).toBe('https://github.com/sessionware/sessionware#readme');
    expect(pkg['bugs']).toEqual({ url: 'https://github.com/sessionware/sessionware/issues' });
  });

  it("should link from the README only to shipped files or absolute URLs (links work on the registry's page)", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const files = new Set(packed.pack.files.map((f) => f.path));
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.length).toBeGreaterThan(0);
    const broken = links.filter((l) => !/^https:\/\//.test(l) && !l.startsWith('#') && !files.has(l.replace(/^\.\//, '').replace(/#.*$/, '')));
    expect(broken).toEqual([]);
  });

  it('should have types that are right in every resolution mode (@arethetypeswrong/cli)', async () => {
    const attw = join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const out = await run(process.execPath, [attw, packed.tarball, '--format', 'json'], packed.dir);
    const report = JSON.parse(out) as {
      problems: Record<string, unknown> | unknown[];
      analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName?: string } }> }> };
    };
    expect(report.problems).toEqual(Array.isArray(report.problems) ? [] : {});
    const entrypoints = report.analysis.entrypoints;
    const subpaths = Object.keys(pkg['exports'] as object).filter((k) => k !== './package.json');
    expect(Object.keys(entrypoints).sort()).toEqual([...subpaths, './package.json'].sort());
    for (const subpath of subpaths) {
      const modes = entrypoints[subpath]?.resolutions ?? {};
      expect(Object.keys(modes).sort()).toEqual(['bundler', 'node10', 'node16-cjs', 'node16-esm']);
      for (const [mode, { resolution }] of Object.entries(modes)) expect([subpath, mode, resolution?.fileName]).toEqual([subpath, mode, expect.stringMatching(/\/dist\/.+\.d\.m?ts$/)]);
    }
  }, 60_000);
});

describe('installed from the tarball', () => {
  let apps: string;

  beforeAll(async () => {
    // Tools come from this repository; sessionware and its dependencies come from the tarball.
    apps = await installTarball(packed, ['typescript', '@types/node', 'ioredis', 'memcache-client', 'express', '@types/express', 'redis', 'connect-redis', 'express-session', 'pg', '@types/pg', 'mysql2']);
  }, 180_000);

  it('should run a session round trip from a CommonJS app (require)', async () => {
    const dir = join(apps, 'cjs');
    await writeFiles(dir, {
      'package.json': JSON.stringify({ type: 'commonjs' }),
      'main.js': roundTripJs(REQUIRES),
    });
    expect(JSON.parse(await run(process.execPath, ['main.js'], dir))).toEqual(ROUND_TRIP_OUTPUT);
  });

  it('should load no optional client (ioredis, memcache-client, pg, mysql2) from the main entry', async () => {
    const dir = join(apps, 'cjs');
    const script = "require('sessionware'); console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /node_modules[\\\\/](ioredis|memcache-client|pg|mysql2)[\\\\/]/.test(f))))";
    expect(JSON.parse(await run(process.execPath, ['-e', script], dir))).toEqual([]);
  });

  it('should name only files that exist in stack traces, also with --enable-source-maps', async () => {
    const dir = join(apps, 'stack');
    await writeFiles(dir, {
      'main.js': `const { Manager, MemoryStorage } = require('sessionware');
try {
  new Manager({ storage: new MemoryStorage(), ttl: -1 });
} catch (err) {
  console.log(JSON.stringify({ name: err.name, stack: err.stack }));
}`,
    });
    const { name, stack } = JSON.parse(await run(process.execPath, ['--enable-source-maps', 'main.js'], dir)) as { name: string; stack: string };
    expect(name).toBe('SessionOptionsError');
    const frames = [...stack.matchAll(/\(?(\/[^\s()]+\/node_modules\/sessionware\/[^\s():]+):\d+:\d+\)?/g)].map((m) => m[1] ?? '');
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.filter((file) => !file.endsWith('.js') || !existsSync(file))).toEqual([]);
  });

  it('should run a session round trip from an ES module app (import), with every named export that require() sees', async () => {
    const dir = join(apps, 'esm');
    await writeFiles(dir, {
      'package.json': JSON.stringify({ type: 'module' }),
      'main.js': roundTripJs(IMPORTS),
      'exports.js': `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const out = {};
for (const name of ['sessionware', 'sessionware/redis', 'sessionware/express-session', 'sessionware/testing']) {
  const esm = Object.keys(await import(name)).filter((k) => !['default', 'module.exports', '__esModule'].includes(k)).sort();
  out[name] = { esm, cjs: Object.keys(require(name)).filter((k) => k !== 'default').sort() }; // a CJS default export is ESM's default
}
console.log(JSON.stringify(out));`,
    });
    expect(JSON.parse(await run(process.execPath, ['main.js'], dir))).toEqual(ROUND_TRIP_OUTPUT);
    const exported = JSON.parse(await run(process.execPath, ['exports.js'], dir)) as Record<string, { esm: string[]; cjs: string[] }>;
    for (const [name, { esm, cjs }] of Object.entries(exported)) {
      expect([name, esm]).toEqual([name, cjs]);
      expect(cjs.length).toBeGreaterThan(0);
    }
  });

  it.each(Object.keys(TS_APPS) as Array<keyof typeof TS_APPS>)(
    'should type-check (strict, lib check on) and run a TypeScript app under moduleResolution %s',
    async (mode) => {
      const { type, compilerOptions } = TS_APPS[mode];
      const dir = join(apps, `ts-${mode}`);
      await writeFiles(dir, {
        'package.json': JSON.stringify({ type }),
        'tsconfig.json': JSON.stringify({ compilerOptions: { ...STRICT, ...compilerOptions, outDir: 'out', rootDir: '.' }, include: ['main.ts'] }),
        'main.ts': ROUND_TRIP_TS,
      });
      await typeCheck(dir, true);
      expect(JSON.parse(await run(process.execPath, ['out/main.js'], dir))).toEqual(ROUND_TRIP_OUTPUT);
    },
    60_000,
  );

  it('should give express-session users a callable module: require() in CommonJS', async () => {
    const dir = join(apps, 'compat-cjs');
    await writeFiles(dir, {
      'package.json': JSON.stringify({ type: 'commonjs' }),
      'main.js': compatJs(`'use strict';
const session = require('sessionware/express-session');
const { session: named, sessionOf } = require('sessionware/express-session');`),
    });
    expect(JSON.parse(await run(process.execPath, ['main.js'], dir))).toEqual(COMPAT_OUTPUT);
  });

  it('should give express-session users a callable module: the default import in an ES module', async () => {
    const dir = join(apps, 'compat-esm');
    await writeFiles(dir, {
      'package.json': JSON.stringify({ type: 'module' }),
      'main.js': compatJs(`import { createRequire } from 'node:module';
import session, { session as named, sessionOf } from 'sessionware/express-session';
const require = createRequire(import.meta.url);
if (require('sessionware/express-session') !== session) throw new Error('import and require() see different functions');`),
    });
    expect(JSON.parse(await run(process.execPath, ['main.js'], dir))).toEqual(COMPAT_OUTPUT);
  });

  it.each(Object.keys(COMPAT_TS_APPS) as Array<keyof typeof COMPAT_TS_APPS>)(
    'should type-check (strict, lib check on) and run sessionware/express-session under %s',
    async (mode) => {
      const { type, compilerOptions, imports } = COMPAT_TS_APPS[mode];
      const dir = join(apps, `compat-ts-${mode.replace(/[^a-z0-9]+/gi, '-')}`);
      await writeFiles(dir, {
        'package.json': JSON.stringify({ type }),
        'tsconfig.json': JSON.stringify({ compilerOptions: { ...STRICT, ...compilerOptions, outDir: 'out', rootDir: '.' }, include: ['main.ts'] }),
        'main.ts': compatTs(imports),
      });
      await typeCheck(dir, true);
      expect(JSON.parse(await run(process.execPath, ['out/main.js'], dir))).toEqual(COMPAT_OUTPUT);
    },
    60_000,
  );

  it('should type-check every ```ts block of README.md against the package (strict, node16 ES modules)', async () => {
    const blocks = await tsBlocks(join(ROOT, 'README.md'));
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const dir = join(apps, 'readme');
    const files: Record<string, string> = {
      'package.json': JSON.stringify({ type: 'module' }),
      // skipLibCheck: third-party declarations (connect-redis wants @types/express-session) are not what is checked here.
      'tsconfig.json': JSON.stringify({ compilerOptions: { ...STRICT, skipLibCheck: true, module: 'Node16', moduleResolution: 'Node16', noEmit: true }, include: ['*.ts'] }),
      // What the snippets take from around them: a WebSocket handshake's id, a third-party storage.
      'context.d.ts': 'declare const idFromWebSocketHandshake: string | undefined;\n',
      'my-storage.ts': "import { MemoryStorage } from 'sessionware';\nexport class MyStorage extends MemoryStorage {}\n",
    };
    blocks.forEach((code, i) => (files[`snippet-${i + 1}.ts`] = code.includes('import ') || code.includes('export ') ? code : `${code}\nexport {};\n`));
    await writeFiles(dir, files);
    await typeCheck(dir);
  }, 60_000);
});

/**
 * The published shape: `npm run build` emits JS + .d.ts, and the package loads by name through
 * both `require` and `import` (the package resolves itself through its `exports`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });

describe('npm run build', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT });
  }, 120_000);

  it('should emit declarations next to the JavaScript', () => {
    for (const file of ['index.js', 'index.d.ts', 'redis.js', 'redis.d.ts', 'postgres.js', 'postgres.d.ts', 'mysql.js', 'mysql.d.ts']) expect(existsSync(join(ROOT, 'dist', file))).toBe(true);
  });

  it('should load with require()', () => {
    const out = node(['-e', "const s = require('sessionware'); console.log(typeof s.session, typeof s.MemoryStorage, typeof s.Manager, typeof s.FileStorage, typeof require('sessionware/redis').RedisStorage)"]);
    expect(out.trim()).toBe('function function function function function');
  });

  it('should load the SQL storages through their subpaths', () => {
    const out = node(['-e', "console.log(typeof require('sessionware/postgres').PostgresStorage, typeof require('sessionware/mysql').MysqlStorage)"]);
    expect(out.trim()).toBe('function function');
  });

  it('should not load pg or mysql2 from the main entry', () => {
    const out = node(['-e', "require('sessionware'); console.log(Object.keys(require.cache).some((f) => /node_modules[\\/](pg|mysql2)[\\/]/.test(f)))"]);
    expect(out.trim()).toBe('false');
  });

  it('should load with import', () => {
    const out = node(['--input-type=module', '-e', "import { session, Session } from 'sessionware'; import { RedisHashStorage } from 'sessionware/redis'; console.log(typeof session, typeof Session, typeof RedisHashStorage)"]);
    expect(out.trim()).toBe('function function function');
  });
});

/**
 * Jest's node environment, with a private OS temp dir per test file: `TMPDIR` points at a fresh
 * `<tmpdir>/sessionware-jest-*` while the file runs (child processes inherit it), and when the file
 * is done the environment fails it if anything it created is still there, then removes the dir.
 * So tests clean up after themselves, and never touch the real `<tmpdir>/sessionware` that a
 * running demo uses.
 *
 * Allowed to remain (removed with the dir): `sessionware`, the default FileStorage's directory,
 * which `session()` and `Manager` create when given no storage, and tsx's compile cache.
 */
const { chmodSync, mkdtempSync, readdirSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, relative } = require('node:path');
const { TestEnvironment } = require('jest-environment-node');

const ALLOWED = /^(sessionware|tsx-\d+)$/;
const VARS = ['TMPDIR', 'TMP', 'TEMP'];

class TempDirEnvironment extends TestEnvironment {
  constructor(config, context) {
    const saved = Object.fromEntries(VARS.map((name) => [name, process.env[name]]));
    const dir = mkdtempSync(join(tmpdir(), `sessionware-jest-${process.env.SESSIONWARE_JEST_RUN ?? 'x'}-`));
    // Searchable, not listable, by others: the private PostgreSQL and MariaDB servers of the SQL
    // outage tests run as the `postgres` and `mysql` users in directories below it.
    chmodSync(dir, 0o711);
    for (const name of VARS) process.env[name] = dir; // os.tmpdir() in tests and children
    super(config, context);
    for (const name of VARS) this.global.process.env[name] = dir; // `process.env` as tests see it
    this.tempDir = dir;
    this.savedEnv = saved;
    this.testFile = relative(config.projectConfig.rootDir, context.testPath);
  }

  async teardown() {
    await super.teardown();
    for (const [name, value] of Object.entries(this.savedEnv)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    const left = readdirSync(this.tempDir).filter((name) => !ALLOWED.test(name));
    rmSync(this.tempDir, { recursive: true, force: true });
    if (left.length > 0) {
      throw new Error(`${this.testFile} left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the OS temp dir: ${left.join(', ')}. Remove what a test creates (afterEach/afterAll, or when its child process exits).`);
    }
  }
}

module.exports = TempDirEnvironment;

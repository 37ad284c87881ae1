/**
 * jest globalSetup / globalTeardown: with `CI` set, fails the run if it left new `sessionware*`
 * entries in the real OS temp dir (what a test created there without going through `os.tmpdir()`,
 * which test/helpers/temp-dir-environment.js redirects per test file). Off on developer machines,
 * whose temp dir other processes share.
 */
const { readdirSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
const { tmpdir } = require('node:os');

const PREFIX = 'sessionware';
// Per-file temp dirs carry this run's token: other jest runs on the machine (their own per-file
// dirs) are not this run's leftovers.
const run = (process.env.SESSIONWARE_JEST_RUN ??= randomBytes(6).toString('hex'));
const ours = (name) => !name.startsWith(`${PREFIX}-jest-`) || name.startsWith(`${PREFIX}-jest-${run}-`);
const listed = () => readdirSync(tmpdir()).filter((name) => name.startsWith(PREFIX) && ours(name));
const enabled = () => Boolean(process.env.CI) && process.env.CI !== 'false';

async function setup() {
  globalThis.__SESSIONWARE_TMP_BEFORE__ = new Set(listed());
}

async function teardown() {
  const before = globalThis.__SESSIONWARE_TMP_BEFORE__ ?? new Set();
  const left = listed().filter((name) => !before.has(name));
  if (left.length === 0) return;
  const message = `the test run left ${left.length} new entr${left.length === 1 ? 'y' : 'ies'} in ${tmpdir()}: ${left.join(', ')}`;
  if (enabled()) throw new Error(message);
  process.stderr.write(`warning: ${message} (an error with CI=true; other processes may share this temp dir)\n`);
}

module.exports = { setup, teardown };

/**
 * The lock protocol of FileStorage on its own: mutual exclusion across processes (a counter
 * incremented by read-modify-write under the lock loses nothing), also while a holder is killed
 * and its lock broken, and within one process across lock instances and the sweep's tryAcquire.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLocks } from '../../lib/storage/file/file-lock';
import { libPath, runScript, startScript, waitFor } from '../helpers/child';

const LOCKS = JSON.stringify(libPath('storage/file/file-lock.ts'));
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sessionware-file-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A child that increments the number in `counter` `times` times, each under the lock of `target`. */
const incrementer = (times: number) => `
  const { FileLocks } = require(${LOCKS});
  const { readFile, writeFile } = require('node:fs/promises');
  const [target, counter] = process.argv.slice(2);
  const locks = new FileLocks({ stale: 60000, retries: 100000, minWait: 1, maxWait: 10 }, (err) => console.error('compromised', err.message));
  (async () => {
    for (let i = 0; i < ${times}; i++) {
      const release = await locks.acquire(target);
      const n = Number(await readFile(counter, 'utf8'));
      await new Promise((resolve) => setImmediate(resolve));
      await writeFile(counter, String(n + 1));
      await release();
    }
    console.log('done');
  })().catch((err) => { console.error('FAILED', err.message); process.exit(1); });
`;

it('should exclude each other across three processes: no increment is lost', async () => {
  const [target, counter] = [join(dir, 'session'), join(dir, 'counter')];
  await writeFile(counter, '0');
  const results = await Promise.all([1, 2, 3].map(() => runScript(incrementer(100), { args: [target, counter], timeoutMs: 60_000 })));
  for (const r of results) expect({ code: r.code, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'done' });
  expect(await readFile(counter, 'utf8')).toBe('300');
});

it('should hand a killed holder\'s lock to exactly one waiter at a time', async () => {
  const [target, counter] = [join(dir, 'session'), join(dir, 'counter')];
  await writeFile(counter, '0');
  const workers = [1, 2].map(() => runScript(incrementer(150), { args: [target, counter], timeoutMs: 60_000 }));
  for (let kill = 0; kill < 4; kill++) {
    // A holder that never releases: only its death (seen by pid) frees the lock, lockStale is 60 s.
    const victim = startScript(`
      const { FileLocks } = require(${LOCKS});
      new FileLocks({ stale: 60000, retries: 100000, minWait: 1, maxWait: 10 }, () => {}).acquire(process.argv[2]).then(() => console.log('holding'));
      setInterval(() => {}, 1000);
    `, [target]);
    const done = waitFor(victim, 30_000);
    await new Promise<void>((resolve) => victim.stdout?.on('data', (d: Buffer) => d.toString().includes('holding') && resolve()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    victim.kill('SIGKILL');
    await done;
  }
  const results = await Promise.all(workers);
  for (const r of results) expect({ code: r.code, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'done' });
  expect(await readFile(counter, 'utf8')).toBe('300');
});

it('should exclude two lock instances and tryAcquire within one process', async () => {
  const target = join(dir, 'session');
  const timing = { stale: 60_000, retries: 100_000, minWait: 1, maxWait: 5 };
  const [a, b] = [new FileLocks(timing, (err) => { throw err; }), new FileLocks(timing, (err) => { throw err; })];
  let inside = 0;
  let maxInside = 0;
  const critical = async () => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    await new Promise((resolve) => setImmediate(resolve));
    inside--;
  };
  await Promise.all([
    ...Array.from({ length: 300 }, async (_, i) => {
      const release = await (i % 2 ? a : b).acquire(target);
      await critical();
      await release();
    }),
    ...Array.from({ length: 300 }, async () => {
      const release = await a.tryAcquire(target);
      if (release === undefined) return;
      await critical();
      await release();
    }),
  ]);
  expect(maxInside).toBe(1);
});

it('should exclude worker threads of one process (same pid) from each other', async () => {
  const [target, counter] = [join(dir, 'session'), join(dir, 'counter')];
  await writeFile(counter, '0');
  const result = await runScript(`
    const { Worker } = require('node:worker_threads');
    const source = "require('tsx/cjs');" + ${JSON.stringify(incrementer(100))};
    const run = () => new Promise((resolve, reject) => {
      const worker = new Worker(source, { eval: true, argv: process.argv.slice(2), stdout: true });
      let out = '';
      worker.stdout.on('data', (d) => (out += d));
      worker.on('error', reject);
      worker.on('exit', (code) => (code === 0 && out.includes('done') ? resolve() : reject(new Error('worker exited ' + code + ' ' + out))));
    });
    Promise.all([run(), run(), run()]).then(() => console.log('all done'), (err) => { console.error(err.message); process.exit(1); });
  `, { args: [target, counter], timeoutMs: 60_000 });
  expect({ code: result.code, stderr: result.stderr, stdout: result.stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'all done' });
  expect(await readFile(counter, 'utf8')).toBe('300');
});

/**
 * FileStorage across real processes: SIGKILL mid-write, several writers on one session, a removal
 * racing writers, timers that must not keep a process alive.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateId, type StorageError } from 'sessionware';
import { FileStorage } from '../../lib/storage/file/file-storage';
import { libPath, runScript, startScript, waitFor } from '../helpers/child';

const HOUR = 3_600_000;
const LOCK = { lockStale: 2000 } as const; // one stale setting for every process in these tests
const FILE = JSON.stringify(libPath('storage/file/file-storage.ts'));
const one = (key: string, value: unknown) => ({ set: new Map([[key, JSON.stringify(value)]]), removed: new Set<string>() });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sessionware-file-proc-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A child script that builds a storage on argv[2] (options JSON in argv[3]) and runs `body`. */
const script = (body: string) => `
  const { FileStorage } = require(${FILE});
  const [dir, options, ...rest] = process.argv.slice(2);
  const storage = new FileStorage(dir, { ...JSON.parse(options), onError: (e) => console.error('onError', e.code) });
  const one = (key, value) => ({ set: new Map([[key, JSON.stringify(value)]]), removed: new Set() });
  (async () => { ${body} })().catch((err) => { console.error('FAILED', err && err.code, err && err.message); process.exit(1); });
`;

describe('FileStorage across processes', () => {
  it('should leave every file whole when a writer is killed with SIGKILL', async () => {
    const ids = Array.from({ length: 8 }, () => generateId());
    const child = startScript(script(`
      for (const id of rest) await storage.setSession(id, one('v', 0), ${HOUR}, { create: true });
      console.log('ready');
      const big = 'x'.repeat(200_000);
      for (let i = 1; ; i++) {
        await Promise.all(rest.map((id) => storage.setSession(id, one('v', { i, big }), ${HOUR}, { create: false })));
      }
    `), [dir, JSON.stringify(LOCK), ...ids]);
    const done = waitFor(child, 30_000);
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    child.kill('SIGKILL');
    const result = await done;
    expect(result.signal).toBe('SIGKILL');

    const errors: StorageError[] = [];
    const storage = new FileStorage(dir, { ...LOCK, onError: (e) => errors.push(e) });
    for (const id of ids) {
      const record = await storage.getSession(id, HOUR);
      expect(record?.has('v')).toBe(true);
    }
    expect(errors).toEqual([]);
    // Locks the dead writer left behind go stale and are broken: writes still succeed.
    await Promise.all(ids.map(async (id) => expect(await storage.setSession(id, one('after', true), HOUR, { create: false })).toBe(true)));
    expect(errors).toEqual([]);
    await storage.close();
  });

  it('should keep every change of two processes writing disjoint keys of one session', async () => {
    const id = generateId();
    const storage = new FileStorage(dir, LOCK);
    await storage.setSession(id, one('base', true), HOUR, { create: true });
    const writer = (name: string) => runScript(script(`
      for (let i = 0; i < 50; i++) {
        const ok = await storage.setSession(rest[0], one('${name}' + i, i), ${HOUR}, { create: false });
        if (!ok) throw new Error('write dropped');
      }
      console.log('done');
    `), { args: [dir, JSON.stringify(LOCK), id], timeoutMs: 30_000 });
    const results = await Promise.all([writer('a'), writer('b')]);
    for (const r of results) expect({ code: r.code, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'done' });
    const record = await storage.getSession(id, HOUR);
    expect(record?.size).toBe(101);
    for (let i = 0; i < 50; i++) {
      expect(record?.get(`a${i}`)).toBe(String(i));
      expect(record?.get(`b${i}`)).toBe(String(i));
    }
    await storage.close();
  });

  it('should keep a session removed while other processes write to it', async () => {
    const id = generateId();
    const storage = new FileStorage(dir, LOCK);
    await storage.setSession(id, one('user', 'alice'), HOUR, { create: true });
    // Each writer writes until a write is dropped, then checks that later writes stay dropped.
    const writer = (name: string) => {
      const child = startScript(script(`
        let i = 0;
        console.log('started');
        while (await storage.setSession(rest[0], one('${name}' + i, i), ${HOUR}, { create: false })) {
          if (++i > 5000) throw new Error('never saw the removal');
        }
        for (let j = 0; j < 10; j++) {
          if (await storage.setSession(rest[0], one('late${name}' + j, j), ${HOUR}, { create: false })) throw new Error('resurrected');
          await storage.updateTTL(rest[0], ${HOUR});
        }
        await storage.close();
        console.log('dropped after', i);
      `), [dir, JSON.stringify(LOCK), id]);
      const done = waitFor(child, 30_000);
      const started = new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('started') && resolve()));
      return { done, started };
    };
    const writers = [writer('a'), writer('b')];
    await Promise.all(writers.map((w) => w.started));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await expect(storage.removeAll(id)).resolves.toBe(true);
    const results = await Promise.all(writers.map((w) => w.done));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('dropped after');
    }
    await expect(storage.getSession(id, HOUR)).resolves.toBeUndefined();
    const shard = await readdir(join(dir, id.charAt(0), id.charAt(1)));
    expect(shard).toEqual([]); // no file, no lock, no temp file
    await storage.close();
  });

  it('should not keep the process alive with its timers', async () => {
    const started = Date.now();
    const result = await runScript(script(`
      await storage.setSession('abcdefgh', one('a', 1), ${HOUR}, { create: true });
      await storage.updateTTL('abcdefgh', ${HOUR}); // queued for the 10 s batch
      console.log('stored');
    `), { args: [dir, JSON.stringify({ updateTTLInterval: 10_000, clearExpiredInterval: 60_000 })], timeoutMs: 15_000 });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('stored');
    expect(Date.now() - started).toBeLessThan(9_000);
  });
});

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
const LOCKS = JSON.stringify(libPath('storage/file/file-lock.ts'));
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

  it('should not make the next write wait for lockStale after a holder was killed', async () => {
    const id = generateId();
    // lockStale 60 s, and at most 3 short waits: only recognising the dead owner can get the lock.
    const options = { lockStale: 60_000, lockRetries: 3, lockRetryMinWait: 5, lockRetryMaxWait: 10 };
    const storage = new FileStorage(dir, options);
    await storage.setSession(id, one('user', 'alice'), HOUR, { create: true });
    const file = join(dir, id.charAt(0), id.charAt(1), id);
    const child = startScript(`
      const { FileLocks, processScope } = require(${LOCKS});
      const { writeFileSync } = require('node:fs');
      const [file, id] = process.argv.slice(2);
      new FileLocks({ stale: 60000, retries: 0, minWait: 5, maxWait: 5 }, () => {}).acquire(file).then(() => {
        // what a writer killed mid-write leaves: its lock and its temp file
        writeFileSync(file.slice(0, -id.length) + '.' + id + '.' + process.pid + '-' + processScope() + '.0badc0de.tmp', 'partial');
        console.log('locked');
        setInterval(() => {}, 1000);
      });
    `, [file, id]);
    const done = waitFor(child, 30_000);
    await new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('locked') && resolve()));
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    expect((await readdir(join(dir, id.charAt(0), id.charAt(1)))).sort()).toHaveLength(3); // file, lock, temp

    await expect(storage.setSession(id, one('after', true), HOUR, { create: false })).resolves.toBe(true);
    await storage.sweep();
    expect(await readdir(join(dir, id.charAt(0), id.charAt(1)))).toEqual([id]); // the temp file is gone too
    await storage.close();
  });

  it('should count every increment of two processes racing compareAndSet on one key', async () => {
    const id = generateId();
    const storage = new FileStorage(dir, LOCK);
    await storage.setSession(id, one('n', 0), HOUR, { create: true });
    const incrementer = () => runScript(script(`
      let conflicts = 0;
      for (let i = 0; i < 40; i++) {
        for (;;) {
          const current = (await storage.getSession(rest[0], ${HOUR})).get('n');
          const result = await storage.compareAndSet(rest[0], 'n', current, String(Number(current) + 1), ${HOUR}, { create: false });
          if (result === 'ok') break;
          if (result !== 'conflict') throw new Error(result);
          conflicts++;
        }
      }
      console.log('done');
    `), { args: [dir, JSON.stringify(LOCK), id], timeoutMs: 60_000 });
    const results = await Promise.all([incrementer(), incrementer()]);
    for (const r of results) expect({ code: r.code, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'done' });
    expect((await storage.getSession(id, HOUR))?.get('n')).toBe('80');
    await storage.close();
  });

  it('should let exactly one of two processes moving the same session win', async () => {
    const storage = new FileStorage(dir, LOCK);
    for (let round = 0; round < 5; round++) {
      const [oldId, a, b] = [generateId(), generateId(), generateId()];
      await storage.setSession(oldId, one('user', 'alice'), HOUR, { create: true });
      const mover = (newId: string) => runScript(script(`
        const moved = await storage.moveSession(rest[0], rest[1], one('by', rest[1]), ${HOUR}, { keep: undefined, forwardTTL: 60000 });
        console.log(moved ? 'moved' : 'lost');
      `), { args: [dir, JSON.stringify(LOCK), oldId, newId], timeoutMs: 30_000 });
      const results = await Promise.all([mover(a), mover(b)]);
      for (const r of results) expect(r.stderr).toBe('');
      expect(results.map((r) => r.stdout.trim()).sort()).toEqual(['lost', 'moved']);
      const winner = results[0]?.stdout.includes('moved') ? a : b;
      const loser = winner === a ? b : a;
      expect(Object.fromEntries((await storage.getSession(winner, HOUR)) ?? [])).toEqual({ user: '"alice"', by: JSON.stringify(winner) });
      await expect(storage.getSession(loser, HOUR)).resolves.toBeUndefined();
      await expect(storage.getSession(oldId, HOUR)).resolves.toBeUndefined();
      await expect(storage.setSession(oldId, one('late', 1), HOUR, { create: false })).resolves.toBe(true);
      expect((await storage.getSession(winner, HOUR))?.get('late')).toBe('1');
    }
    await storage.close();
  });

  it('should land every write of another process in the new session while the session moves', async () => {
    const [oldId, newId] = [generateId(), generateId()];
    const storage = new FileStorage(dir, LOCK);
    await storage.setSession(oldId, one('user', 'alice'), HOUR, { create: true });
    const child = startScript(script(`
      console.log('started');
      for (let i = 0; i < 60; i++) {
        if (!(await storage.setSession(rest[0], one('w' + i, i), ${HOUR}, { create: false }))) throw new Error('write ' + i + ' dropped');
      }
      console.log('done');
    `), [dir, JSON.stringify(LOCK), oldId]);
    const done = waitFor(child, 30_000);
    await new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('started') && resolve()));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const moved = await storage.moveSession(oldId, newId, one('login', true), HOUR, { keep: undefined, forwardTTL: 60_000 });
    expect(moved?.get('user')).toBe('"alice"');
    const result = await done;
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const record = await storage.getSession(newId, HOUR);
    for (let i = 0; i < 60; i++) expect(record?.get(`w${i}`)).toBe(String(i));
    expect(record?.get('login')).toBe('true');
    await storage.close();
  });

  it('should not deadlock two processes moving a session back and forth between two ids', async () => {
    const [x, y] = [generateId(), generateId()];
    const storage = new FileStorage(dir, LOCK);
    await storage.setSession(x, one('n', 0), HOUR, { create: true });
    const mover = (from: string, to: string) => runScript(script(`
      let moves = 0;
      for (let i = 0; i < 40; i++) {
        if (await storage.moveSession(rest[0], rest[1], one('n', i), ${HOUR}, { keep: undefined, forwardTTL: 60000 })) moves++;
      }
      console.log('moves', moves);
    `), { args: [dir, JSON.stringify(LOCK), from, to], timeoutMs: 40_000 });
    const results = await Promise.all([mover(x, y), mover(y, x)]);
    for (const r of results) expect({ timedOut: r.timedOut, code: r.code, stderr: r.stderr }).toEqual({ timedOut: false, code: 0, stderr: '' });
    const live = [await storage.getSession(x, HOUR), await storage.getSession(y, HOUR)].filter(Boolean);
    expect(live).toHaveLength(1);
    await storage.close();
  });

  it('should let a logout in one process win over a move in another: no session survives', async () => {
    const storage = new FileStorage(dir, LOCK);
    const rounds = Array.from({ length: 6 }, () => [generateId(), generateId()] as const);
    for (const [oldId] of rounds) await storage.setSession(oldId, one('user', 'alice'), HOUR, { create: true });
    const child = startScript(script(`
      console.log('ready');
      for (let i = 0; i < rest.length; i += 2) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await storage.moveSession(rest[i], rest[i + 1], one('login', true), ${HOUR}, { keep: undefined, forwardTTL: 60000 });
      }
      console.log('done');
    `), [dir, JSON.stringify(LOCK), ...rounds.flat()]);
    const done = waitFor(child, 30_000);
    await new Promise<void>((resolve) => child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    for (const [oldId] of rounds) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await storage.removeAll(oldId);
    }
    const result = await done;
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    // Moved after the logout: nothing was there to move. Moved before: the logout followed the forward.
    for (const [oldId, newId] of rounds) {
      await expect(storage.getSession(oldId, HOUR)).resolves.toBeUndefined();
      await expect(storage.getSession(newId, HOUR)).resolves.toBeUndefined();
    }
    await storage.close();
  });
});

/**
 * FileStorage's owner index beyond the contract suite: several processes adding to one owner at
 * once, the sweep, what the index files hold, and damaged or hostile index paths.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptSessionError, generateId } from 'sessionware';
import { FileStorage } from '../../lib/storage/file/file-storage';
import { libPath, runScript } from '../helpers/child';
import { TestClock } from '../helpers/clock';

const HOUR = 3_600_000;
const FILE = JSON.stringify(libPath('storage/file/file-storage.ts'));
const owned = (owner: string) => ({ set: new Map([['$sw:owner', JSON.stringify(owner)]]), removed: new Set<string>() });
const indexFile = (dir: string, owner: string) => join(dir, 'owners', createHash('sha256').update(owner, 'utf8').digest('hex'));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sessionware-file-owners-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileStorage owner index', () => {
  it('should keep every id when three processes add to one owner at once', async () => {
    const PER = 25;
    const child = `
      const { FileStorage } = require(${FILE});
      const { randomBytes } = require('node:crypto');
      const storage = new FileStorage(process.argv[2]);
      (async () => {
        await Promise.all(Array.from({ length: ${PER} }, async () => {
          const id = randomBytes(24).toString('base64url');
          await storage.addOwner('ada', id, ${HOUR});
          await storage.setSession(id, { set: new Map([['$sw:owner', '"ada"']]), removed: new Set() }, ${HOUR}, { create: true });
          console.log(id);
        }));
        await storage.close();
      })().catch((err) => { console.error('FAILED', err && err.code, err && err.message); process.exit(1); });
    `;
    const results = await Promise.all([0, 1, 2].map(() => runScript(child, { args: [dir], timeoutMs: 60_000 })));
    for (const r of results) expect(r.stderr).toBe('');
    const added = results.flatMap((r) => r.stdout.trim().split('\n'));
    expect(added).toHaveLength(3 * PER);
    const storage = new FileStorage(dir);
    const listed = (await storage.ownerSessions('ada')).map((o) => o.id).sort();
    expect(listed).toEqual(added.sort());
    await storage.close();
  }, 90_000);

  it('should keep ids and expiries in the index file, never the owner', async () => {
    const storage = new FileStorage(dir);
    const id = generateId();
    const owner = 'ada@example.com';
    await storage.addOwner(owner, id, HOUR);
    const text = await readFile(indexFile(dir, owner), 'utf8');
    expect(text).toMatch(new RegExp(`^SWO1\\n${id} \\d+\\n$`));
    expect(text).not.toContain('ada');
    await storage.close();
  });

  it('should prune dead ids and delete empty index files on sweep, leaving live ones', async () => {
    const clock = new TestClock();
    const storage = new FileStorage(dir, { now: clock.now });
    const [short, long, never] = [generateId(), generateId(), generateId()];
    await storage.addOwner('ada', short, 1000);
    await storage.setSession(short, owned('ada'), 1000, { create: true });
    await storage.addOwner('ada', long, HOUR);
    await storage.setSession(long, owned('ada'), HOUR, { create: true });
    await storage.addOwner('bob', never, 1000); // a login whose write never came
    clock.advance(5000);
    await storage.sweep();
    expect(await readFile(indexFile(dir, 'ada'), 'utf8')).toBe(`SWO1\n${long} ${clock.now() - 5000 + HOUR}\n`);
    expect((await readdir(join(dir, 'owners'))).sort()).toEqual([indexFile(dir, 'ada').slice(-64)]);
    await storage.close();
  });

  it('should reject a damaged index file with a CorruptSessionError instead of forgetting sessions', async () => {
    const storage = new FileStorage(dir);
    await storage.addOwner('ada', generateId(), HOUR);
    await writeFile(indexFile(dir, 'ada'), 'SWO1\nnot an entry\n');
    await expect(storage.ownerSessions('ada')).rejects.toThrow(CorruptSessionError);
    await expect(storage.addOwner('ada', generateId(), HOUR)).rejects.toThrow(/damaged.*remove it/);
    await storage.close();
  });

  it('should never follow a link planted as the index directory', async () => {
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o700 });
    const root = join(dir, 'root');
    const storage = new FileStorage(root);
    await symlink(elsewhere, join(root, 'owners'));
    await expect(storage.addOwner('ada', generateId(), HOUR)).rejects.toThrow(/never followed/);
    expect(await readdir(elsewhere)).toEqual([]);
    await storage.close();
  });
});

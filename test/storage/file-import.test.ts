/**
 * Importing sessionware has no side effects on the process (issue 11): no signal or exit
 * listeners, no patched `fs`. FileStorage's own lock protocol needs neither, so creating and using
 * a FileStorage adds none either. Checked in a fresh child process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libPath, runScript } from '../helpers/child';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sessionware-file-import-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('should add no process listeners and patch nothing on import, nor when a FileStorage is used', async () => {
  const result = await runScript(`
    const fs = require('node:fs');
    const listeners = () => Object.fromEntries(process.eventNames().map((name) => [String(name), process.listenerCount(name)]));
    const original = { close: fs.close, closeSync: fs.closeSync, open: fs.open, rename: fs.rename };
    const patched = () => Object.keys(original).filter((name) => fs[name] !== original[name]);
    const loaded = () => Object.keys(require.cache).filter((file) => /proper-lockfile|signal-exit|graceful-fs/.test(file));
    const before = listeners();
    // listeners added since \`before\` (the loader's own may go away meanwhile)
    const added = () => Object.entries(listeners()).filter(([name, count]) => count > (before[name] ?? 0)).map(([name]) => name);
    const lib = require(${JSON.stringify(libPath('index.ts'))});
    const afterImport = { added: added(), patched: patched(), loaded: loaded() };
    (async () => {
      const storage = new lib.FileStorage(process.argv[2], { updateTTLInterval: 60000 });
      const id = lib.generateId();
      await storage.setSession(id, { set: new Map([['a', '1']]), removed: new Set() }, 60000, { create: true });
      await storage.moveSession(id, lib.generateId(), { set: new Map(), removed: new Set() }, 60000, { keep: undefined, forwardTTL: 1000 });
      await storage.sweep();
      await storage.close();
      const afterUse = { added: added(), patched: patched(), loaded: loaded() };
      console.log(JSON.stringify({ afterImport, afterUse }));
    })();
  `, { args: [dir] });
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  const { afterImport, afterUse } = JSON.parse(result.stdout) as Record<string, unknown>;
  expect(afterImport).toEqual({ added: [], patched: [], loaded: [] });
  expect(afterUse).toEqual({ added: [], patched: [], loaded: [] });
});

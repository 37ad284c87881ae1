/**
 * A fresh temp directory for each test of the enclosing `describe` (or file), removed after it.
 *
 * @example
 * ```ts
 * const tmp = useTempDir('sessionware-owner-unit-');
 * it('stores files', () => new FileStorage(tmp.path));
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Registers `beforeEach` / `afterEach` making and removing a directory named `<prefix>XXXXXX` under the OS temp dir. */
export function useTempDir(prefix: string): { readonly path: string } {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return {
    get path() {
      if (dir === undefined) throw new Error('the temp dir is made before each test: use it inside one');
      return dir;
    },
  };
}

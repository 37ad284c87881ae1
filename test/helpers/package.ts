/**
 * The package as a user gets it: `npm pack` (which runs `prepack`, the build) into a temp dir,
 * then installed from that tarball into fresh apps, next to nothing from this repository but the
 * tools (TypeScript, type packages, ioredis) linked in from its node_modules.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = resolve(__dirname, '../..');
const exec = promisify(execFile);

/** What `npm pack --json` reports about the tarball. */
export interface PackResult {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly entryCount: number;
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>;
}

/** Output of a finished command; rejects with stdout and stderr in the message when it fails. */
export async function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await exec(file, [...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: err });
  }
}

/** A temp dir holding the packed tarball; `remove()` deletes it with everything installed from it. */
export interface Packed {
  readonly dir: string;
  readonly tarball: string;
  readonly pack: PackResult;
  remove(): Promise<void>;
}

/** `npm pack` of this repository into a fresh temp dir (the `prepack` script builds `dist/`). */
export async function packTarball(): Promise<Packed> {
  const dir = await mkdtemp(join(tmpdir(), 'sessionware-pack-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const out = await run('npm', ['pack', '--json', '--pack-destination', dir], ROOT, { npm_config_loglevel: 'error' });
    const [pack] = JSON.parse(out.slice(out.indexOf('['))) as PackResult[];
    if (!pack) throw new Error(`npm pack printed no result:\n${out}`);
    return { dir, tarball: join(dir, pack.filename), pack, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * Installs the tarball into `<dir>/apps` (a private root package: each app below it has its own
 * `package.json` and shares this `node_modules`), from the npm cache where it can. `links` are
 * packages linked in from this repository's node_modules (tools, not what is being tested).
 */
export async function installTarball(packed: Packed, links: readonly string[]): Promise<string> {
  const apps = join(packed.dir, 'apps');
  await mkdir(apps);
  await writeFile(join(apps, 'package.json'), JSON.stringify({ name: 'apps', private: true }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', packed.tarball], apps, { npm_config_loglevel: 'error' });
  for (const name of links) {
    const target = join(apps, 'node_modules', name);
    await mkdir(dirname(target), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), target, 'dir');
  }
  return apps;
}

/** Writes `files` (relative path → content) under `dir`. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

/** The fenced ```ts blocks of a Markdown file, in order. */
export async function tsBlocks(markdownFile: string): Promise<string[]> {
  const text = await readFile(markdownFile, 'utf8');
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

/** Runs `tsc -p <dir>` with the repository's TypeScript; rejects with the diagnostics. */
export function typeCheck(dir: string, emit = false): Promise<string> {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  return run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), ...(emit ? [] : ['--noEmit'])], dir);
}

/** The strictest settings this project uses, for the apps that stand in for users' projects. */
export const STRICT = {
  target: 'ES2022',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noImplicitReturns: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  noPropertyAccessFromIndexSignature: true,
  useUnknownInCatchVariables: true,
  forceConsistentCasingInFileNames: true,
  skipLibCheck: false,
} as const;

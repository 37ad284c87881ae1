/**
 * Runs TypeScript in a child Node process (through tsx), for tests that need a real second
 * process: timers that must not keep a process alive, SIGKILL mid-write, several writers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** Absolute path of a module under `lib/`, for `require()` inside child scripts. */
export function libPath(relative: string): string {
  return join(ROOT, 'lib', relative);
}

/**
 * Writes `source` to a temp `.ts` file and starts it under tsx; `args` reach `process.argv`. The
 * temp dir is removed when the child exits (or fails to start).
 */
export function startScript(source: string, args: string[] = [], nodeArgs: string[] = []): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'sessionware-child-'));
  const file = join(dir, 'script.ts');
  writeFileSync(file, source);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', file, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const cleanUp = (): void => rmSync(dir, { recursive: true, force: true });
  child.once('exit', cleanUp);
  child.once('error', cleanUp);
  return child;
}

/** What a finished child reported. */
export interface ScriptResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The child was killed because it outlived `timeoutMs`. */
  readonly timedOut: boolean;
}

/** Runs `source` to completion (killing it after `timeoutMs`). */
export function runScript(
  source: string,
  { args = [], nodeArgs = [], timeoutMs = 20_000 }: { args?: string[]; nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<ScriptResult> {
  const child = startScript(source, args, nodeArgs);
  return waitFor(child, timeoutMs);
}

/** Collects a child's output until it exits (killing it after `timeoutMs`). */
export function waitFor(child: ChildProcess, timeoutMs = 20_000): Promise<ScriptResult> {
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  return new Promise((resolvePromise) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A child process serving HTTP on 127.0.0.1. */
export interface ServedScript {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string;
  /** Sends SIGTERM and waits for the child to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `source`, which prints `port N` once it listens on 127.0.0.1 and exits on SIGTERM; resolves
 * when it listens, rejects with its stderr if it exits before (it is killed after `timeoutMs`).
 */
export async function serveScript(source: string, args: string[] = [], timeoutMs = 60_000): Promise<ServedScript> {
  const child = startScript(source, args);
  const done = waitFor(child, timeoutMs);
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      const m = /port (\d+)/.exec(d.toString());
      if (m) resolvePort(Number(m[1]));
    });
    void done.then((r) => reject(new Error(`the child exited early: ${r.stderr}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await done;
    },
  };
}

/**
 * Starts an example app (`examples/*.ts`) the way `npm run demo` does (tsx, the repository as the
 * working directory) on `PORT=0`, and finds its URL in what it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const TSX = join(ROOT, 'node_modules/tsx/dist/cli.mjs');

/** A running example app. */
export interface RunningExample {
  /** `http://localhost:<port>`. */
  readonly url: string;
  readonly child: ChildProcess;
  /** What it printed so far. */
  output(): { stdout: string; stderr: string };
  /** SIGTERM, then waits for the exit; resolves the exit code. */
  stop(): Promise<number | null>;
}

/** What an example printed before it exited by itself. */
export interface ExampleExit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(file: string, env: NodeJS.ProcessEnv): { child: ChildProcess; out: { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [TSX, join('examples', file)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolveExit, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolveExit(code));
  });
  return { child, out, exited };
}

/** Runs an example that is expected to exit by itself (killed after `timeoutMs`). */
export async function runExample(file: string, env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<ExampleExit> {
  const { child, out, exited } = start(file, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return { code: await exited, ...out };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts an example on a free port and waits until it listens. */
export async function startExample(file: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<RunningExample> {
  const { child, out, exited } = start(file, { PORT: '0', ...env });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`${file} did not start within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
    }
    child.stdout?.on('data', function listening() {
      const match = /on (http:\/\/localhost:\d+)/.exec(out.stdout);
      if (!match?.[1] || settled) return;
      settled = true;
      clearTimeout(timer);
      resolveUrl(match[1]);
    });
    exited.then((code) => fail(new Error(`${file} exited with code ${code}`)), fail);
  });
  return {
    url,
    child,
    output: () => ({ ...out }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

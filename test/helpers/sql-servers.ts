/**
 * Private PostgreSQL and MariaDB servers for the outage tests: initialised in a temp dir on a free
 * port, stopped like a crash and started again on the same data. Never the shared servers, which
 * other tests use at the same time.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readdirSync } from 'node:fs';
import { freePort, sleep } from './redis';

const run = promisify(execFile);
const isRoot = () => process.getuid?.() === 0;

/** Runs a command as `user` when we are root (the servers refuse to run as root), else as ourselves. */
function runAs(user: string, command: string, args: string[]) {
  if (!isRoot()) return run(command, args);
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return run('su', [user, '-s', '/bin/sh', '-c', quoted]);
}

function pgBin(name: string): string {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  return join('/usr/lib/postgresql', versions.at(-1) as string, 'bin', name);
}

/** Sends `signal` to `pids`; for SIGSTOP, resolves once every thread of them is stopped. */
async function signalAll(pids: readonly number[], signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  if (signal === 'SIGCONT') return;
  const state = (file: string) => {
    try {
      return readFileSync(file, 'utf8').replace(/^.*\) /s, '')[0];
    } catch {
      return 'T'; // the thread or process ended
    }
  };
  for (let i = 0; i < 400; i++) {
    const states = pids.flatMap((pid) => {
      const tasks = join('/proc', String(pid), 'task');
      try {
        return readdirSync(tasks).map((t) => state(join(tasks, t, 'stat')));
      } catch {
        return [];
      }
    });
    if (states.every((st) => st === 'T' || st === 't')) return;
    await sleep(5);
  }
  throw new Error('the server did not stop');
}

/** The postmaster of `dataDir` and its children (the backends), by pid. */
function postgresPids(dataDir: string): number[] {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(readFileSync(join('/proc', d, 'stat'), 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === postmaster;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

/** A private PostgreSQL (trust auth, user `postgres`, database `postgres`). */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'sessionware-pg-'));
    if (isRoot()) chownSync(dir, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
    const server = new PrivatePostgres(dir, await freePort());
    try {
      await runAs('postgres', pgBin('initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
      await server.resume();
    } catch (err) {
      await server.destroy();
      throw err;
    }
    return server;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async resume(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await runAs('postgres', pgBin('pg_ctl'), ['-D', join(this.dir, 'data'), '-o', options, '-l', join(this.dir, 'log'), '-w', 'start']);
  }

  #frozen: number[] = [];

  /** Freezes (`SIGSTOP`) the postmaster and every backend, or thaws them (`SIGCONT`). */
  async pause(frozen: boolean): Promise<void> {
    if (frozen) {
      this.#frozen = postgresPids(join(this.dir, 'data'));
      await signalAll(this.#frozen, 'SIGSTOP');
    } else {
      await signalAll(this.#frozen, 'SIGCONT');
      this.#frozen = [];
    }
  }

  /** Stops it the way a crash would (`-m immediate`). */
  async stop(): Promise<void> {
    await this.pause(false);
    await runAs('postgres', pgBin('pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private MariaDB (root without password, `--skip-grant-tables`, database `test`). */
export class PrivateMariadb {
  #child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PrivateMariadb> {
    const dir = mkdtempSync(join(tmpdir(), 'sessionware-mariadb-'));
    const user = isRoot() ? 'mysql' : userInfo().username;
    if (isRoot()) chownSync(dir, Number((await run('id', ['-u', 'mysql'])).stdout.trim()), Number((await run('id', ['-g', 'mysql'])).stdout.trim()));
    const server = new PrivateMariadb(dir, await freePort());
    try {
      // --tmpdir: its own directory, not TMPDIR (which the mysql user may not be able to write).
      await run('mariadb-install-db', ['--no-defaults', `--datadir=${join(dir, 'data')}`, `--tmpdir=${dir}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db']);
      await server.resume();
      await run('mysql', ['-uroot', '-h127.0.0.1', `-P${server.port}`, '-e', 'CREATE DATABASE IF NOT EXISTS test']);
    } catch (err) {
      await server.destroy();
      throw err;
    }
    return server;
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`;
  }

  async resume(): Promise<void> {
    if (this.#child) return;
    const args = ['--no-defaults', `--datadir=${join(this.dir, 'data')}`, `--tmpdir=${this.dir}`, `--port=${this.port}`, `--socket=${join(this.dir, 'sock')}`, '--bind-address=127.0.0.1', '--skip-log-bin', '--innodb-buffer-pool-size=16M', '--skip-grant-tables', ...(isRoot() ? ['--user=mysql'] : [])];
    const child = spawn('mariadbd', args, { stdio: 'ignore' });
    this.#child = child;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await run('mysqladmin', ['-uroot', '-h127.0.0.1', `-P${this.port}`, 'ping']);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`mariadbd on port ${this.port} did not start`);
        await sleep(100);
      }
    }
  }

  /**
   * Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: it keeps its connections but answers
   * nothing. Resolves once every thread is stopped (a signal reaches busy threads a little later).
   */
  async pause(frozen: boolean): Promise<void> {
    const pid = this.#child?.pid;
    if (pid) await signalAll([pid], frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Kills it (SIGKILL: like a crash) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

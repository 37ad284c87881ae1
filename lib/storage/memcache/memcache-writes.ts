/**
 * `WriteQueue`: how `MemcacheStorage` orders one process's writes to a session. They run one after
 * another, so they never race each other's `cas` (only other processes can make a `cas` retry).
 * `setSession` calls that arrive while a write to the same session is in flight are merged into
 * one batch that runs next: one `gets` + `cas` applies all their changes, in arrival order,
 * atomically onto what is stored then. If a batch fails, each of its writes runs again on its own,
 * so an error (a session over the size limit, say) reaches only the write that caused it.
 * @internal
 * @module
 */
import type { SessionChanges } from '../storage';

/** setSession calls waiting together for the write in flight. */
interface Batch {
  readonly ttl: number;
  readonly writes: Array<{ readonly changes: SessionChanges; resolve(ok: boolean): void; reject(err: unknown): void }>;
}

/** Per-session write order and batching. @internal */
export class WriteQueue {
  /** The end of the last write queued per session. */
  readonly #tails = new Map<string, Promise<void>>();
  /** The batch still open to new writes, per session. */
  readonly #open = new Map<string, Batch>();

  /** `true` while a write to `id` is queued or running. */
  busy(id: string): boolean {
    return this.#tails.has(id);
  }

  /** Runs `write` after every write queued for `id` before it. */
  run<T>(id: string, write: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(id);
    const run = before ? before.then(write) : write();
    const done = run.then(noop, noop);
    this.#tails.set(id, done);
    void done.then(() => {
      if (this.#tails.get(id) === done) this.#tails.delete(id);
    });
    return run;
  }

  /**
   * Adds `changes` to the open batch of `id` (opening one, queued with {@link WriteQueue.run}, when
   * there is none or its TTL differs). The batch runs `all` with every change set it collected; if
   * that rejects and it holds more than one, `one` runs for each in turn instead.
   */
  join(id: string, ttl: number, changes: SessionChanges, all: (list: readonly SessionChanges[]) => Promise<boolean>, one: (changes: SessionChanges) => Promise<boolean>): Promise<boolean> {
    let batch = this.#open.get(id);
    if (!batch || batch.ttl !== ttl) {
      const opened: Batch = { ttl, writes: [] };
      batch = opened;
      this.#open.set(id, opened);
      void this.run(id, () => this.#flush(id, opened, all, one));
    }
    const { writes } = batch;
    return new Promise<boolean>((resolve, reject) => writes.push({ changes, resolve, reject }));
  }

  async #flush(id: string, batch: Batch, all: (list: readonly SessionChanges[]) => Promise<boolean>, one: (changes: SessionChanges) => Promise<boolean>): Promise<void> {
    if (this.#open.get(id) === batch) this.#open.delete(id); // closed: later writes open the next batch
    const { writes } = batch;
    try {
      const ok = await all(writes.map((w) => w.changes));
      for (const w of writes) w.resolve(ok);
    } catch (err) {
      if (writes.length === 1) {
        writes[0]?.reject(err);
        return;
      }
      for (const w of writes) {
        try {
          w.resolve(await one(w.changes));
        } catch (own) {
          w.reject(own);
        }
      }
    }
  }
}

/** The changes of several writes as one (later writes win), for the size check's error message. @internal */
export function mergeChanges(list: readonly SessionChanges[]): SessionChanges {
  const set = new Map<string, string>();
  const removed = new Set<string>();
  for (const changes of list) {
    for (const [key, value] of changes.set) set.set(key, value), removed.delete(key);
    for (const key of changes.removed) set.delete(key), removed.add(key);
  }
  return { set, removed };
}

function noop(): void {}

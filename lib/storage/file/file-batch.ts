/**
 * Group commit of `FileStorage.setSession`: the writes to one session that queue behind the one in
 * progress join one batch, applied in arrival order under one lock, with one read, one `fsync`
 * and one `rename`. Any other operation on the session (a logout, a move, a compare-and-set, a TTL
 * refresh) closes the open batch when it queues, so nothing that arrives after it is merged into a
 * batch that runs before it: a logout stays a logout.
 * @module
 */
import type { SessionChanges } from '../storage';

/** One `setSession` call waiting in a batch. @internal */
export interface BatchedWrite {
  readonly changes: SessionChanges;
  readonly ttl: number;
  readonly create: boolean;
}

/** The writes of one batch, and how each call is answered. @internal */
export class WriteBatch {
  readonly writes: BatchedWrite[] = [];
  readonly #settle: Array<{ resolve: (ok: boolean) => void; reject: (err: unknown) => void }> = [];
  #open = true;

  constructor(readonly close: () => void) {}

  /** Whether more writes may join (the batch has not read the file yet). */
  get open(): boolean {
    return this.#open;
  }

  add(write: BatchedWrite): Promise<boolean> {
    this.writes.push(write);
    return new Promise<boolean>((resolve, reject) => this.#settle.push({ resolve, reject }));
  }

  /** Closes the batch (later writes start another) and returns its writes, in arrival order. */
  take(): readonly BatchedWrite[] {
    if (this.#open) {
      this.#open = false;
      this.close();
    }
    return this.writes;
  }

  /** Answers every call: `results[i]` for write `i` (`false` for the ones without a result). */
  resolve(results: readonly boolean[]): void {
    this.take();
    this.#settle.forEach((call, i) => call.resolve(results[i] === true));
  }

  /** Fails every call with `err` (they shared the lock, the read and the write that failed). */
  reject(err: unknown): void {
    this.take();
    for (const call of this.#settle) call.reject(err);
  }
}

/** The open batch of each session. @internal */
export class GroupCommit {
  readonly #open = new Map<string, WriteBatch>();

  /**
   * Adds a write to the open batch of `id`, or opens one and hands it to `start` (which queues it
   * and, once it holds the session, calls {@link WriteBatch.take}).
   */
  add(id: string, write: BatchedWrite, start: (batch: WriteBatch) => void): Promise<boolean> {
    const current = this.#open.get(id);
    if (current?.open === true) return current.add(write);
    const batch = new WriteBatch(() => this.#open.get(id) === batch && this.#open.delete(id));
    this.#open.set(id, batch);
    const answer = batch.add(write);
    start(batch);
    return answer;
  }

  /** Closes the open batch of `id`, if any: the writes after this point form another one. */
  close(id: string): void {
    this.#open.get(id)?.take();
  }
}

/**
 * `RecentReads`: what `MemcacheStorage` remembers about the sessions it just read with `gats`, so
 * the close of the same request costs less: a clean close right after the read needs no `touch`
 * (the `gats` slid the TTL), and a dirty close can `cas` straight onto the record it read (the CAS
 * token proves nothing changed since; on `EXISTS` it falls back to `gets` + `cas`).
 *
 * Several requests of one session may be open at once (tabs, parallel fetches): the latest read is
 * kept with a count of the requests that read it and have not closed, so each clean close still
 * finds it (the TTL was slid by the latest `gats`) and it is forgotten when the last one closes.
 * @internal
 * @module
 */

/** One session read with `gats`. */
export interface Read {
  readonly ttl: number;
  readonly cas: string;
  readonly record: ReadonlyMap<string, string>;
  /** When the read happened (ms). */
  readonly at: number;
}

/** How long a read is remembered (a request that takes longer falls back to the full path). */
const KEEP_MS = 10_000;
/** The most reads remembered; the oldest are forgotten first. */
const MAX_READS = 10_000;

/** A remembered read and how many requests that read the session are still open. */
interface Entry extends Read {
  open: number;
}

/** Reads by session id, oldest first; a write's CAS token is used at most once. @internal */
export class RecentReads {
  readonly #reads = new Map<string, Entry>();

  /** Remembers a read of `id`, forgetting reads that are too old or too many. */
  add(id: string, read: Read): void {
    const open = (this.#reads.get(id)?.open ?? 0) + 1;
    this.#reads.delete(id);
    this.#reads.set(id, { ...read, open });
    for (const [oldId, old] of this.#reads) {
      if (this.#reads.size <= MAX_READS && old.at > read.at - KEEP_MS) break;
      this.#reads.delete(oldId);
    }
  }

  /** The remembered read of `id`, forgotten by this call (for a write: its CAS token serves one write). */
  take(id: string): Read | undefined {
    const read = this.#reads.get(id);
    if (read) this.#reads.delete(id);
    return read;
  }

  /**
   * The latest read of `id`, for a clean close: one fewer request holds it, and it is forgotten
   * once none does.
   */
  close(id: string): Read | undefined {
    const read = this.#reads.get(id);
    if (read && --read.open <= 0) this.#reads.delete(id);
    return read;
  }

  /** Forgets everything. */
  clear(): void {
    this.#reads.clear();
  }
}

/**
 * `IdMemory`: what one process remembers about ids for a while: removed ids (so this process never
 * re-creates them) and forwards from a regenerated id to its successor.
 * @internal
 * @module
 */

/**
 * A map whose entries expire. Expired entries are invisible at once and dropped from the oldest
 * end on every insert, so memory follows the number of entries that are still live; beyond `max`
 * entries the oldest are forgotten early (memory stays bounded under a flood of logouts). @internal
 */
export class IdMemory<V> {
  readonly #entries = new Map<string, { readonly value: V; readonly until: number }>();
  readonly #now: () => number;
  readonly #max: number;

  constructor(now: () => number, max = 100_000) {
    this.#now = now;
    this.#max = max;
  }

  /** Remembers `value` for `id` until `until` (ms since the epoch), replacing an older entry. */
  set(id: string, value: V, until: number): void {
    this.#entries.delete(id); // re-insert at the young end
    this.#entries.set(id, { value, until });
    this.#prune();
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  /** The live value for `id`, or `undefined`. */
  get(id: string): V | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.until > this.#now()) return entry.value;
    this.#entries.delete(id);
    return undefined;
  }

  /** Whether `id` has a live entry. */
  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }

  /** Entries held, expired ones not yet dropped included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops expired entries from the oldest end (entries of different lifetimes may wait a little). */
  #prune(): void {
    const now = this.#now();
    for (const [id, entry] of this.#entries) {
      if (entry.until > now) return;
      this.#entries.delete(id);
    }
  }
}

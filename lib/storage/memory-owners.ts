/**
 * The owner index of `MemoryStorage` ("log out everywhere"): two maps, owner to ids and id to
 * owner, cleaned when sessions are removed, when they are listed and by the storage's prune.
 * @module
 */
import type { OwnedSession } from './storage';

/**
 * Which session ids belong to which owner. Each entry keeps the deadline `addOwner` gave it
 * (`until`): an id whose session does not exist (yet) is kept until then, so a listing that runs
 * between `setOwner()` and the write that creates the session does not forget it.
 * @internal
 */
export class MemoryOwnerIndex {
  /** owner -> id -> until (ms, on the storage's clock). */
  readonly #owners = new Map<string, Map<string, number>>();
  /** id -> the owner it was last added for. */
  readonly #ownerOf = new Map<string, string>();
  readonly #now: () => number;
  /** The expiry of the live session `id` (not a forward), or `undefined`. */
  readonly #expiry: (id: string) => number | undefined;

  constructor(now: () => number, expiry: (id: string) => number | undefined) {
    this.#now = now;
    this.#expiry = expiry;
  }

  /** How many ids are indexed, for every owner (tests watch it shrink). */
  get size(): number {
    let n = 0;
    for (const ids of this.#owners.values()) n += ids.size;
    return n;
  }

  add(owner: string, id: string, ttl: number): void {
    let ids = this.#owners.get(owner);
    if (ids === undefined) this.#owners.set(owner, (ids = new Map()));
    ids.set(id, Math.max(ids.get(id) ?? 0, this.#now() + ttl));
    this.#ownerOf.set(id, owner);
  }

  list(owner: string): OwnedSession[] {
    const ids = this.#owners.get(owner);
    if (ids === undefined) return [];
    const listed: OwnedSession[] = [];
    for (const [id, until] of ids) {
      const expiresAt = this.#expiry(id);
      if (expiresAt !== undefined) listed.push({ id, expiresAt });
      else if (until <= this.#now()) this.#drop(owner, id);
    }
    return listed;
  }

  forget(owner: string, ids: readonly string[]): void {
    for (const id of ids) this.#drop(owner, id);
  }

  /** The session `id` was deleted: it leaves the index of the owner it was last added for. */
  removed(id: string): void {
    const owner = this.#ownerOf.get(id);
    if (owner !== undefined) this.#drop(owner, id);
  }

  /** Drops every entry whose session is gone and whose deadline passed. */
  prune(): void {
    const now = this.#now();
    for (const [owner, ids] of this.#owners) {
      for (const [id, until] of ids) if (until <= now && this.#expiry(id) === undefined) this.#drop(owner, id);
    }
  }

  #drop(owner: string, id: string): void {
    const ids = this.#owners.get(owner);
    if (ids?.delete(id) && ids.size === 0) this.#owners.delete(owner);
    if (this.#ownerOf.get(id) === owner) this.#ownerOf.delete(id);
  }
}

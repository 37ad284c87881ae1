/**
 * A complete custom storage in a few lines: sessions in a `Map` of this process, with the forwards
 * `moveSession` leaves behind. It passes the whole contract suite (`sessionware/testing`), see
 * test/storage/map-storage-example.test.ts, owner index ("log out everywhere") included. Not shared across processes: for that, keep the same
 * steps atomic in your backend (a transaction, a script, a compare-and-set).
 */
import type { MoveOptions, OwnedSession, SessionChanges, SessionRecord, Storage, WriteOptions } from 'sessionware';

interface Entry {
  data: Map<string, string>;
  expires: number;
  /** Set on a forward: the id the session moved to. */
  movedTo?: string;
}

export class MapStorage implements Storage {
  readonly #entries = new Map<string, Entry>();
  /** The owner index: owner -> id -> until (an id is kept that long even before its session is written). */
  readonly #owners = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const entry = this.#live(id);
    return entry && !entry.movedTo ? new Map(entry.data) : undefined; // reads never follow a forward
  }

  async setSession(id: string, changes: SessionChanges, ttl: number, { create }: WriteOptions): Promise<boolean> {
    const target = this.#follow(id);
    if (!target && !create) return false; // never bring back a removed session
    const [key, entry] = target ?? [id, undefined];
    const data = new Map(entry?.data);
    for (const [k, v] of changes.set) data.set(k, v);
    for (const k of changes.removed) data.delete(k);
    this.#entries.set(key, { data, expires: this.now() + ttl });
    return true;
  }

  async moveSession(oldId: string, newId: string, changes: SessionChanges, ttl: number, { keep, forwardTTL }: MoveOptions): Promise<SessionRecord | undefined> {
    const old = this.#live(oldId);
    if (!old || old.movedTo) return undefined; // logged out, expired or already moved: the logout wins
    const data = new Map(old.data);
    for (const [k, v] of changes.set) data.set(k, v);
    for (const k of changes.removed) data.delete(k);
    for (const k of data.keys()) if (keep && !keep.has(k)) data.delete(k);
    this.#entries.set(newId, { data, expires: this.now() + ttl });
    this.#entries.set(oldId, { data: new Map(), expires: this.now() + forwardTTL, movedTo: newId });
    return new Map(data);
  }

  async updateTTL(id: string, ttl: number): Promise<void> {
    const entry = this.#live(id);
    if (entry && !entry.movedTo) entry.expires = this.now() + ttl;
  }

  async removeAll(id: string): Promise<boolean> {
    const target = this.#follow(id);
    if (this.#entries.get(id)?.movedTo !== undefined) this.#entries.delete(id); // a forward goes too
    return target !== undefined && this.#entries.delete(target[0]);
  }

  async addOwner(owner: string, id: string, ttl: number): Promise<void> {
    const ids = this.#owners.get(owner) ?? new Map<string, number>();
    ids.set(id, Math.max(ids.get(id) ?? 0, this.now() + ttl));
    this.#owners.set(owner, ids);
  }

  async ownerSessions(owner: string): Promise<OwnedSession[]> {
    const ids = this.#owners.get(owner) ?? new Map<string, number>();
    const listed: OwnedSession[] = [];
    for (const [id, until] of ids) {
      const entry = this.#live(id);
      if (entry && !entry.movedTo) listed.push({ id, expiresAt: entry.expires }); // forwards are not sessions
      else if (until <= this.now()) ids.delete(id); // gone for good: clean up
    }
    return listed;
  }

  async forgetOwner(owner: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#owners.get(owner)?.delete(id);
  }

  async close(): Promise<void> {}

  /** The live entry of `id`; expired entries are dropped on the way. */
  #live(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry && entry.expires <= this.now()) this.#entries.delete(id);
    return entry && entry.expires > this.now() ? entry : undefined;
  }

  /** The session `id` leads to, following up to 4 forwards. */
  #follow(id: string): [string, Entry] | undefined {
    let key = id;
    for (let hop = 0; hop <= 4; hop++) {
      const entry = this.#live(key);
      if (!entry) return undefined;
      if (!entry.movedTo) return [key, entry];
      key = entry.movedTo;
    }
    return undefined;
  }
}

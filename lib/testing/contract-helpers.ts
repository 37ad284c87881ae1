/**
 * What the storage contract suite's parts share: the current harness, the runner, test data.
 * @internal
 * @module
 */
import type { SessionRecord, Storage } from '../storage/storage';
import type { StorageHarness, TestRunner } from './storage-contract';

/** TTL long enough that nothing expires unless a test lets time pass on purpose. */
export const LONG = 60 * 60 * 1000;

/** Write options of a session created in this request. */
export const CREATE = { create: true } as const;
/** Write options of a session stored before (must not be re-created). */
export const UPDATE = { create: false } as const;

/** A record from plain values (each value becomes its JSON text). */
export const rec = (entries: Record<string, unknown>): Map<string, string> =>
  new Map(Object.entries(entries).map(([k, v]) => [k, JSON.stringify(v)]));

/** A record back as plain values, for `deepEqual`. */
export const plain = (record: SessionRecord | undefined): Record<string, unknown> | undefined =>
  record && Object.fromEntries([...record].map(([k, v]) => [k, JSON.parse(v) as unknown]));

/** Session changes from plain values and removed keys. */
export const changes = (set: Record<string, unknown>, removed: string[] = []) => ({ set: rec(set), removed: new Set(removed) });

/** What a part of the suite gets: the runner and the harness of the running test. */
export interface ContractContext {
  readonly runner: TestRunner;
  readonly shortTTL: number;
  /** The harness of the test that is running (set by the suite's `beforeEach`). */
  harness(): StorageHarness;
  /** Its storage. */
  storage(): Storage;
}

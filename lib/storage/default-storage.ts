/**
 * The storage `session()` and `Manager` use when none is given.
 * @module
 */
import { MemoryStorage } from './memory';
import type { Storage } from './storage';

let shared: Storage | undefined;

/**
 * Returns the process-wide default storage, created on first use.
 * @internal
 */
export function defaultStorage(): Storage {
  shared ??= new MemoryStorage();
  return shared;
}

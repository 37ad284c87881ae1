/**
 * The storage `session()` and `Manager` use when none is given: a `FileStorage` in the OS temp
 * directory, as in gsession.
 * @module
 */
import { FileStorage } from './file/file-storage';
import type { Storage } from './storage';

let shared: Storage | undefined;

/**
 * Returns the process-wide default storage (`FileStorage` in `<os tmpdir>/sessionware`), created on
 * first use so that importing the library touches no file system.
 * @internal
 */
export function defaultStorage(): Storage {
  shared ??= new FileStorage();
  return shared;
}

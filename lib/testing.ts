/**
 * `sessionware/testing`: the storage contract suite, for storage authors. A separate entry point:
 * it loads `node:assert` and registers tests, which an application never needs.
 *
 * @example
 * ```ts
 * import { describeStorage } from 'sessionware/testing';
 * describeStorage('MyStorage', async () => ({ storage: new MyStorage(), advance: (ms) => new Promise((r) => setTimeout(r, ms)) }));
 * ```
 * @module
 */
export { describeStorage, type StorageHarness, type StorageFactory, type TestRunner, type ContractOptions } from './testing/storage-contract';

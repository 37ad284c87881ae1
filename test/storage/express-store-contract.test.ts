/**
 * The storage contract, run through StoreAdapter against real express-session stores (the SQLite
 * store, whose expiry has one-second steps and so needs long waits, runs in its own file). Marked:
 * the adapter's no-lost-update and logout-is-final guarantees hold within one process only (an
 * express-session store has no atomic merge), which is all an in-process suite can check.
 */
import { memoryStoreSetup, memorystoreSetup, pgStoreSetup, redisStoreSetup } from '../helpers/express-stores';
import { describeAdapterContract } from '../helpers/express-stores-contract';

for (const setup of [memoryStoreSetup, memorystoreSetup, redisStoreSetup, pgStoreSetup]) describeAdapterContract(setup);

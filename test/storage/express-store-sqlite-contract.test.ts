/** The storage contract through StoreAdapter on better-sqlite3-session-store (see express-store-contract.test.ts). */
import { sqliteStoreSetup } from '../helpers/express-stores';
import { describeAdapterContract } from '../helpers/express-stores-contract';

describeAdapterContract(sqliteStoreSetup);

/**
 * The storage contract, run through StoreAdapter against real express-session stores. Marked: the
 * adapter's no-lost-update and logout-is-final guarantees hold within one process only (an
 * express-session store has no atomic merge), which is all an in-process suite can check.
 */
import { describeStorage } from 'sessionware/testing';
import { StoreAdapter } from 'sessionware/express-session-store';
import { EXPRESS_STORES } from '../helpers/express-stores';
import { sleep } from '../helpers/redis';

for (const setup of EXPRESS_STORES) {
  describeStorage(
    `StoreAdapter over ${setup.name} (guarantees within one process only)`,
    async () => {
      const fixture = await setup.create();
      return { storage: new StoreAdapter(fixture.store, setup.adapterOptions), advance: sleep, cleanup: () => fixture.cleanup() };
    },
    { shortTTL: setup.shortTTL },
  );
  if (setup.teardown) afterAll(setup.teardown);
}

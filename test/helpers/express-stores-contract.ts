/** Registers the storage contract for StoreAdapter over one real express-session store. */
import { describeStorage } from 'sessionware/testing';
import { StoreAdapter } from 'sessionware/express-session-store';
import type { StoreSetup } from './express-stores';
import { sleep } from './redis';

export function describeAdapterContract(setup: StoreSetup): void {
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

/**
 * The custom storage of examples/map-storage.ts (the one the `Storage` TSDoc points to) meets the
 * whole contract: what the README tells storage authors is enough, is enough.
 */
import { describeStorage } from 'sessionware/testing';
import { MapStorage } from '../../examples/map-storage';
import { TestClock } from '../helpers/clock';

describeStorage('MapStorage (examples/map-storage.ts)', async () => {
  const clock = new TestClock();
  return { storage: new MapStorage(clock.now), advance: async (ms) => clock.advance(ms) };
});

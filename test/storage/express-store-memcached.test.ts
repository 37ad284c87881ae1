/**
 * StoreAdapter on connect-memcached, the store whose `touch` rewrites the whole session: the
 * contract holds with `'auto'` (which rewrites instead of touching), and a `'touch'` forced on it
 * shows the data loss the default avoids.
 */
import { generateId } from 'sessionware';
import { StoreAdapter } from 'sessionware/express-session-store';
import { createMemcachedFixture, memcachedStoreSetup, type StoreFixture } from '../helpers/express-stores';
import { describeAdapterContract } from '../helpers/express-stores-contract';

describeAdapterContract(memcachedStoreSetup);

describe('StoreAdapter on connect-memcached', () => {
  let fixture: StoreFixture;
  beforeEach(async () => {
    fixture = await createMemcachedFixture();
  });
  afterEach(() => fixture.cleanup());

  const write = { set: new Map([['user', '"alice"']]), removed: new Set<string>() };

  it("should rewrite rather than touch ('auto'), keeping the data", async () => {
    const adapter = new StoreAdapter(fixture.store, { count: false });
    expect(adapter.touchMode).toBe('rewrite');
    const id = generateId();
    await adapter.setSession(id, write, 10_000, { create: true });
    await adapter.updateTTL(id, 60_000); // less than half of the new TTL left: rewritten
    expect(await fixture.raw(id)).toMatchObject({ user: 'alice', cookie: { originalMaxAge: 60_000 } });
    expect(Object.fromEntries((await adapter.getSession(id, 60_000)) ?? [])).toEqual({ user: '"alice"' });
  });

  it("should show why: its touch, forced with touch: 'touch', writes the cookie over the data", async () => {
    const adapter = new StoreAdapter(fixture.store, { touch: 'touch', count: false });
    const id = generateId();
    await adapter.setSession(id, write, 10_000, { create: true });
    await adapter.updateTTL(id, 60_000);
    expect(Object.keys((await fixture.raw(id)) ?? {})).toEqual(['cookie']);
  });
});

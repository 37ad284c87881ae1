/**
 * "Log out everywhere" over real HTTP on every storage: `setOwner()` at login, `sessionsOf()`
 * (the devices page), `revoke()` of the others / of all, a request in flight on a revoked session,
 * `regenerate()` of an owned session. Storages without an owner index must refuse with a clear
 * `StorageError`; which storages those are is pinned in {@link WITHOUT_INDEX}, so none is skipped
 * silently.
 */
import request from 'supertest';
import { StorageError, type Storage } from 'sessionware';
import { cookieOf, cookieValue } from '../helpers/app';
import { buildOwnerApp, WITHOUT_INDEX } from '../helpers/owner-app';
import { describeEachStorage, STORAGES } from '../helpers/storages';

const hasIndex = (storage: Storage): boolean => typeof storage.addOwner === 'function' && typeof storage.ownerSessions === 'function' && typeof storage.forgetOwner === 'function';

type Agent = ReturnType<typeof buildOwnerApp>['app'];

/** Logs `user` in from a new device (no cookie); resolves its cookie header and session id. */
async function login(app: Agent, user: string): Promise<{ cookie: string; id: string }> {
  const res = await request(app).post(`/login?user=${encodeURIComponent(user)}`).expect(200);
  const id = cookieValue(res.headers['set-cookie']);
  if (id === undefined) throw new Error('no session cookie after login');
  return { cookie: `sessionid=${id}`, id };
}

async function me(app: Agent, cookie: string): Promise<{ user: string | null; cleared: boolean; body: { owner: string | null; data: Record<string, unknown> } }> {
  const res = await request(app).get('/me').set('Cookie', cookie).expect(200);
  const set = cookieOf(res.headers['set-cookie']);
  return { user: (res.body as { user: string | null }).user, cleared: set !== undefined && /^sessionid=;/.test(set), body: res.body as { owner: string | null; data: Record<string, unknown> } };
}

describe('which storages keep an owner index', () => {
  it('should be every storage but the ones pinned as without', async () => {
    const without: string[] = [];
    for (const setup of STORAGES) {
      const instance = await setup.create();
      try {
        if (!hasIndex(instance.storage)) without.push(setup.name);
      } finally {
        await instance.cleanup();
      }
    }
    expect(without.sort()).toEqual([...WITHOUT_INDEX].sort());
  }, 60_000);
});

describeEachStorage((name, current) => {
  if (WITHOUT_INDEX.has(name)) {
    it('should refuse setOwner, sessionsOf and revoke with a StorageError that says what to use', async () => {
      const { app, sessions } = buildOwnerApp(current());
      const res = await request(app).post('/login?user=ada').expect(500);
      expect(res.body).toMatchObject({ error: 'StorageError', code: 'ERR_SESSION_STORAGE' });
      expect(res.body.message).toMatch(/keeps no owner index.*MemoryStorage, FileStorage/);
      await expect(sessions.manager.sessionsOf('ada')).rejects.toThrow(StorageError);
      await expect(sessions.manager.revoke('ada')).rejects.toThrow(/keeps no owner index/);
    });
    return;
  }

  it('should list three devices of one user, end the other two, then all', async () => {
    const { app, sessions } = buildOwnerApp(current());
    const devices = [await login(app, 'ada'), await login(app, 'ada'), await login(app, 'ada')];
    const bob = await login(app, 'bob');
    const [one, two, three] = devices as [typeof bob, typeof bob, typeof bob];

    const listing = await request(app).get('/devices').set('Cookie', one.cookie).expect(200);
    const listed = listing.body as { digest: string; created: string; lastUsed: string; expires: string; current: boolean }[];
    expect(listed).toHaveLength(3);
    expect(new Set(listed.map((d) => d.digest))).toEqual(new Set(devices.map((d) => sessions.manager.digestOf(d.id))));
    expect(listed.filter((d) => d.current).map((d) => d.digest)).toEqual([sessions.manager.digestOf(one.id)]);
    for (const d of listed) {
      expect(Date.parse(d.created)).toBeLessThanOrEqual(Date.parse(d.lastUsed) + 1000);
      expect(Date.parse(d.expires)).toBeGreaterThan(Date.now());
    }
    for (const d of [...devices, bob]) expect(listing.text).not.toContain(d.id); // never a raw id

    expect((await request(app).post('/logout-others').set('Cookie', one.cookie).expect(200)).body).toEqual({ ended: 2 });
    for (const other of [two, three]) {
      const after = await me(app, other.cookie);
      expect(after.user).toBeNull();
      expect(after.cleared).toBe(true);
    }
    expect((await me(app, one.cookie)).user).toBe('ada');
    expect((await me(app, bob.cookie)).user).toBe('bob');
    expect(await sessions.manager.sessionsOf('ada')).toHaveLength(1);

    expect((await request(app).post('/logout-all').set('Cookie', one.cookie).expect(200)).body).toEqual({ ended: 1 });
    expect((await me(app, one.cookie)).user).toBeNull();
    expect(await sessions.manager.sessionsOf('ada')).toEqual([]);
    expect((await sessions.manager.sessionsOf('bob')).map((d) => d.digest)).toEqual([sessions.manager.digestOf(bob.id)]);
  });

  it('should hide the owner from data() and keep it from being set as a key', async () => {
    const { app } = buildOwnerApp(current());
    const device = await login(app, 'ada');
    const { body } = await me(app, device.cookie);
    expect(body.owner).toBe('ada');
    expect(body.data).toEqual({ user: 'ada' });
  });

  it('should not let a request in flight on a revoked session bring it back', async () => {
    const { app, sessions, gate } = buildOwnerApp(current());
    const storage = current();
    const device = await login(app, 'ada');
    const slow = gate();
    const inFlight = request(app).get('/slow').set('Cookie', device.cookie).then((res) => res);
    await slow.reached; // it loaded the session
    expect(await sessions.manager.revoke('ada')).toBe(1);
    slow.open();
    expect((await inFlight).status).toBe(200);
    expect(await storage.getSession(device.id, 60_000)).toBeUndefined();
    expect((await me(app, device.cookie)).user).toBeNull();
    expect(await sessions.manager.sessionsOf('ada')).toEqual([]);
  });

  it('should keep a regenerated owned session listed under its new id, not the old one', async () => {
    const { app, sessions } = buildOwnerApp(current());
    const device = await login(app, 'ada');
    const res = await request(app).post('/regen').set('Cookie', device.cookie).expect(200);
    expect(res.body).toEqual({ owner: 'ada' });
    const newId = cookieValue(res.headers['set-cookie']);
    expect(newId).toBeDefined();
    expect(newId).not.toBe(device.id);
    const listed = await sessions.manager.sessionsOf('ada');
    expect(listed.map((d) => d.digest)).toEqual([sessions.manager.digestOf(newId as string)]);
    expect(await sessions.manager.revoke('ada')).toBe(1);
    expect((await me(app, `sessionid=${newId as string}`)).user).toBeNull();
  });

  it('should revoke only the chosen digest, and list another owner after setOwner changes it', async () => {
    const { app, sessions } = buildOwnerApp(current());
    const [a, b] = [await login(app, 'ada'), await login(app, 'ada')];
    expect(await sessions.manager.revoke('ada', { only: [sessions.manager.digestOf(b.id)] })).toBe(1);
    expect((await me(app, a.cookie)).user).toBe('ada');
    expect((await me(app, b.cookie)).user).toBeNull();
    // The same browser logs in as bob: the session moves and belongs to bob now.
    const again = await request(app).post('/login?user=bob').set('Cookie', a.cookie).expect(200);
    const bobId = cookieValue(again.headers['set-cookie']) as string;
    expect(await sessions.manager.sessionsOf('ada')).toEqual([]);
    expect((await sessions.manager.sessionsOf('bob')).map((d) => d.digest)).toEqual([sessions.manager.digestOf(bobId)]);
    expect(await sessions.manager.revoke('ada')).toBe(0);
    expect((await me(app, `sessionid=${bobId}`)).user).toBe('bob');
  });

  it('should refuse bad owners before any storage call', async () => {
    const { sessions } = buildOwnerApp(current());
    for (const bad of ['', 'x'.repeat(257), 'a\u0000b', 'line\nbreak', '\ud800', 7, null]) {
      await expect(sessions.manager.sessionsOf(bad as string)).rejects.toMatchObject({ code: 'ERR_SESSION_VALUE' });
      const s = sessions.manager.new();
      await expect(s.setOwner(bad as string)).rejects.toMatchObject({ code: 'ERR_SESSION_VALUE' });
      await s.close();
    }
    await expect(sessions.manager.revoke('ada', { except: [3] as unknown as string[] })).rejects.toMatchObject({ code: 'ERR_SESSION_VALUE' });
  });
});

/**
 * StoreAdapter over real HTTP on every real express-session store: overlapping requests keep each
 * other's writes, a logout wins against a slow writer (the session is gone from the store itself),
 * regenerate moves the data, and the reserved key is refused. Within one process, which is what
 * the adapter promises.
 */
import request from 'supertest';
import express from 'express';
import { StoreAdapter } from 'sessionware/express-session-store';
import { buildApp, cookieValue } from '../helpers/app';
import { EXPRESS_STORES, type StoreFixture } from '../helpers/express-stores';

describe.each(EXPRESS_STORES.map((s) => [s.name, s] as const))('StoreAdapter over %s, over HTTP', (_name, setup) => {
  let fixture: StoreFixture;
  let storage: StoreAdapter;
  let app: express.Express;

  beforeEach(async () => {
    fixture = await setup.create();
    storage = new StoreAdapter(fixture.store, setup.adapterOptions);
    app = buildApp(express, storage);
  });
  afterEach(async () => {
    await storage.close();
    await fixture.cleanup();
  });
  if (setup.teardown) afterAll(setup.teardown);

  async function login(): Promise<string> {
    const res = await request(app).get('/set?k=user&v=alice').expect(200);
    return cookieValue(res.headers['set-cookie']) as string;
  }

  it('should keep both writes of overlapping requests on disjoint keys', async () => {
    const id = await login();
    const cookie = `sessionid=${id}`;
    await Promise.all([
      request(app).get('/slow-set?k=a&v=1&ms=200').set('Cookie', cookie).expect(200),
      request(app).get('/slow-set?k=b&v=2&ms=50').set('Cookie', cookie).expect(200),
      request(app).get('/slow-set?k=c&v=3&ms=120').set('Cookie', cookie).expect(200),
    ]);
    await request(app).get('/data').set('Cookie', cookie).expect(200, { user: 'alice', a: '1', b: '2', c: '3' });
    expect(await fixture.raw(id)).toMatchObject({ user: 'alice', a: '1', b: '2', c: '3', cookie: expect.any(Object) });
  });

  it('should not let a slow writer resurrect a session logged out meanwhile', async () => {
    const id = await login();
    const cookie = `sessionid=${id}`;
    const slow = request(app).get('/slow-set?k=cart&v=late&ms=300').set('Cookie', cookie).then((r) => r);
    await new Promise((r) => setTimeout(r, 100));
    const logout = await request(app).get('/logout').set('Cookie', cookie).expect(200);
    expect(logout.headers['set-cookie']?.[0]).toMatch(/^sessionid=;/);
    const late = await slow;
    expect(late.status).toBe(200);
    expect(cookieValue(late.headers['set-cookie']) ?? '').not.toBe(id);
    expect(await fixture.raw(id)).toBeUndefined();
    await request(app).get('/data').set('Cookie', cookie).expect(200, {});
  });

  it('should regenerate: a new id with the data, the old id gone from the store', async () => {
    const id = await login();
    const res = await request(app).get('/regenerate').set('Cookie', `sessionid=${id}`).expect(200);
    const next = cookieValue(res.headers['set-cookie']) as string;
    expect(next).not.toBe(id);
    await request(app).get('/data').set('Cookie', `sessionid=${next}`).expect(200, { user: 'alice' });
    await request(app).get('/data').set('Cookie', `sessionid=${id}`).expect(200, {});
    expect(await fixture.raw(id)).toBeUndefined();
  });

  it('should refuse the reserved key "cookie" and keep the session as it was', async () => {
    const id = await login();
    const res = await request(app).get('/set?k=cookie&v=x').set('Cookie', `sessionid=${id}`);
    expect(res.status).toBe(500);
    await request(app).get('/data').set('Cookie', `sessionid=${id}`).expect(200, { user: 'alice' });
  });
});

/**
 * Overlapping HTTP requests against both Redis storages on a real Redis: disjoint writes are all
 * kept, and a logout wins against a slow writer that finishes after it.
 */
import request from 'supertest';
import express from 'express';
import type { Storage } from 'sessionware';
import { RedisHashStorage, RedisStorage } from 'sessionware/redis';
import { buildApp, cookieValue } from '../helpers/app';
import { uniquePrefix, useSharedRedis } from '../helpers/redis';

const PREFIX = uniquePrefix('sw-test-http');
const redis = useSharedRedis(PREFIX);

describe.each([
  ['RedisStorage', (prefix: string): Storage & { close(): Promise<void> } => new RedisStorage(redis.client, { prefix })],
  ['RedisHashStorage', (prefix: string): Storage & { close(): Promise<void> } => new RedisHashStorage(redis.client, { prefix })],
])('%s over HTTP', (name, make) => {
  const prefix = `${PREFIX}${name}:`;
  let storage: Storage;
  let app: express.Express;

  beforeEach(() => {
    storage = make(prefix);
    app = buildApp(express, storage);
  });
  afterEach(() => storage.close());

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
    expect(await redis.client.exists(prefix + id)).toBe(0);
    await expect(storage.getSession(id, 60_000)).resolves.toBeUndefined();
    const after = await request(app).get('/data').set('Cookie', cookie).expect(200);
    expect(after.body).toEqual({});
  });
});

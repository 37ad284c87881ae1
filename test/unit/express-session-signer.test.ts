/**
 * ExpressSessionSigner against the cookie-signature copy express-session itself signs with, and the
 * `signer` option of session().
 */
import { dirname } from 'node:path';
import { ExpressSessionSigner, generateId, MemoryStorage, session, SessionOptionsError, Signer } from 'sessionware';

// The exact module express-session signs its cookies with.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const signature = require(require.resolve('cookie-signature', { paths: [dirname(require.resolve('express-session'))] })) as {
  sign(value: string, secret: string): string;
  unsign(value: string, secret: string): string | false;
};

describe('ExpressSessionSigner', () => {
  it("should sign exactly as express-session does: 's:' + cookie-signature", () => {
    for (const secret of ['keyboard cat', 'x', 'a much longer secret with ünïcode and spaces']) {
      const signer = new ExpressSessionSigner(secret);
      const id = generateId();
      expect(signer.sign(id)).toBe(`s:${signature.sign(id, secret)}`);
      expect(signature.unsign(signer.sign(id).slice(2), secret)).toBe(id);
      expect(signer.unsign(`s:${signature.sign(id, secret)}`)).toBe(id);
    }
  });

  it('should rotate secrets: the first signs, every one verifies', () => {
    const id = generateId();
    const rotated = new ExpressSessionSigner(['new secret', 'old secret']);
    expect(rotated.unsign(`s:${signature.sign(id, 'old secret')}`)).toBe(id);
    expect(rotated.sign(id)).toBe(`s:${signature.sign(id, 'new secret')}`);
  });

  it('should refuse tampered, unsigned, native-format and malformed tokens', () => {
    const signer = new ExpressSessionSigner('keyboard cat');
    const id = generateId();
    const good = signer.sign(id);
    const bad = [
      `s:${generateId()}${good.slice(good.lastIndexOf('.'))}`, // another id, this signature
      `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`,
      good.slice(2), // no s: prefix
      `s:${id}`,
      `s:.${good.split('.')[1]}`,
      '',
      's:',
      new Signer('a sessionware secret of 32+ characters!!').sign(id),
      `s:${signature.sign(id, 'another secret')}`,
    ];
    for (const token of bad) expect(signer.unsign(token)).toBeUndefined();
  });

  it('should demand a non-empty secret', () => {
    expect(() => new ExpressSessionSigner('')).toThrow(SessionOptionsError);
    expect(() => new ExpressSessionSigner([])).toThrow(SessionOptionsError);
    expect(() => new ExpressSessionSigner([5] as unknown as string[])).toThrow(/non-empty string/);
  });

  it("should be session()'s signer option, which excludes secret and checks its shape", () => {
    const storage = new MemoryStorage();
    expect(() => session(storage, { signer: new ExpressSessionSigner('keyboard cat') })).not.toThrow();
    expect(() => session(storage, { signer: new ExpressSessionSigner('keyboard cat'), secret: 'x'.repeat(32) })).toThrow(/both set/);
    expect(() => session(storage, { signer: { sign: (id: string) => id } as unknown as ExpressSessionSigner })).toThrow(/sign\(id\) and unsign\(token\)/);
    void storage.close();
  });
});

/**
 * The memo of verified tokens behind `Signer` and `ExpressSessionSigner`: a token verified once is
 * accepted again without an HMAC, but only that exact token, only by the signer that verified it,
 * and the memo stays bounded.
 */
import { ExpressSessionSigner, generateId, Signer } from 'sessionware';
import { VerifiedTokens } from '../../lib/verified-tokens';

const SECRET = 'a secret of at least thirty-two characters....';

describe('VerifiedTokens', () => {
  it('should keep at most its capacity, evicting the least recently used', () => {
    const memo = new VerifiedTokens(3);
    memo.add('a', 'A');
    memo.add('b', 'B');
    memo.add('c', 'C');
    expect(memo.get('a')).toBe('A'); // a is now the most recently used
    memo.add('d', 'D');
    expect(memo.size).toBe(3);
    expect(memo.get('b')).toBeUndefined();
    expect([memo.get('a'), memo.get('c'), memo.get('d')]).toEqual(['A', 'C', 'D']);
  });

  it('should not remember over-long tokens, nor anything with capacity 0', () => {
    const memo = new VerifiedTokens(4);
    expect(memo.add('x'.repeat(513), 'X')).toBe('X');
    expect(memo.size).toBe(0);
    const none = new VerifiedTokens(0);
    none.add('a', 'A');
    expect(none.get('a')).toBeUndefined();
  });
});

describe.each([
  ['Signer', () => new Signer(SECRET), () => new Signer(`${SECRET}other`)],
  ['ExpressSessionSigner', () => new ExpressSessionSigner(SECRET), () => new ExpressSessionSigner(`${SECRET}other`)],
])('%s with its memo', (_name, make, makeOther) => {
  it('should accept a token again, and still refuse every variant of it after it was accepted', () => {
    const signer = make();
    const id = generateId();
    const good = signer.sign(id);
    expect(signer.unsign(good)).toBe(id);
    expect(signer.unsign(good)).toBe(id); // from the memo
    const last = good.at(-1) as string;
    for (const bad of [`${good.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`, `${good}x`, good.slice(0, -1), `${good.slice(0, good.lastIndexOf('.'))}.`]) {
      expect(signer.unsign(bad)).toBeUndefined();
    }
    expect(signer.unsign(good)).toBe(id);
  });

  it("should not accept a token another signer's secret verified", () => {
    const signer = make();
    const other = makeOther();
    const token = other.sign(generateId());
    expect(other.unsign(token)).toBeDefined();
    expect(signer.unsign(token)).toBeUndefined();
  });

  it('should stay bounded under a flood of distinct valid and forged tokens', () => {
    const signer = make();
    const tokens = Array.from({ length: 1100 }, () => signer.sign(generateId()));
    for (const t of tokens) expect(signer.unsign(t)).toBeDefined();
    for (const t of tokens) expect(signer.unsign(`${t.slice(0, -2)}zz`)).toBeUndefined();
    // The earliest were evicted and verify again by HMAC; every one is still accepted.
    for (const t of tokens) expect(signer.unsign(t)).toBe(t.slice(t.startsWith('s:') ? 2 : 0, t.lastIndexOf('.')));
  });
});

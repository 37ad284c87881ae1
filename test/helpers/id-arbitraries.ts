/**
 * fast-check arbitraries for what clients send as a session id: cookie headers and id headers
 * mixing issued ids with junk (duplicates, quoting, percent-encoding, huge values, control
 * characters) and tokens whose signatures are forged, truncated or made with a rotated-out secret.
 */
import fc from 'fast-check';
import { Signer } from 'sessionware';

/** The seed every property run uses: failures reproduce with the same cases. */
export const SEED = 20_261_201;

export const CURRENT_SECRET = 'c'.repeat(32);
export const OLD_SECRET = 'o'.repeat(32);
/** A secret the server never had: tokens signed with it are forgeries. */
export const FOREIGN_SECRET = 'f'.repeat(32);

const base64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'), minLength: 1, maxLength: 140 });

/** What a client may put where an id belongs, given the ids the server issued. */
export function tokenArb(issued: readonly string[], headerSafe: boolean): fc.Arbitrary<string> {
  const current = new Signer(CURRENT_SECRET);
  const old = new Signer(OLD_SECRET);
  const foreign = new Signer(FOREIGN_SECRET);
  const known = fc.constantFrom(...issued);
  const junkChar = headerSafe
    ? fc.string({ unit: fc.constantFrom(...' \t!"#$%&\'()*+,-./:;<=>?@[\\]^`{|}~aZ9\u00e9\u00ff'), maxLength: 40 })
    : fc.string({ unit: 'binary', maxLength: 40 });
  return fc.oneof(
    known,
    known.map((id) => current.sign(id)),
    known.map((id) => old.sign(id)), // rotated: still valid while the old secret verifies
    known.map((id) => foreign.sign(id)), // forged
    fc.tuple(known, fc.integer({ min: 1, max: 43 })).map(([id, cut]) => current.sign(id).slice(0, -cut)), // truncated
    fc.tuple(known, base64url).map(([id, sig]) => `${id}.${sig}`), // a made-up signature
    base64url.filter((s) => s.length >= 8).map((id) => current.sign(id)), // well signed but never issued (a leaked secret)
    base64url, // well-formed or not, never issued
    junkChar,
    known.map((id) => `"${id}"`),
    known.map((id) => encodeURIComponent(`${id}/`)),
    known.map((id) => `%${id}`),
    fc.integer({ min: 1000, max: 9000 }).map((n) => 'A'.repeat(n)), // huge
    known.map((id) => `${id}${headerSafe ? ' ' : '\u0000'}`),
  );
}

/** A `Cookie` header: pairs under the session name (often several), other cookies, odd separators. */
export function cookieHeaderArb(name: string, issued: readonly string[], headerSafe: boolean): fc.Arbitrary<string> {
  const pair = fc.oneof(
    { weight: 3, arbitrary: tokenArb(issued, headerSafe).map((t) => `${name}=${t}`) },
    { weight: 1, arbitrary: tokenArb(issued, headerSafe).map((t) => ` ${name} = ${t}`) },
    { weight: 1, arbitrary: tokenArb(issued, headerSafe).map((t) => `x${name}=${t}`) },
    { weight: 1, arbitrary: fc.constantFrom('theme=dark', 'a=', '=b', name, `${name}=`, ';', '') },
  );
  return fc.tuple(fc.array(pair, { minLength: 0, maxLength: 8 }), fc.constantFrom('; ', ';', ' ; ', ';\t')).map(([pairs, sep]) => pairs.join(sep));
}

/** An id header value: one token, or several joined as Node joins repeated headers. */
export function idHeaderArb(issued: readonly string[], headerSafe: boolean): fc.Arbitrary<string> {
  return fc.array(tokenArb(issued, headerSafe), { minLength: 1, maxLength: 5 }).map((tokens) => tokens.join(', '));
}

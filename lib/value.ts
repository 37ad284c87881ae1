/**
 * Session values are stored as JSON text. `serializeValue` refuses, at `set()` time, anything JSON
 * would silently lose or mangle, so a value never disappears later at close.
 * @module
 */
import { SessionValueError } from './errors';

/**
 * Turns a session value into JSON text, or throws a {@link SessionValueError} that names the key
 * and the offending part. Accepted: strings, finite numbers, booleans, `null`, arrays, plain
 * objects, and objects with a `toJSON()` (a `Date` comes back as its ISO string). Rejected:
 * `undefined` as the value itself (use `remove()`), functions, symbols, `BigInt`, `NaN`/`±Infinity`,
 * `Map`, `Set` and other collections JSON would turn into `{}`, and circular structures.
 * Object properties whose value is `undefined` are left out, as JSON always does.
 *
 * @example
 * ```ts
 * serializeValue('cart', { items: [1, 2] }); // '{"items":[1,2]}'
 * serializeValue('fn', () => 1);             // throws SessionValueError
 * ```
 */
export function serializeValue(key: string, value: unknown): string {
  // Fast path: strings, booleans, null and finite numbers need no inspection.
  if (typeof value === 'string' || typeof value === 'boolean' || value === null || (typeof value === 'number' && Number.isFinite(value))) {
    return JSON.stringify(value);
  }
  if (value === undefined) {
    throw new SessionValueError(key, `session.set("${key}", undefined): undefined cannot be stored; call session.remove("${key}") to delete a key.`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value, function check(this: unknown, prop: string, v: unknown): unknown {
      const problem = describeUnstorable(v);
      if (problem !== undefined) {
        throw new SessionValueError(key, `session value "${key}"${prop === '' ? '' : ` at "${prop}"`} is ${problem}; only JSON values can be stored.`);
      }
      return v;
    });
  } catch (err) {
    if (err instanceof SessionValueError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new SessionValueError(key, `session value "${key}" cannot be stored as JSON (${reason.split('\n')[0] ?? reason}).`, { cause: err });
  }
  if (text === undefined) {
    throw new SessionValueError(key, `session value "${key}" has no JSON form; only JSON values can be stored.`);
  }
  return text;
}

/** Parses JSON text produced by {@link serializeValue}; every call returns a fresh copy. */
export function parseValue(text: string): unknown {
  return JSON.parse(text) as unknown;
}

/** Why `v` would be lost by JSON, or `undefined` when it is fine. */
function describeUnstorable(v: unknown): string | undefined {
  switch (typeof v) {
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'bigint':
      return 'a BigInt (store it as a string)';
    case 'number':
      return Number.isFinite(v) ? undefined : `${String(v)} (not a finite number)`;
    case 'object':
      if (v === null || Array.isArray(v)) return undefined;
      if (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet) {
        return `a ${v.constructor.name} (convert it to an array or a plain object)`;
      }
      if (v instanceof Promise) return 'a Promise (await it first)';
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Session values are stored as JSON text. `serializeValue` accepts only what JSON keeps exactly
 * and refuses everything else at `set()` time, so a value never changes or disappears on its way
 * through a storage; `checkKey` keeps keys a storage could mangle out.
 * @module
 */
import { SessionValueError } from './errors';

/** How deeply values may nest (objects and arrays); deeper ones are rejected. */
export const MAX_VALUE_DEPTH = 256;

/** A lone UTF-16 surrogate: a string containing one is not well-formed Unicode. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Turns a session value into JSON text, or throws a {@link SessionValueError} that names the key
 * and the path of the offending part (`cart.items[2]`).
 *
 * Accepted, and read back exactly as given:
 * - strings (any, including lone surrogates, which JSON escapes), booleans, `null`;
 * - finite numbers (`-0` is read back as `0`, as JSON has no negative zero);
 * - arrays without holes and without extra properties;
 * - plain objects (`{}`, object literals, `Object.create(null)`): their own enumerable string-keyed
 *   properties; a property whose value is `undefined` is left out, as JSON does;
 * - `Date`s, anywhere inside a value: stored as, and read back as, the ISO string
 *   (`date.toISOString()`).
 *
 * Rejected: `undefined` as the value itself or as an array element (use `remove()`), functions,
 * symbols, `BigInt`s, `NaN`/`±Infinity`, invalid `Date`s, sparse arrays, objects with enumerable
 * symbol keys, circular structures, nesting deeper than {@link MAX_VALUE_DEPTH}, and every other
 * object: class instances (even with a `toJSON()`), `Map`, `Set`, `RegExp`, `Error`, `Promise`,
 * `WeakRef`, `Buffer`, typed arrays, boxed primitives. Convert them to plain data first.
 * Getters of a plain object are read once, when the value is set.
 *
 * @example
 * ```ts
 * serializeValue('cart', { items: [1, 2] }); // '{"items":[1,2]}'
 * serializeValue('at', new Date(0));         // '"1970-01-01T00:00:00.000Z"'
 * serializeValue('re', /x/);                 // throws SessionValueError: a RegExp ...
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
  try {
    return write(value, 0, new Set());
  } catch (err) {
    if (err instanceof Unstorable) {
      throw new SessionValueError(key, `session value "${key}"${where(err.path)} is ${err.problem}; only plain JSON data (and Dates) can be stored.`);
    }
    // A getter or a proxy of the value threw (or the stack ran out).
    const reason = err instanceof Error ? err.message : String(err);
    throw new SessionValueError(key, `session value "${key}" cannot be read (${reason.split('\n')[0] ?? reason}).`, { cause: err });
  }
}

/**
 * `setMap()`'s argument as checked keys and JSON texts, all or nothing.
 * @throws {SessionValueError} when `values` is not a plain object, or for its first refused key or value.
 * @internal
 */
export function serializeEntries(values: object): Map<string, string> {
  const proto: unknown = values !== null && typeof values === 'object' ? Object.getPrototypeOf(values) : undefined;
  if (proto !== Object.prototype && proto !== null) throw new SessionValueError('', 'setMap() takes a plain object of key/value pairs, e.g. { cart: [], step: 2 }.');
  return new Map(Object.entries(values).map(([key, value]) => [checkKey(key), serializeValue(key, value)]));
}

/** Parses JSON text produced by {@link serializeValue}; every call returns a fresh copy. */
export function parseValue(text: string): unknown {
  return JSON.parse(text) as unknown;
}

/**
 * Checks a session key: a string of well-formed UTF-16 (a lone surrogate would be changed by
 * storages that encode keys as UTF-8, and then never found again). The empty string is a key.
 * @throws {SessionValueError} for anything else.
 * @internal
 */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string') {
    throw new SessionValueError('', `a session key must be a string, got ${describeType(key)}.`);
  }
  if (LONE_SURROGATE.test(key)) {
    throw new SessionValueError(key, 'a session key must be well-formed Unicode: it contains a lone UTF-16 surrogate, which storages would change.');
  }
  return key;
}

/** A part of a value that cannot be stored, with its path (filled in while the stack unwinds). */
class Unstorable {
  readonly path: Array<string | number> = [];
  constructor(readonly problem: string) {}
}

/** Characters `JSON.stringify` escapes in a string (and lone surrogates): without them, quoting is enough. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * Writes the JSON text of `v` in one pass (every property is read once), or throws an
 * {@link Unstorable}. `open` holds the objects being written, to find cycles.
 */
function write(v: unknown, depth: number, open: Set<object>): string {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new Unstorable(`${String(v)} (not a finite number)`);
      return String(v); // JSON's number format; -0 becomes "0"
    case 'object':
      return v === null ? 'null' : writeObject(v, depth, open);
    case 'undefined':
      throw new Unstorable('undefined (leave the element out, or use null)');
    case 'bigint':
      throw new Unstorable('a BigInt (store it as a string)');
    case 'function':
      throw new Unstorable('a function');
    default:
      throw new Unstorable(`a ${typeof v}`);
  }
}

function writeObject(v: object, depth: number, open: Set<object>): string {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new Unstorable('an invalid Date');
    return `"${Date.prototype.toISOString.call(v)}"`;
  }
  if (depth >= MAX_VALUE_DEPTH) throw new Unstorable(`nested more than ${MAX_VALUE_DEPTH} levels deep`);
  if (open.has(v)) throw new Unstorable('a circular reference');
  const proto = Object.getPrototypeOf(v) as unknown;
  let text: string;
  open.add(v);
  if (Array.isArray(v) && proto === Array.prototype) text = writeArray(v, depth, open);
  else if (proto === Object.prototype || proto === null) text = writePlain(v as Record<string, unknown>, depth, open);
  else throw new Unstorable(describeObject(v));
  open.delete(v);
  return text;
}

function writeArray(a: readonly unknown[], depth: number, open: Set<object>): string {
  let text = '[';
  let i = 0;
  try {
    for (; i < a.length; i++) {
      if (!Object.hasOwn(a, i)) throw new Unstorable('a hole in a sparse array');
      text += (i === 0 ? '' : ',') + write(a[i], depth + 1, open);
    }
  } catch (err) {
    if (err instanceof Unstorable) err.path.unshift(i);
    throw err;
  }
  if (Object.keys(a).length !== a.length) throw new Unstorable('an array with extra properties (JSON keeps only its elements)');
  return `${text}]`;
}

function writePlain(o: Record<string, unknown>, depth: number, open: Set<object>): string {
  for (const symbol of Object.getOwnPropertySymbols(o)) {
    if (Object.prototype.propertyIsEnumerable.call(o, symbol)) throw new Unstorable(`an object with a symbol key (${String(symbol)}), which JSON drops`);
  }
  let text = '{';
  let name = '';
  try {
    for (name of Object.keys(o)) {
      const item = o[name];
      if (item !== undefined) text += `${text.length === 1 ? '' : ','}${quote(name)}:${write(item, depth + 1, open)}`;
    }
  } catch (err) {
    if (err instanceof Unstorable) err.path.unshift(name);
    throw err;
  }
  return `${text}}`;
}

/** ` at "a.b[2]"`, or nothing for the value itself. */
function where(path: ReadonlyArray<string | number>): string {
  if (path.length === 0) return '';
  const text = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? (i === 0 ? p : `.${p}`) : `[${JSON.stringify(p)}]`)).join('');
  return ` at "${text}"`;
}

/** What a rejected object is, with the way to store its data instead. */
function describeObject(v: object): string {
  if (v instanceof Map || v instanceof Set) return `a ${v instanceof Map ? 'Map' : 'Set'} (convert it to an array or a plain object)`;
  if (v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) return `a ${v.constructor.name} (it cannot be stored)`;
  if (v instanceof Promise) return 'a Promise (await it first)';
  if (v instanceof RegExp) return 'a RegExp (store its source and flags as strings)';
  if (v instanceof Error) return 'an Error (store its message as a string)';
  if (Buffer.isBuffer(v)) return 'a Buffer (store buffer.toString("base64"))';
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `a ${v.constructor.name} (store an array of numbers, or a base64 string)`;
  if (v instanceof String || v instanceof Number || v instanceof Boolean) return 'a boxed primitive (store the primitive itself)';
  if (Array.isArray(v)) return 'an array subclass (store a plain array)';
  const name = typeof v.constructor === 'function' && v.constructor.name !== '' ? v.constructor.name : 'an object with a custom prototype';
  return `an instance of ${name}, not a plain object (copy its data into a plain object${'toJSON' in v ? ', e.g. value.toJSON()' : ''})`;
}

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

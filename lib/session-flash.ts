/**
 * Flash messages: a queue per type kept in the session under the reserved key `$sw:flash`,
 * changed only through `session.update()` (one compare-and-set), so that two tabs reading flashes
 * at once never both get the same message.
 * @module
 */
import { SessionValueError } from './errors';
import { serializeValue } from './value';

/** The reserved key the flash queues live under. @internal */
export const FLASH_KEY = '$sw:flash';

/** Every queued flash message, by type, oldest first. */
export type Flashes = Record<string, unknown[]>;

/** The most messages one type queues; older ones are dropped beyond it (a page that never shows flashes must not grow the session forever). */
export const MAX_FLASHES_PER_TYPE = 100;

/** Checks a flash type. @throws {SessionValueError} @internal */
export function checkFlashType(type: unknown): string {
  if (typeof type !== 'string' || type === '' || type.length > 100) {
    throw new SessionValueError(FLASH_KEY, `a flash type must be a non-empty string of at most 100 characters, e.g. "info" or "error" (got ${typeof type === 'string' ? `a string of ${type.length}` : typeof type}).`);
  }
  return type;
}

/** Checks that a message is JSON data, as `set` would. @throws {SessionValueError} @internal */
export function checkFlashMessage(type: string, message: unknown): void {
  serializeValue(`flash "${type}"`, message);
}

/** The queues with `message` appended to `type`'s (a new object: update functions must be pure). @internal */
export function queued(current: Flashes | undefined, type: string, message: unknown): Flashes {
  const list = [...(current?.[type] ?? []), message].slice(-MAX_FLASHES_PER_TYPE);
  return { ...current, [type]: list };
}

/** What is left once `type`'s queue (or every queue, without `type`) is taken: `undefined` when nothing is. @internal */
export function remaining(current: Flashes | undefined, type: string | undefined): Flashes | undefined {
  if (current === undefined || type === undefined) return undefined;
  const { [type]: _taken, ...rest } = current;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

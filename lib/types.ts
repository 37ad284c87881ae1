/**
 * Types users extend: the shape of their session data. (`req.session` on Express's `Request` is
 * declared next to `Session`, in `session.ts`.)
 * @module
 */

/**
 * Declares the keys your application keeps in sessions and their types. Empty by default; extend
 * it by declaration merging and `get`/`set` become typed for those keys. Undeclared keys still
 * work, typed as `unknown`.
 *
 * @example
 * ```ts
 * declare module 'sessionware' {
 *   interface SessionData {
 *     user: { id: number; name: string };
 *     cart: string[];
 *   }
 * }
 * const user = await req.session.get('user'); // { id: number; name: string } | undefined
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {}

/** Keys declared in {@link SessionData}. */
export type SessionKey = keyof SessionData & string;

/**
 * `req.sessionID` of `sessionware/express-session`: one accessor shared by all requests on
 * `http.IncomingMessage.prototype` (as `req.session` of the core), reading the id from the
 * request's state. Adding an own property to a request costs microseconds once Express has given
 * it a prototype of its own (V8 caches no transitions for such objects); express-session pays
 * that on every request. Assigning `req.sessionID` makes it a plain property, as in express-session.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { kState, type RequestState, type StatefulRequest } from '../request-state';
import { sharedAccessor } from '../shared-accessor';

const SESSION_ID_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: StatefulRequest): string | undefined {
    for (let s: RequestState | undefined = this[kState]; s !== undefined; s = s.outer) if (s.sessionID !== undefined) return s.sessionID;
    return undefined;
  },
  set(this: StatefulRequest, value: unknown) {
    Object.defineProperty(this, 'sessionID', { value, writable: true, enumerable: true, configurable: true });
  },
};

/** Shows `id` as `req.sessionID`: through the shared accessor, or as a plain property where the request does not reach it. @internal */
export function presentSessionId(req: IncomingMessage, state: RequestState, id: string): void {
  state.sessionID = id;
  if (!reachesAccessor(req)) (req as { sessionID?: string }).sessionID = id;
}

const reachesAccessor = sharedAccessor('sessionID', SESSION_ID_PROPERTY);

/**
 * sessionware: lazy, concurrency-safe sessions for Express and Connect, after GoFrame's gsession.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { session } from 'sessionware';
 *
 * const app = express();
 * app.use(session()); // FileStorage in the OS temp dir, 24 h TTL, cookie or header `sessionid`
 * app.get('/', async (req, res) => {
 *   const views = ((await req.session.get<number>('views')) ?? 0) + 1;
 *   await req.session.set('views', views);
 *   res.send(`views: ${views}`);
 * });
 * ```
 * @module
 */
export { session, type SessionMiddleware } from './middleware';
export type { SessionOptions, CookieOptions } from './options';
export { Manager, DEFAULT_TTL, DEFAULT_MAX_SESSION_BYTES, type ManagerOptions } from './manager';
export type { OwnerSession, RevokeOptions, SessionsOfOptions } from './manager-owners';
export { MAX_OWNER_LENGTH } from './session-owner';
export { Session, type IdFunc, type RegenerateOptions, type UpdateFunction } from './session';
export { RESERVED_PREFIX } from './session-meta';
export { serializeValue, MAX_VALUE_DEPTH } from './value';
export type { SessionData, SessionKey } from './types';
export { MemoryStorage, type MemoryStorageOptions } from './storage/memory';
export { FileStorage, type FileStorageOptions } from './storage/file/file-storage';
export { CookieStorage, type CookieStorageOptions } from './storage/cookie/cookie-storage';
export { CookieManager } from './storage/cookie/cookie-manager';
export type { EncryptionKey } from './storage/file/file-crypto';
export type { Storage, SessionRecord, SessionChanges, WriteOptions, MoveOptions, CompareAndSetResult, OwnedSession } from './storage/storage';
export { encodeRecord, decodeRecord, applyChanges } from './storage/record-codec';
export { generateId, isValidId, ID_PATTERN } from './id';
export { Signer } from './signer';
export { ExpressSessionSigner, type IdSigner } from './express-session-signer';
export {
  SessionError,
  SessionOptionsError,
  SessionStateError,
  SessionValueError,
  SessionConflictError,
  StorageError,
  LockTimeoutError,
  CorruptSessionError,
  type SessionErrorCode,
} from './errors';

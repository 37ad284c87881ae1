/**
 * How {@link RedisStorage} lays a session out in one Redis string, so that a write touches only
 * what changed instead of decoding and re-encoding the whole session inside Redis.
 *
 * ```text
 * S vvvvvvvv dddddddd                     header: 'S', version and dead bytes (8 hex digits each)
 * + kkkkkkkk llllllll <key> <value>       a live entry: key and value byte lengths (hex), key, JSON text
 * - kkkkkkkk llllllll <key> <value>       a dead entry (replaced or removed), skipped by readers
 * ```
 *
 * A write walks the entry headers (with `GETRANGE` while they are few, so the values of a large
 * session are never copied; in memory past 64 entries),
 * marks the entries it replaces or removes dead with a one-byte `SETRANGE`, `APPEND`s the new
 * entries and rewrites the header. Once dead bytes exceed live ones the script compacts the value
 * (one copy of the live entries): the cost stays proportional to the change, amortised.
 * The version changes on every write, which is what a Cluster `moveSession` checks.
 *
 * Values written by earlier versions (one JSON object of JSON texts, starting with `{`) are still
 * read, and rewritten in this layout by their next write.
 * @internal
 * @module
 */
import { decodeRecord } from '../record-codec';
import type { SessionRecord } from '../storage';

/** Bytes of the header and of each entry header. */
export const HEAD = 17;

const hex = (n: number): string => n.toString(16).padStart(8, '0');

/** Encodes a whole record (version 1, no dead entries), as a Cluster move writes the new key. */
export function encodeKv(record: SessionRecord): string {
  const parts = [`S${hex(1)}${hex(0)}`];
  for (const [key, value] of record) parts.push(`+${hex(Buffer.byteLength(key))}${hex(Buffer.byteLength(value))}`, key, value);
  return parts.join('');
}

/** A decoded value: the live record, and the header a Cluster move compares (`''` for the old layout). */
export interface KvValue {
  readonly record: Map<string, string>;
  readonly head: string;
}

/**
 * Decodes a stored value (this layout or the old JSON object).
 * @throws {TypeError} when it is neither (a corrupt value).
 */
export function decodeKv(raw: Buffer): KvValue {
  if (raw[0] === 0x7b) return { record: decodeRecord(raw.toString('utf8')), head: '' };
  if (raw[0] !== 0x53 || raw.length < HEAD) throw new TypeError('stored session has an unknown layout');
  const record = new Map<string, string>();
  let pos = HEAD;
  while (pos < raw.length) {
    if (pos + HEAD > raw.length) throw new TypeError('stored session is truncated');
    const klen = parseHex(raw, pos + 1);
    const vlen = parseHex(raw, pos + 9);
    const end = pos + HEAD + klen + vlen;
    if (end > raw.length) throw new TypeError('stored session is truncated');
    const flag = raw[pos];
    if (flag === 0x2b) record.set(raw.toString('utf8', pos + HEAD, pos + HEAD + klen), raw.toString('utf8', pos + HEAD + klen, end));
    else if (flag !== 0x2d) throw new TypeError('stored session has a bad entry');
    pos = end;
  }
  return { record, head: raw.toString('latin1', 0, HEAD) };
}

function parseHex(raw: Buffer, at: number): number {
  const text = raw.toString('latin1', at, at + 8);
  if (!/^[0-9a-f]{8}$/.test(text)) throw new TypeError('stored session has a bad length');
  return parseInt(text, 16);
}

/**
 * The Lua side of the layout, prepended to the scripts that use it: `open(key)` reads the entry
 * index (values stay in Redis), `commit(...)` applies a change, `entry(k, v)` encodes one entry.
 */
export const KV_LUA = `
local HEAD = 17
local function hex(n) return string.format('%08x', n) end
local function entry(k, v) return '+' .. hex(#k) .. hex(#v) .. k .. v end

-- The session at key: nil when missing or unreadable, else { version, dead, size, live, read }
-- where live[k] = { pos, len, klen } (0-based offsets) for the keys in want (every key when want
-- is nil), and read(a, b) returns bytes a..b. Walks the entry headers with GETRANGE while entries
-- are few and large (the values stay in Redis); past 64 entries it reads the value once instead.
local function open(key, want)
  local head = redis.call('GETRANGE', key, 0, HEAD - 1)
  if string.sub(head, 1, 1) == '{' then
    -- the old layout (a JSON object of JSON texts): rewritten in this one, expiry kept
    local ok, decoded = pcall(cjson.decode, redis.call('GET', key))
    if not ok or type(decoded) ~= 'table' then return nil end
    local out = { 'S' .. hex(0) .. hex(0) }
    for k, v in pairs(decoded) do
      if type(k) ~= 'string' or type(v) ~= 'string' then return nil end
      out[#out + 1] = entry(k, v)
    end
    redis.call('SET', key, table.concat(out), 'KEEPTTL')
    head = out[1]
  end
  if string.sub(head, 1, 1) ~= 'S' or #head < HEAD then return nil end
  local st = { version = tonumber(string.sub(head, 2, 9), 16), dead = tonumber(string.sub(head, 10, 17), 16), size = redis.call('STRLEN', key), live = {} }
  if not st.version or not st.dead then return nil end
  local lengths
  if want then
    lengths = {}
    for k in pairs(want) do lengths[#k] = true end
  end
  local raw = false
  if st.size <= 65536 then raw = redis.call('GET', key) end
  st.read = function(a, b)
    if raw then return string.sub(raw, a + 1, b + 1) end
    return redis.call('GETRANGE', key, a, b)
  end
  local pos, steps = HEAD, 0
  while pos < st.size do
    if not raw and steps >= 64 then raw = redis.call('GET', key) end
    local h, at = raw, pos
    if not raw then
      steps = steps + 1
      h, at = redis.call('GETRANGE', key, pos, pos + HEAD + 63), 0
    end
    local klen = tonumber(string.sub(h, at + 2, at + 9), 16)
    local vlen = tonumber(string.sub(h, at + 10, at + 17), 16)
    if not klen or not vlen then return nil end
    local len = HEAD + klen + vlen
    if string.byte(h, at + 1) == 43 and (not lengths or lengths[klen]) then
      local k
      if raw or klen <= 64 then k = string.sub(h, at + HEAD + 1, at + HEAD + klen) else k = redis.call('GETRANGE', key, pos + HEAD, pos + HEAD + klen - 1) end
      if not want or want[k] then st.live[k] = { pos = pos, len = len, klen = klen } end
    end
    pos = pos + len
  end
  if pos ~= st.size then return nil end
  return st
end

-- The JSON text of live entry e.
local function value(st, e) return st.read(e.pos + HEAD + e.klen, e.pos + e.len - 1) end

-- Marks the keys in drop dead, appends adds (encoded entries), bumps the version and sets the TTL;
-- st nil: creates the value. Compacts once dead bytes exceed live ones.
local function commit(key, st, drop, adds, ttl)
  if not st then
    table.insert(adds, 1, 'S' .. hex(1) .. hex(0))
    redis.call('SET', key, table.concat(adds), 'PX', ttl)
    return
  end
  local dead = st.dead
  for k in pairs(drop) do
    local e = st.live[k]
    if e then
      redis.call('SETRANGE', key, e.pos, '-')
      dead = dead + e.len
    end
  end
  local size = st.size
  if #adds > 0 then size = redis.call('APPEND', key, table.concat(adds)) end
  local version = (st.version + 1) % 4294967296
  if dead > 4096 and dead * 2 > size then
    local raw = redis.call('GET', key)
    local out = { 'S' .. hex(version) .. hex(0) }
    local pos = HEAD
    while pos < size do
      local len = HEAD + tonumber(string.sub(raw, pos + 2, pos + 9), 16) + tonumber(string.sub(raw, pos + 10, pos + 17), 16)
      if string.sub(raw, pos + 1, pos + 1) == '+' then out[#out + 1] = string.sub(raw, pos + 1, pos + len) end
      pos = pos + len
    end
    redis.call('SET', key, table.concat(out), 'PX', ttl)
  else
    redis.call('SETRANGE', key, 0, 'S' .. hex(version) .. hex(dead))
    redis.call('PEXPIRE', key, ttl)
  end
end
`;

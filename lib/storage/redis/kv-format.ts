/**
 * How `RedisStorage` lays a session out in one Redis string, so that a write touches only what
 * changed instead of decoding and re-encoding the whole session inside Redis.
 *
 * ```text
 * S vvvvvvvv dddddddd                    header: 'S', version and dead bytes (8 hex digits each)
 * 0xFF + kkkkkkkk <key> llllllll <value>  a live entry: key byte length (hex), key, value byte length, JSON text
 * 0xFF - kkkkkkkk <key> llllllll <value>  a dead entry (replaced or removed), skipped by readers
 * ```
 *
 * The byte 0xFF never occurs in UTF-8, and every key and value is a JavaScript string sent as
 * UTF-8: so each 0xFF starts an entry, and a write that touches a few keys finds the entry of key `k`
 * with one plain search for `0xFF + <length of k> k` (C speed, no parsing of the entries in
 * between); one that touches many walks the entries once. Sessions of
 * a few large entries are not even read: their headers are walked with `GETRANGE`. A write marks
 * the entries it replaces or removes dead with a one-byte `SETRANGE`, `APPEND`s the new entries and
 * rewrites the header. Once dead bytes exceed live ones the script compacts the value (one copy of
 * the live entries): the cost stays proportional to the change, amortised. The version changes on
 * every write, which is what a Cluster `moveSession` checks.
 *
 * Values written by earlier versions (one JSON object of JSON texts, starting with `{`) are still
 * read, and rewritten in this layout by their next write.
 * @internal
 * @module
 */
import { decodeRecord } from '../record-codec';
import type { SessionRecord } from '../storage';

/** Bytes of the header. */
export const HEAD = 17;

const hex = (n: number): string => n.toString(16).padStart(8, '0');

/** Encodes a whole record (version 1, no dead entries), as a Cluster move writes the new key. */
export function encodeKv(record: SessionRecord): Buffer {
  const parts = [Buffer.from(`S${hex(1)}${hex(0)}`, 'latin1')];
  for (const [key, value] of record) {
    const k = Buffer.from(key, 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(Buffer.from([0xff, 0x2b]), Buffer.from(hex(k.length), 'latin1'), k, Buffer.from(hex(v.length), 'latin1'), v);
  }
  return Buffer.concat(parts);
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
    const flag = raw[pos + 1];
    if (raw[pos] !== 0xff || (flag !== 0x2b && flag !== 0x2d)) throw new TypeError('stored session has a bad entry');
    const keyAt = pos + 10;
    const klen = parseHex(raw, pos + 2);
    const valueAt = keyAt + klen + 8;
    const end = valueAt + parseHex(raw, keyAt + klen);
    if (end > raw.length) throw new TypeError('stored session is truncated');
    if (flag === 0x2b) record.set(raw.toString('utf8', keyAt, keyAt + klen), raw.toString('utf8', valueAt, end));
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
local function entry(k, v) return '\\255+' .. hex(#k) .. k .. hex(#v) .. v end

-- Parses the entry at 0-based pos of raw: flag byte, key length, entry length; nil when malformed.
local function parse(raw, pos)
  if string.byte(raw, pos + 1) ~= 255 then return nil end
  local klen = tonumber(string.sub(raw, pos + 3, pos + 10), 16)
  if not klen then return nil end
  local vhex = string.sub(raw, pos + 11 + klen, pos + 18 + klen)
  local vlen = #vhex == 8 and tonumber(vhex, 16)
  if not vlen then return nil end
  return string.byte(raw, pos + 2), klen, 18 + klen + vlen
end

-- The session at key: nil when missing or unreadable, else { version, dead, size, live, read }
-- where live[k] = { pos, len, klen } (0-based offsets) for the keys in want (every key when want
-- is nil), and read(a, b) returns bytes a..b.
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
    local pttl = redis.call('PTTL', key)
    if pttl > 0 then redis.call('SET', key, table.concat(out), 'PX', pttl) else redis.call('SET', key, table.concat(out)) end
    head = out[1]
  end
  if string.sub(head, 1, 1) ~= 'S' or #head < HEAD then return nil end
  local st = { version = tonumber(string.sub(head, 2, 9), 16), dead = tonumber(string.sub(head, 10, 17), 16), size = redis.call('STRLEN', key), live = {} }
  if not st.version or not st.dead then return nil end
  local raw = false
  st.read = function(a, b)
    if raw then return string.sub(raw, a + 1, b + 1) end
    return redis.call('GETRANGE', key, a, b)
  end
  local pos = HEAD
  if st.size > 65536 then
    -- few large entries: walk their headers in place, the values stay in Redis
    for _ = 1, 64 do
      if pos >= st.size then break end
      local h = redis.call('GETRANGE', key, pos, pos + 81)
      local flag, klen, len = parse(h, 0)
      if not flag then
        if not klen and string.byte(h, 1) == 255 and #h == 82 then break end -- a long key: search below
        return nil
      end
      local k = string.sub(h, 11, 10 + klen)
      if flag == 43 and (not want or want[k]) then st.live[k] = { pos = pos, len = len, klen = klen } end
      pos = pos + len
    end
    if pos == st.size then return st end
    if pos > st.size then return nil end
  end
  raw = redis.call('GET', key)
  local wanted = 0
  if want then for _ in pairs(want) do wanted = wanted + 1 end end
  if want and wanted <= 16 then
    -- each 0xFF starts an entry: find the few wanted ones directly (a walk is cheaper for many)
    for k in pairs(want) do
      local at = string.find(raw, '\\255+' .. hex(#k) .. k, HEAD + 1, true)
      if at then
        local flag, klen, len = parse(raw, at - 1)
        if not flag then return nil end
        st.live[k] = { pos = at - 1, len = len, klen = klen }
      end
    end
    return st
  end
  while pos < st.size do
    local flag, klen, len = parse(raw, pos)
    if not flag then return nil end
    if flag == 43 then
      local k = string.sub(raw, pos + 11, pos + 10 + klen)
      if not want or want[k] then st.live[k] = { pos = pos, len = len, klen = klen } end
    end
    pos = pos + len
  end
  if pos ~= st.size then return nil end
  return st
end

-- The JSON text of live entry e.
local function value(st, e) return st.read(e.pos + 18 + e.klen, e.pos + e.len - 1) end

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
      redis.call('SETRANGE', key, e.pos + 1, '-')
      dead = dead + e.len
    end
  end
  local size = st.size
  if #adds > 0 then size = redis.call('APPEND', key, table.concat(adds)) end
  local version = (st.version + 1) % 4294967296
  if dead * 2 > size then
    local raw = redis.call('GET', key)
    local out = { 'S' .. hex(version) .. hex(0) }
    local pos = HEAD
    while pos < size do
      local flag, _, len = parse(raw, pos)
      if not flag then return redis.error_reply('corrupt session value') end
      if flag == 43 then out[#out + 1] = string.sub(raw, pos + 1, pos + len) end
      pos = pos + len
    end
    redis.call('SET', key, table.concat(out), 'PX', ttl)
  else
    redis.call('SETRANGE', key, 0, 'S' .. hex(version) .. hex(dead))
    redis.call('PEXPIRE', key, ttl)
  end
end
`;

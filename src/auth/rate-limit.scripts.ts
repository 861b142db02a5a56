/**
 * The rate limiter's Redis scripts (registered with ioredis `defineCommand`: EVALSHA, loaded on NOSCRIPT, also
 * inside pipelines). Each runs atomically and reads the clock with Redis `TIME`, so every node agrees on time.
 *
 * Keys (all under `redis.key_prefix`, `<user>` percent-encoded so that no id can reach into another's keys):
 *   rl:req:<user>      sorted set: one member per counted request (`<node>:<seq>`), scored by its Redis time (ms);
 *                      expires a window after the newest request
 *   rl:streams:<user>  sorted set: one member per open stream (`<node>:<stream id>`), scored by its lease's
 *                      expiry (ms); expires a lease ttl after the newest lease was taken or refreshed
 */

const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Sliding log over a rolling window. KEYS: requests. ARGV: limit, window (ms), member.
 * Drops the entries that left the window; counts the request when fewer than `limit` remain. Returns
 * { allowed (0/1), retry after (ms; when refused: until the entry whose leaving makes room does), count }.
 * Refused requests are not counted.
 */
export const HIT_LUA = `${NOW_MS}
local key = KEYS[1]
local limit, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return { 1, 0, count + 1 }
end
local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
local retry = tonumber(entry[2]) + window - now
if retry < 1 then retry = 1 end
return { 0, retry, count }
`;

/**
 * KEYS: streams. ARGV: limit, lease ttl (ms), member.
 * Drops expired leases; a member holding a lease already has it renewed; otherwise a lease is added when fewer
 * than `limit` are held. Returns { allowed (0/1), count }.
 */
export const ACQUIRE_LUA = `${NOW_MS}
local key = KEYS[1]
local limit, ttl, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local count = redis.call('ZCARD', key)
if not redis.call('ZSCORE', key, member) then
  if count >= limit then return { 0, count } end
  count = count + 1
end
redis.call('ZADD', key, now + ttl, member)
redis.call('PEXPIRE', key, ttl)
return { 1, count }
`;

/**
 * KEYS: streams. ARGV: lease ttl (ms), then members. Renews the leases of the given members, re-adding any that
 * expired meanwhile (the stream is still open, so it counts, even if that puts the user over the limit for a
 * while: new streams are refused until enough end). Returns the number of leases renewed.
 */
export const REFRESH_LUA = `${NOW_MS}
local key = KEYS[1]
local ttl = tonumber(ARGV[1])
local expiry = now_ms() + ttl
for i = 2, #ARGV do redis.call('ZADD', key, expiry, ARGV[i]) end
redis.call('PEXPIRE', key, ttl)
return #ARGV - 1
`;

/**
 * KEYS: requests, streams. ARGV: window (ms). Read-only. Returns { requests in the window, live leases }.
 */
export const USAGE_LUA = `${NOW_MS}
local now = now_ms()
local window = tonumber(ARGV[1])
return {
  redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - window), '+inf'),
  redis.call('ZCOUNT', KEYS[2], string.format('(%d', now), '+inf')
}
`;

/**
 * The revocation list's Redis scripts (ioredis `defineCommand`). Each runs atomically: the change, the version
 * bump and the pub/sub message go together, so a node that reads the version has seen every change before it.
 *
 * Keys (all under `redis.key_prefix`):
 *   revocations          sorted set: one member per revocation (`jti:<id>`, `sub:<user>`), scored by when it
 *                        may be forgotten (ms); expires with its last member
 *   revocations:data     hash: member -> the revocation as JSON; expires with the sorted set
 *   revocations:version  counter bumped by every change (nodes re-read the list when it moved)
 * Channel `revocations:changes`: `{"op":"add","version":n,"revocation":{...}}` or
 * `{"op":"remove","version":n,"kind":...,"value":...}`.
 */

const PRUNE = `
local function prune(index, data, now)
  local gone = redis.call('ZRANGEBYSCORE', index, '-inf', now)
  for i = 1, #gone, 500 do
    redis.call('HDEL', data, unpack(gone, i, math.min(i + 499, #gone)))
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', index, '-inf', now) end
end
`;

/**
 * KEYS: index, data, version. ARGV: member, revocation JSON, retain until (ms), now (ms), channel.
 * Drops the entries past their time, stores this one (replacing an earlier one of the same member), makes both
 * keys expire with their longest-lived member, bumps the version and publishes. Returns the new version.
 */
export const ADD_LUA = `${PRUNE}
local index, data, version = KEYS[1], KEYS[2], KEYS[3]
local member, record, retain, now, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
prune(index, data, now)
redis.call('ZADD', index, retain, member)
redis.call('HSET', data, member, record)
local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
local latest = tonumber(last[2])
redis.call('PEXPIREAT', index, latest)
redis.call('PEXPIREAT', data, latest)
local v = redis.call('INCR', version)
redis.call('PUBLISH', channel, '{"op":"add","version":' .. v .. ',"revocation":' .. record .. '}')
return v
`;

/**
 * KEYS: index, data, version. ARGV: member, channel, message prefix (`{"op":"remove",...` without the version).
 * Returns 1 when the member was there (then the version moved and the removal was published), else 0.
 */
export const REMOVE_LUA = `
local index, data, version = KEYS[1], KEYS[2], KEYS[3]
local member, channel, head = ARGV[1], ARGV[2], ARGV[3]
local removed = redis.call('ZREM', index, member)
redis.call('HDEL', data, member)
if removed == 0 then return 0 end
local v = redis.call('INCR', version)
redis.call('PUBLISH', channel, head .. ',"version":' .. v .. '}')
return 1
`;

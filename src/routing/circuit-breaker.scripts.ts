import { createHash } from 'node:crypto';

/**
 * The circuit breaker's Redis scripts. Each runs atomically, reads the clock with Redis `TIME` (so every node
 * agrees on time), and publishes its own transitions, so the state change and its announcement cannot part.
 *
 * Keys (all under `redis.key_prefix`):
 *   circuit:<provider>:<model>         hash: provider, model, state, changed_at, opened_at, retry_at,
 *                                      successes (half-open), seq (trial ids), r:<bucket> / f:<bucket> counts
 *   circuit:<provider>:<model>:trials  sorted set of half-open trials in flight, scored by their expiry
 *   circuits                           set of circuit ids (`<provider>:<model>`) for listing
 * (`%` and `:` inside a provider or model are escaped as %25 and %3A.) Buckets are numbered
 * floor(now / bucket_ms); the window is the newest `buckets` of them.
 *
 * Every script answers the same array, read by `parseReply`:
 *   { state, allowed (0/1), trial (0/1), retry_at ms, now ms, changed_at ms, from ('' = no transition),
 *     requests, failures }
 * `state` is `missing` when reset finds no circuit.
 */

export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(body: string): LuaScript {
  const source = PRELUDE + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function load(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

local function announce(channel, provider, model, node, from, to, now, extra)
  local msg = { provider = provider, model = model, node = node, from = from, to = to, atMs = now }
  for k, v in pairs(extra or {}) do msg[k] = v end
  redis.call('PUBLISH', channel, cjson.encode(msg))
end

-- The circuit lives for ttl (idle circuits are forgotten), and the index at least as long as any circuit.
local function keep(key, index, id, ttl)
  redis.call('PEXPIRE', key, ttl)
  redis.call('SADD', index, id)
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end
`;

/**
 * KEYS: circuit, trials, index. ARGV: id, provider, model, node, channel, cool_down, half_open_trials, ttl.
 * Closed: allowed. Open and cooling down: refused until retry_at. Open past its cool-down: half-open (announced),
 * then a trial is handed out while fewer than half_open_trials are in flight (expired ones do not count).
 */
export const ADMIT = script(`
local key, trials, index = KEYS[1], KEYS[2], KEYS[3]
local id, provider, model, node, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cool_down, needed, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now = now_ms()
local h = load(key)
local state = h.state or 'closed'
local changed_at = tonumber(h.changed_at or '0')
if state == 'closed' then return { 'closed', 1, 0, 0, now, changed_at, '', 0, 0 } end

local from = ''
if state == 'open' then
  local retry_at = tonumber(h.retry_at)
  if now < retry_at then return { 'open', 0, 0, retry_at, now, changed_at, '', 0, 0 } end
  redis.call('DEL', trials)
  redis.call('HSET', key, 'state', 'half_open', 'successes', 0, 'changed_at', now)
  redis.call('HDEL', key, 'retry_at')
  state, from, changed_at = 'half_open', 'open', now
  announce(channel, provider, model, node, 'open', 'half_open', now)
end

redis.call('ZREMRANGEBYSCORE', trials, '-inf', now)
local allowed, trial, retry_at = 0, 0, 0
if redis.call('ZCARD', trials) < needed then
  local seq = redis.call('HINCRBY', key, 'seq', 1)
  redis.call('ZADD', trials, now + cool_down, seq)
  redis.call('PEXPIRE', trials, cool_down)
  allowed, trial = 1, 1
else
  retry_at = tonumber(redis.call('ZRANGE', trials, 0, 0, 'WITHSCORES')[2])
end
keep(key, index, id, ttl)
return { state, allowed, trial, retry_at, now, changed_at, from, 0, 0 }
`);

/**
 * KEYS: circuit, trials, index. ARGV: id, provider, model, node, channel, successes, failures, trial (0/1),
 * bucket_ms, buckets, threshold (%), min_requests, cool_down, half_open_trials, ttl.
 * Closed: counts the outcomes (a node sends its successes in batches, and with its next failure) in the
 * current bucket, drops expired buckets, opens when the window holds min_requests and the failure share
 * reaches threshold. Half-open trial (one outcome): a success counts toward closing (which clears the window),
 * a failure opens again with a fresh cool-down. Other outcomes while open or half-open are not counted.
 */
export const RECORD = script(`
local key, trials, index = KEYS[1], KEYS[2], KEYS[3]
local id, provider, model, node, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local successes, fails, trial = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
local ok = fails == 0
local bucket_ms, buckets = tonumber(ARGV[9]), tonumber(ARGV[10])
local threshold, min_requests = tonumber(ARGV[11]), tonumber(ARGV[12])
local cool_down, needed, ttl = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local now = now_ms()
local h = load(key)
local state = h.state or 'closed'
local changed_at = tonumber(h.changed_at or '0')
local retry_at = tonumber(h.retry_at or '0')
local from = ''
local requests, failures = 0, 0

if state == 'closed' then
  local current = math.floor(now / bucket_ms)
  local oldest = current - buckets + 1
  local stale = {}
  for field, value in pairs(h) do
    local kind, n = string.match(field, '^([rf]):(%d+)$')
    if kind then
      if tonumber(n) < oldest then
        stale[#stale + 1] = field
      elseif kind == 'r' then
        requests = requests + tonumber(value)
      else
        failures = failures + tonumber(value)
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  if not h.state then
    changed_at = now
    redis.call('HSET', key, 'provider', provider, 'model', model, 'state', 'closed', 'changed_at', now)
  end
  redis.call('HINCRBY', key, 'r:' .. current, successes + fails)
  requests = requests + successes + fails
  if fails > 0 then
    redis.call('HINCRBY', key, 'f:' .. current, fails)
    failures = failures + fails
  end
  if requests >= min_requests and failures * 100 >= threshold * requests then
    state, from, changed_at, retry_at = 'open', 'closed', now, now + cool_down
    redis.call('HSET', key, 'state', 'open', 'opened_at', now, 'retry_at', retry_at, 'changed_at', now)
    local rate = math.floor(failures * 10000 / requests + 0.5) / 100
    announce(channel, provider, model, node, 'closed', 'open', now, { errorRate = rate, retryAtMs = retry_at })
  end
elseif state == 'half_open' and trial then
  redis.call('ZPOPMIN', trials)
  if ok then
    if redis.call('HINCRBY', key, 'successes', 1) >= needed then
      state, from, changed_at = 'closed', 'half_open', now
      redis.call('DEL', key, trials)
      redis.call('HSET', key, 'provider', provider, 'model', model, 'state', 'closed', 'changed_at', now)
      announce(channel, provider, model, node, 'half_open', 'closed', now)
    end
  else
    state, from, changed_at, retry_at = 'open', 'half_open', now, now + cool_down
    redis.call('DEL', trials)
    redis.call('HDEL', key, 'successes')
    redis.call('HSET', key, 'state', 'open', 'opened_at', now, 'retry_at', retry_at, 'changed_at', now)
    announce(channel, provider, model, node, 'half_open', 'open', now, { retryAtMs = retry_at })
  end
else
  return { state, 1, 0, retry_at, now, changed_at, '', 0, 0 }
end

if state == 'open' then keep(key, index, id, retry_at - now + ttl) else keep(key, index, id, ttl) end
return { state, 1, 0, retry_at, now, changed_at, from, requests, failures }
`);

/**
 * KEYS: circuit, trials, index. ARGV: id, provider, model, node, channel, ttl.
 * Forces a known circuit closed with an empty window (announced unless it was closed already).
 */
export const RESET = script(`
local key, trials, index = KEYS[1], KEYS[2], KEYS[3]
local id, provider, model, node, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl = tonumber(ARGV[6])
local now = now_ms()
local h = load(key)
if not h.state then return { 'missing', 0, 0, 0, now, 0, '', 0, 0 } end
redis.call('DEL', key, trials)
redis.call('HSET', key, 'provider', provider, 'model', model, 'state', 'closed', 'changed_at', now)
keep(key, index, id, ttl)
local from = ''
if h.state ~= 'closed' then
  from = h.state
  announce(channel, provider, model, node, from, 'closed', now)
end
return { 'closed', 1, 0, 0, now, now, from, 0, 0 }
`);

/**
 * KEYS: index, then circuits to check. ARGV: their ids. Drops from the index the circuits that expired.
 */
export const PRUNE = script(`
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[1], ARGV[i - 1]) end
end
return 0
`);

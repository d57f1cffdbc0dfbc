package store

import "github.com/redis/go-redis/v9"

// writeScript applies one learner's write atomically, guarded by the last
// applied offset of the source partition.
//
//	KEYS[1] decisions hash   KEYS[2] state string
//	KEYS[3] offsets hash     KEYS[4] engagement hash
//	KEYS[5] skills hash
//	ARGV[1] partition        ARGV[2] offset (decimal, no leading zeros)
//	ARGV[3] TTL in ms (0: leave expiry alone)
//	ARGV[4] "1": set state to ARGV[6]; "0": leave state alone
//	ARGV[5] "1": a refresh (no new event): apply when the stored offset is
//	        <= ARGV[2]; "0": apply only when it is < ARGV[2]
//	ARGV[7] n decision fields, then n field/value pairs
//	then    m engagement fields, then m field/value pairs
//	then    k skill fields, then k field/value pairs
//
// Returns 1 when applied, 0 when stale: the stored offset is >= ARGV[2]
// (> for a refresh): already applied, e.g. a redelivery or a retried
// pipeline, or a write from an owner that lost the learner.
//
// The offset is written last: Redis does not roll back a script that fails
// half way (WRONGTYPE, OOM), and with the offset unchanged the retried write
// applies again, setting the same absolute values.
//
// Offsets are compared as decimal strings (length, then bytes), never as Lua
// numbers, which are doubles and lose precision past 2^53.
const writeScriptSrc = `
local function ge(a, b)
  if #a ~= #b then return #a > #b end
  for k = 1, #a do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x > y end
  end
  return true
end
local off = ARGV[2]
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if cur then
  if ARGV[5] == '1' then
    if cur ~= off and ge(cur, off) then return 0 end
  elseif ge(cur, off) then
    return 0
  end
end
if ARGV[4] == '1' then redis.call('SET', KEYS[2], ARGV[6]) end
local i = 7
local function hset(key)
  local n = tonumber(ARGV[i])
  i = i + 1
  local last = i + 2 * n - 1
  while i <= last do
    local j = i + 399
    if j > last then j = last end
    redis.call('HSET', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
hset(KEYS[1])
hset(KEYS[4])
hset(KEYS[5])
redis.call('HSET', KEYS[3], ARGV[1], off)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  for k = 1, #KEYS do redis.call('PEXPIRE', KEYS[k], ttl) end
end
return 1
`

var writeScript = redis.NewScript(writeScriptSrc)

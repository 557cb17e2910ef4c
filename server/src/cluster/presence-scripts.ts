/**
 * The presence directory's Lua scripts (SPEC CLUSTER-9..CLUSTER-11). Each runs atomically, so
 * a sweep never interleaves with a node re-registering. They read keys they derive from
 * stored node IDs (not passed in KEYS): one Redis (with replicas, or Sentinel) works, Redis
 * Cluster does not (docs/CLUSTER.md).
 */
import { redisScript } from './redis-script.js';

/**
 * KEYS[1] presence hash; ARGV[1] node key prefix. 1 when a field names a node whose key
 * still exists (the node heartbeats), else 0.
 */
export const IS_ONLINE = redisScript(`
for _, node in ipairs(redis.call('HKEYS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 1 then return 1 end
end
return 0`);

/**
 * KEYS[1] node key, KEYS[2] nodes set, KEYS[3] node-devices set, KEYS[4..] the presence
 * hashes the node holds now; ARGV[1] node ID, ARGV[2] node TTL (ms). Removes the node from
 * every hash it was in, adds it to exactly the given ones, and sets its key: the node's
 * presence in Redis is its memory again, whatever was lost or failed before.
 */
export const RESYNC = redisScript(`
local node = ARGV[1]
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('HDEL', key, node) end
redis.call('DEL', KEYS[3])
for i = 4, #KEYS do
  redis.call('HSET', KEYS[i], node, '1')
  redis.call('SADD', KEYS[3], KEYS[i])
end
redis.call('SADD', KEYS[2], node)
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
return #KEYS - 3`);

/** KEYS[1] node key, KEYS[2] nodes set, KEYS[3] node-devices set; ARGV[1] node ID. A graceful leave. */
export const LEAVE = redisScript(`
local node = ARGV[1]
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('HDEL', key, node) end
redis.call('DEL', KEYS[3], KEYS[1])
redis.call('SREM', KEYS[2], node)
return 1`);

/**
 * KEYS[1] nodes set; ARGV[1] node key prefix, ARGV[2] node-devices prefix. Removes every
 * node whose key expired from the hashes it was in. Answers how many nodes it removed.
 */
export const SWEEP = redisScript(`
local swept = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 0 then
    local set = ARGV[2] .. node
    for _, key in ipairs(redis.call('SMEMBERS', set)) do redis.call('HDEL', key, node) end
    redis.call('DEL', set)
    redis.call('SREM', KEYS[1], node)
    swept = swept + 1
  end
end
return swept`);

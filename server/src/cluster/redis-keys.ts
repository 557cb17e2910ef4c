/**
 * Every Redis name the cluster uses (SPEC CLUSTER-1), under one prefix so several clusters
 * (or test runs) share a Redis without touching each other's keys. Account and device IDs
 * exclude `/` (ID-3), so `<account>/<device>` splits in exactly one way.
 */
export const DEFAULT_REDIS_PREFIX = 'badgesync:';

/** Printable ASCII without spaces (it becomes part of client names, which refuse spaces), 1–64 bytes. */
const PREFIX_PATTERN = /^[\x21-\x7e]{1,64}$/;

export function isRedisPrefix(value: unknown): value is string {
  return typeof value === 'string' && PREFIX_PATTERN.test(value);
}

export function assertRedisPrefix(prefix: string): void {
  if (!isRedisPrefix(prefix)) {
    throw new RangeError(`BADGESYNC_REDIS_PREFIX must be 1-64 printable ASCII characters without spaces`);
  }
}

/** The one pub/sub channel of the update bus. */
export function updatesChannel(prefix: string): string {
  return `${prefix}updates`;
}

/** [CLUSTER-47] The channel a draining node names itself on once it handed its push entries over. */
export function handoverChannel(prefix: string): string {
  return `${prefix}push-handover`;
}

/** A string key: exists while the node heartbeats (it expires otherwise). */
export function nodeKey(prefix: string, node: string): string {
  return `${prefix}node:${node}`;
}

/** The set of presence keys a node holds a device in, for the sweep of a dead node. */
export function nodeDevicesKey(prefix: string, node: string): string {
  return `${prefix}node-devices:${node}`;
}

/** The set of every node that registered presence (swept when dead). */
export function nodesKey(prefix: string): string {
  return `${prefix}nodes`;
}

/** A hash: field = node ID holding a connection of the device to the account. */
export function presenceKey(prefix: string, account: string, device: string): string {
  return `${prefix}presence:${account}/${device}`;
}

/** The name the bus and the directory give their connections (CLIENT SETNAME), to find them in CLIENT LIST. */
export function connectionName(prefix: string, role: 'pub' | 'sub' | 'presence', node: string): string {
  return `${prefix}${role}:${node}`;
}

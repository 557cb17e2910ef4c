/**
 * The ID a node of the cluster goes by on the update bus and in the presence directory
 * (SPEC CLUSTER-1): printable ASCII without spaces, so it is also a valid Redis client name
 * (CLIENT SETNAME refuses spaces) and a safe part of a key.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Long enough for a hostname, a pid and a random suffix; short enough to ride in every bus frame. */
export const MAX_NODE_ID_BYTES = 128;

const NODE_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID_PATTERN.test(value);
}

/**
 * `BADGESYNC_NODE_ID`'s default: hostname, pid and 6 random bytes, so two processes on one
 * host, or a process restarted with the same pid (containers), never share an ID.
 */
export function defaultNodeId(): string {
  const host =
    hostname()
      .replace(/[^\x21-\x7e]/g, '_')
      .slice(0, 80) || 'node';
  return `${host}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

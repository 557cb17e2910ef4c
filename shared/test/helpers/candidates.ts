/**
 * Candidate updates for the differential fuzz of the write rules: honest planner writes of a
 * device, and forgeries built on what that device could honestly send (byte mutations,
 * structural edits, updates from scratch, another device's update, writes wrong in one way only). Used against the pure
 * write rules (write-rules.fuzz.test.ts) and against the server's own room (server/test).
 */
import * as Y from 'yjs';
import { accountMaps, type DeviceId, SERVER_DEVICE, type ThreadId } from '../../src/index.js';
import { byteForgery, poolsOf, scratchForgery, structuralForgery } from './forgeries.js';
import type { Rng } from './rng.js';
import { DeviceReplica, REMOTE, THREADS } from './world.js';

export const KINDS = ['honest', 'bytes', 'structure', 'structure', 'scratch', 'foreign', 'impersonate'] as const;
export type Kind = (typeof KINDS)[number];

export interface Candidate {
  readonly kind: Kind;
  readonly device: DeviceId;
  readonly update: Uint8Array;
}

/** One to three planner writes on `replica`; the resulting update, or null if none changed anything. */
export function honestWrites(rng: Rng, replica: DeviceReplica): Uint8Array | null {
  const writes = rng.range(1, 3);
  for (let i = 0; i < writes; i++) {
    const thread = rng.pick(THREADS) as ThreadId;
    const head = replica.tracker.head(thread);
    switch (rng.int(5)) {
      case 0:
      case 1:
        replica.read(thread, rng.int(head + 3));
        break;
      case 2:
        try {
          replica.unread(thread, rng.range(1, head + 1));
        } catch {
          replica.read(thread, head);
        }
        break;
      case 3:
        replica.allRead();
        break;
      default:
        replica.mute(thread, rng.pick([true, false, null]));
    }
  }
  return replica.take();
}

/** A throwaway copy of a device replica (same client ID) to write honest updates that are never sent. */
export function scratchCopy(replica: DeviceReplica): DeviceReplica {
  const copy = new DeviceReplica(replica.id);
  Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(replica.doc), REMOTE);
  // Only now: Yjs picks a new client ID when a remote update writes under its own.
  copy.doc.clientID = replica.clientId;
  return copy;
}

/**
 * Writes that are honest in every way but one, so that each rule is tested alone: the
 * planners' writes made under `author`'s own client ID but in another device's name (its
 * markers, or @server's), or a head moved by a device. Built on a scratch copy.
 */
function impersonation(rng: Rng, author: DeviceReplica, devices: readonly DeviceReplica[]): Uint8Array | null {
  if (rng.chance(0.2)) {
    const copy = scratchCopy(author);
    const thread = rng.pick(THREADS) as ThreadId;
    accountMaps(copy.doc).heads.set(thread, copy.tracker.head(thread) + rng.range(0, 2));
    return copy.take();
  }
  const victims = [...devices.filter((d) => d !== author).map((d) => d.id), SERVER_DEVICE];
  const copy = new DeviceReplica(rng.pick(victims));
  Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(author.doc), REMOTE);
  copy.doc.clientID = author.clientId;
  return honestWrites(rng, copy);
}

/**
 * A candidate of `kind` written by `author` (a replica up to date with `serverDoc`), sent by
 * `author` or, for 'foreign', by another of `devices`. An 'honest' candidate is written on the
 * author's replica itself; forgeries only on a scratch copy. Null when nothing was written.
 */
export function makeCandidate(
  rng: Rng,
  kind: Kind,
  author: DeviceReplica,
  devices: readonly DeviceReplica[],
  serverDoc: Y.Doc,
  bindings: ReadonlyMap<number, DeviceId>,
): Candidate | null {
  if (kind === 'honest') {
    const update = honestWrites(rng, author);
    return update === null ? null : { kind, device: author.id, update };
  }
  if (kind === 'impersonate') {
    const update = impersonation(rng, author, devices);
    return update === null ? null : { kind, device: author.id, update };
  }
  const base = honestWrites(rng, scratchCopy(author)) ?? Y.encodeStateAsUpdate(author.doc);
  if (kind === 'foreign') {
    const sender = rng.pick(devices.filter((d) => d !== author));
    return { kind, device: sender.id, update: base };
  }
  const pools = poolsOf(serverDoc, author.id, bindings);
  const update =
    kind === 'bytes'
      ? byteForgery(rng, base)
      : kind === 'structure'
        ? structuralForgery(rng, pools, base)
        : scratchForgery(rng, pools);
  return { kind, device: author.id, update };
}

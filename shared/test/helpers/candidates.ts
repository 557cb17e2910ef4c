/**
 * Candidate updates for the differential fuzz of the v2 write rules: honest planner writes of
 * a device (also from a second, concurrent session of it), and forgeries built on what that device could honestly send (byte mutations,
 * structural edits, updates from scratch, another device's update, writes wrong in one way only). Used against the pure
 * write rules (write-rules.fuzz.test.ts) and against the server's own room (server/test).
 */
import * as Y from 'yjs';
import {
  type DeviceId,
  HEADS_ROOT,
  KeyValueArray,
  MAX_EPOCH_LEAD,
  MAX_MUTE_LEAD,
  muteKey,
  packMarker,
  packMuteStamp,
  SERVER_DEVICE,
  type ThreadId,
  unpackMarker,
  unpackMuteStamp,
} from '../../src/index.js';
import { byteForgery, poolsOf, scratchForgery, structuralForgery } from './forgeries.js';
import type { Rng } from './rng.js';
import { DeviceReplica, REMOTE, THREADS } from './world.js';

export const KINDS = [
  'honest',
  'session',
  'bytes',
  'structure',
  'structure',
  'scratch',
  'foreign',
  'impersonate',
  'overreach',
] as const;
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
        try {
          replica.mute(thread, rng.pick([true, false, null]));
        } catch (err) {
          if (!(err instanceof RangeError)) throw err; // [MARK-7] "sync first": nothing written
        }
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
    new KeyValueArray(copy.doc, HEADS_ROOT).set(thread, copy.tracker.head(thread) + rng.range(0, 2));
    return copy.take();
  }
  const victims = [...devices.filter((d) => d !== author).map((d) => d.id), SERVER_DEVICE];
  const copy = new DeviceReplica(rng.pick(victims));
  Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(author.doc), REMOTE);
  copy.doc.clientID = author.clientId;
  return honestWrites(rng, copy);
}

/**
 * A write of the author's own array, through KeyValueArray as an SDK would, with a value just
 * past (or at) one per-key limit: a lowered marker or mute stamp, an epoch, seq or mute counter
 * too far ahead. Built on a scratch copy.
 */
function overreach(rng: Rng, author: DeviceReplica): Uint8Array | null {
  const copy = scratchCopy(author);
  const thread = rng.pick(THREADS) as ThreadId;
  const view = copy.tracker;
  const { epoch } = unpackMarker(view.maxMarker(thread));
  const own = view.markers(thread).get(author.id) ?? 0;
  const counter = unpackMuteStamp(view.muteStamp(thread)).counter;
  const ownStamp = view.muteStamps(thread).get(author.id) ?? 0;
  switch (rng.int(5)) {
    case 0:
      copy.entries.set(thread, Math.max(0, own - rng.range(0, 2)));
      break;
    case 1:
      copy.entries.set(thread, packMarker(epoch + MAX_EPOCH_LEAD + rng.range(0, 1), 0));
      break;
    case 2:
      copy.entries.set(thread, packMarker(epoch, view.head(thread) + rng.range(0, 1)));
      break;
    case 3:
      copy.entries.set(muteKey(thread), packMuteStamp(counter + MAX_MUTE_LEAD + rng.range(0, 1), rng.chance(0.5)));
      break;
    default:
      copy.entries.set(muteKey(thread), Math.max(2, ownStamp - rng.range(0, 2)));
  }
  return copy.take();
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
  // 'session': the caller passes the author's second session (a replica that may be behind)
  // as the author; its writes are honest.
  if (kind === 'honest' || kind === 'session') {
    const update = honestWrites(rng, author);
    return update === null ? null : { kind, device: author.id, update };
  }
  if (kind === 'overreach') {
    const update = overreach(rng, author);
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

/**
 * Generators of forged updates for the differential fuzz of the v2 write rules: byte
 * mutations of honest updates, structural edits of honest updates (re-encoded with
 * forge.ts), and updates built from scratch out of the ids, roots, keys and values the
 * server document holds.
 */
import * as Y from 'yjs';
import {
  type DeviceId,
  deviceRoot,
  EPOCH_FACTOR,
  HEADS_ROOT,
  MAX_EPOCH,
  muteKey,
  packMarker,
  packMuteStamp,
  parseDeviceRoot,
  SERVER_DEVICE,
} from '../../src/index.js';
import {
  type ForgedBlock,
  type ForgedContent,
  type ForgedItem,
  type ForgedRange,
  type ForgedStruct,
  forgeUpdate,
  type Id,
  structLength,
  unforge,
} from './forge.js';
import type { Rng } from './rng.js';
import { A, B, C, THREADS } from './world.js';

/** What the generators may pick from: the server's ids by kind. */
export interface Pools {
  readonly device: DeviceId;
  /** Every id the server has (first and last id of each struct). */
  readonly known: readonly Id[];
  /** Ids of items by the array they are in. */
  readonly heads: readonly Id[];
  readonly ownEntries: readonly Id[];
  readonly foreignEntries: readonly Id[];
  /** Client IDs: the device's own, other devices', the server's. */
  readonly ownClients: readonly number[];
  readonly foreignClients: readonly number[];
  readonly serverClient: number;
  readonly state: (client: number) => number;
}

export function poolsOf(doc: Y.Doc, device: DeviceId, bindings: ReadonlyMap<number, DeviceId>): Pools {
  const known: Id[] = [];
  const heads: Id[] = [];
  const ownEntries: Id[] = [];
  const foreignEntries: Id[] = [];
  for (const [client, structs] of doc.store.clients) {
    for (const struct of structs) {
      known.push({ client, clock: struct.id.clock });
      if (struct.length > 1) known.push({ client, clock: struct.id.clock + struct.length - 1 });
      if (!(struct instanceof Y.Item)) continue;
      const root = Y.findRootTypeKey(struct.parent as Y.AbstractType<unknown>);
      const id = { client, clock: struct.id.clock + struct.length - 1 };
      if (root === HEADS_ROOT) heads.push(id);
      else if (parseDeviceRoot(root) === device) ownEntries.push(id);
      else foreignEntries.push(id);
    }
  }
  const ownClients: number[] = [];
  const foreignClients: number[] = [];
  for (const [client, owner] of bindings) {
    if (owner === device) ownClients.push(client);
    else if (owner !== SERVER_DEVICE) foreignClients.push(client);
  }
  return {
    device,
    known,
    heads,
    ownEntries,
    foreignEntries,
    ownClients,
    foreignClients,
    serverClient: doc.clientID,
    state: (client) => Y.getState(doc.store, client),
  };
}

/**
 * Numbers at the edges of what the varint reader returns and doubles hold exactly, in every
 * pool below: clocks, lengths, client IDs, delete ranges and values. NaN and Infinity are
 * written as the overlong varints lib0 reads back as them (forge.ts).
 */
export const BOUNDARY_NUMBERS: readonly number[] = [
  0,
  1,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -0,
];

/** Mostly one of `usual`, sometimes a boundary number. */
function pickNumber(rng: Rng, usual: readonly number[]): number {
  return rng.chance(0.85) ? rng.pick(usual) : rng.pick(BOUNDARY_NUMBERS);
}

function pickRoot(rng: Rng, device: DeviceId): string {
  const other = rng.pick([A, B, C, SERVER_DEVICE].filter((d) => d !== device));
  return rng.pick([
    deviceRoot(device),
    deviceRoot(device),
    deviceRoot(device),
    deviceRoot(other),
    HEADS_ROOT,
    'heads',
    'reads',
    'mutes',
    'evil',
    '',
    'v2/device/',
    `v2/device/${device}/x`,
    '__proto__',
  ]);
}

/** A map key (parentSub): almost never, as v2 has none; one is v1 content. */
function pickMapKey(rng: Rng): string | null {
  return rng.chance(0.95) ? null : rng.pick([...THREADS, '', `inbox/${A}`]);
}

function pickEntryKey(rng: Rng, device: DeviceId): unknown {
  const thread = rng.pick(THREADS);
  return rng.pick<unknown>([
    thread,
    thread,
    thread,
    muteKey(thread),
    muteKey(thread),
    `${thread}/${device}`,
    'm/',
    '',
    'a/b',
    'x'.repeat(140),
    5,
    null,
  ]);
}

function pickNumberValue(rng: Rng): unknown {
  const epoch = rng.pick([0, 0, 0, 1, 2, 17, 40, MAX_EPOCH, MAX_EPOCH + 1]);
  return rng.pick<unknown>([
    packMarker(epoch, rng.int(12)),
    packMarker(epoch, rng.int(12)),
    rng.int(12),
    rng.int(12),
    packMuteStamp(rng.range(1, 20), rng.chance(0.5)),
    packMuteStamp(rng.range(1, 3), rng.chance(0.5)),
    0,
    1,
    -1,
    1.5,
    ...BOUNDARY_NUMBERS,
    Number.NEGATIVE_INFINITY,
    EPOCH_FACTOR - 1 + 0.5,
    '5',
    true,
    null,
  ]);
}

function pickValue(rng: Rng, device: DeviceId = A): unknown {
  if (rng.chance(0.8)) return { key: pickEntryKey(rng, device), val: pickNumberValue(rng) };
  return rng.pick<unknown>([
    { key: rng.pick(THREADS), val: 1, x: 1 },
    { key: rng.pick(THREADS) },
    rng.int(12),
    '5',
    true,
    null,
    undefined,
    {},
    [3],
    BigInt(7),
    new Uint8Array([1]),
  ]);
}

function pickContent(rng: Rng): ForgedContent {
  switch (rng.int(12)) {
    case 0:
      return { any: [pickValue(rng), pickValue(rng)] };
    case 10:
      return { any: [pickValue(rng)] };
    case 1:
      return { deleted: pickNumber(rng, [1, 2, 3]) };
    case 2:
      return { string: rng.pick(['a', 'ab']) };
    case 3:
      return { json: [rng.pick([1, 'x', null, { a: 1 }])] };
    case 4:
      return { binary: new Uint8Array([1, 2]) };
    case 5:
      return { embed: { x: 1 } };
    case 6:
      return { format: ['bold', true] };
    case 7:
      return { type: rng.pick(['map', 'array', 'text', 'xml'] as const) };
    case 8:
      return { doc: 'sub' };
    default:
      return { any: [pickValue(rng)] };
  }
}

function freshIds(blocks: readonly ForgedBlock[]): Id[] {
  const ids: Id[] = [];
  for (const block of blocks) {
    let clock = block.clock;
    for (const struct of block.structs) {
      const len = structLength(struct);
      ids.push({ client: block.client, clock });
      // An empty struct (a forged length-0 content) has no last id: clock − 1 could be −1.
      if (len > 1) ids.push({ client: block.client, clock: clock + len - 1 });
      clock += len;
    }
  }
  return ids;
}

function pickId(rng: Rng, pools: Pools, blocks: readonly ForgedBlock[], self?: Id): Id {
  const fresh = freshIds(blocks);
  const choice = rng.int(10);
  if (choice === 0 && pools.heads.length > 0) return rng.pick(pools.heads);
  if (choice === 1 && pools.foreignEntries.length > 0) return rng.pick(pools.foreignEntries);
  if ((choice === 2 || choice === 3) && pools.ownEntries.length > 0) return rng.pick(pools.ownEntries);
  if (choice === 4 && fresh.length > 0) return rng.pick(fresh);
  if (choice === 5 && self !== undefined) return { client: self.client, clock: self.clock + rng.int(3) };
  if (choice === 6) {
    const client = rng.pick([...pools.ownClients, ...pools.foreignClients, pools.serverClient, 77]);
    return { client, clock: pools.state(client) + rng.int(3) };
  }
  if (choice === 7 && rng.chance(0.5)) {
    const client = pickNumber(rng, [...pools.ownClients, ...pools.foreignClients, pools.serverClient]);
    return { client, clock: rng.pick(BOUNDARY_NUMBERS) };
  }
  if (pools.known.length > 0) return rng.pick(pools.known);
  return { client: 5, clock: 0 };
}

function pickClient(rng: Rng, pools: Pools): number {
  return rng.pick([
    ...pools.ownClients,
    ...pools.ownClients,
    ...pools.foreignClients,
    pools.serverClient,
    rng.range(1, 2 ** 31),
    rng.pick(BOUNDARY_NUMBERS),
  ]);
}

function randomItem(rng: Rng, pools: Pools, blocks: readonly ForgedBlock[], self: Id): ForgedItem {
  const content = pickContent(rng);
  if (rng.chance(0.5)) {
    const origin = pickId(rng, pools, blocks, self);
    return rng.chance(0.2)
      ? { kind: 'item', origin, rightOrigin: pickId(rng, pools, blocks, self), content }
      : { kind: 'item', origin, content };
  }
  if (rng.chance(0.1)) return { kind: 'item', rightOrigin: pickId(rng, pools, blocks, self), content };
  if (rng.chance(0.1)) return { kind: 'item', parent: pickId(rng, pools, blocks), key: pickMapKey(rng), content };
  return { kind: 'item', parent: pickRoot(rng, pools.device), key: pickMapKey(rng), content };
}

function randomStruct(rng: Rng, pools: Pools, blocks: readonly ForgedBlock[], self: Id): ForgedStruct {
  const roll = rng.int(20);
  if (roll === 0) return { kind: 'gc', len: pickNumber(rng, [1, 2]) };
  if (roll === 1) return { kind: 'skip', len: pickNumber(rng, [1, 2]) };
  return randomItem(rng, pools, blocks, self);
}

function randomRange(rng: Rng, pools: Pools, blocks: readonly ForgedBlock[]): ForgedRange {
  const id = pickId(rng, pools, blocks);
  const clock = rng.chance(0.9) ? id.clock : rng.pick(BOUNDARY_NUMBERS);
  return { client: id.client, clock, len: pickNumber(rng, [1, 2, 3]) };
}

type MutableBlock = { client: number; clock: number; structs: ForgedStruct[] };

/** One random structural edit of an update's blocks and delete set. */
function editOnce(rng: Rng, pools: Pools, blocks: MutableBlock[], ds: ForgedRange[]): void {
  const block = blocks.length > 0 ? rng.pick(blocks) : undefined;
  const index = block && block.structs.length > 0 ? rng.int(block.structs.length) : -1;
  const struct = block && index >= 0 ? block.structs[index] : undefined;
  const selfClock = block
    ? block.clock + block.structs.slice(0, Math.max(index, 0)).reduce((n, s) => n + structLength(s), 0)
    : 0;
  const self = block ? { client: block.client, clock: selfClock } : { client: 1, clock: 0 };
  switch (rng.int(14)) {
    case 0: // re-point the origin
      if (block && struct?.kind === 'item')
        block.structs[index] = { kind: 'item', origin: pickId(rng, pools, blocks, self), content: struct.content };
      break;
    case 1: // an explicit parent and key
      if (block && struct?.kind === 'item')
        block.structs[index] = {
          kind: 'item',
          parent: pickRoot(rng, pools.device),
          key: pickMapKey(rng),
          content: struct.content,
        };
      break;
    case 2: // other content
      if (block && struct?.kind === 'item') block.structs[index] = { ...struct, content: pickContent(rng) };
      break;
    case 3: // write under another client
      if (block) {
        block.client = pickClient(rng, pools);
        if (rng.chance(0.7)) block.clock = pools.state(block.client);
      }
      break;
    case 4: // shift the clock, or move it to a boundary (also relative to the server's)
      if (block) {
        if (rng.chance(0.7)) block.clock = Math.max(0, block.clock + rng.pick([-2, -1, 1, 2]));
        else if (rng.chance(0.5)) block.clock = rng.pick(BOUNDARY_NUMBERS);
        else block.clock = pools.state(block.client) + rng.pick(BOUNDARY_NUMBERS);
      }
      break;
    case 5: // a second block of the same client (Yjs keeps only the last)
      if (block) {
        const copy: MutableBlock = {
          client: block.client,
          clock: rng.chance(0.5) ? block.clock : pools.state(block.client),
          structs: [],
        };
        const n = rng.int(3);
        for (let i = 0; i < n; i++) copy.structs.push(randomStruct(rng, pools, blocks, self));
        if (rng.chance(0.5)) blocks.push(copy);
        else blocks.unshift(copy);
      }
      break;
    case 6: // an empty block
      blocks.splice(rng.int(blocks.length + 1), 0, {
        client: block?.client ?? pickClient(rng, pools),
        clock: 0,
        structs: [],
      });
      break;
    case 7: // insert a struct
      if (block) block.structs.splice(rng.int(block.structs.length + 1), 0, randomStruct(rng, pools, blocks, self));
      break;
    case 8: // drop a struct
      if (block && index >= 0) block.structs.splice(index, 1);
      break;
    case 9: // a right origin
      if (block && struct?.kind === 'item')
        block.structs[index] = { ...struct, rightOrigin: pickId(rng, pools, blocks, self), parent: null, key: null };
      break;
    case 11: // keep the place, change one entry of the content
      if (block && struct?.kind === 'item' && 'any' in struct.content)
        block.structs[index] = { ...struct, content: { any: [pickValue(rng, pools.device)] } };
      break;
    case 10: // a new block from scratch
      blocks.splice(rng.int(blocks.length + 1), 0, randomBlock(rng, pools, blocks));
      break;
    default: // delete something
      if (rng.chance(0.3) && ds.length > 0) ds.splice(rng.int(ds.length), 1);
      else ds.push(randomRange(rng, pools, blocks));
  }
}

function randomBlock(rng: Rng, pools: Pools, blocks: readonly ForgedBlock[]): MutableBlock {
  const client = pickClient(rng, pools);
  const block: MutableBlock = {
    client,
    clock: Math.max(0, pools.state(client) + rng.pick([0, 0, 0, -1, 1])),
    structs: [],
  };
  const n = rng.range(1, 3);
  for (let i = 0; i < n; i++) {
    const self = { client, clock: block.clock + block.structs.reduce((sum, s) => sum + structLength(s), 0) };
    block.structs.push(randomStruct(rng, pools, [...blocks, block], self));
  }
  return block;
}

/** An honest update with 1–3 structural edits, re-encoded. */
export function structuralForgery(rng: Rng, pools: Pools, honest: Uint8Array): Uint8Array {
  const { blocks, ds } = unforge(honest);
  const mutable: MutableBlock[] = blocks.map((b) => ({ client: b.client, clock: b.clock, structs: [...b.structs] }));
  const edits = rng.range(1, 3);
  for (let i = 0; i < edits; i++) editOnce(rng, pools, mutable, ds);
  return forgeUpdate(mutable, ds);
}

/** An update built from nothing but the server's ids. */
export function scratchForgery(rng: Rng, pools: Pools): Uint8Array {
  const blocks: MutableBlock[] = [];
  const n = rng.range(1, 3);
  for (let i = 0; i < n; i++) blocks.push(randomBlock(rng, pools, blocks));
  const ds: ForgedRange[] = [];
  while (rng.chance(0.4)) ds.push(randomRange(rng, pools, blocks));
  return forgeUpdate(blocks, ds);
}

/** An honest update with random byte damage. */
export function byteForgery(rng: Rng, honest: Uint8Array): Uint8Array {
  const bytes = [...honest];
  const edits = rng.range(1, 3);
  for (let i = 0; i < edits; i++) {
    const at = rng.int(Math.max(bytes.length, 1));
    switch (rng.int(6)) {
      case 0:
        bytes.length = at;
        break;
      case 1:
        bytes.splice(at, 0, rng.int(256));
        break;
      case 2:
        bytes.splice(at, 1);
        break;
      case 3:
        bytes.splice(at, 0, ...bytes.slice(at, at + rng.range(1, 8)));
        break;
      default:
        if (bytes.length > 0) bytes[at] = (bytes[at] as number) ^ (1 << rng.int(8));
    }
  }
  return new Uint8Array(bytes);
}

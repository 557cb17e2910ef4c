/**
 * The write rules and Yjs agree on the numbers of an update (SPEC RULE-14, RULE-15,
 * RULE-16): honest updates with their clocks, lengths, client IDs and delete ranges replaced
 * by boundary numbers (0, 1, 2^31, 2^32, 2^53 − 1, 2^53, NaN, Infinity, −0, also relative to
 * the server's clock), and with boundary varints spliced into their bytes. Whatever the rules
 * accept holds only exact numbers (checked before applying, so a test cannot hang in Yjs),
 * applies without a throw, leaves nothing pending, and reloads from the persisted log and from
 * a snapshot to the live document.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { checkUpdate, type DeviceId, MAX_CLOCK_ADVANCE, type ThreadId } from '../src/index.js';
import { type ForgedRange, type ForgedStruct, forgeUpdate, unforge } from './helpers/forge.js';
import { BOUNDARY_NUMBERS } from './helpers/forgeries.js';
import { reloadDifferences, unsafeNumber } from './helpers/oracle.js';
import { varUint } from './helpers/raw-update.js';
import { propertyParams } from './helpers/seed.js';
import { DeviceReplica, makeWorld, REMOTE, THREADS, type World } from './helpers/world.js';

type Block = { client: number; clock: number; structs: ForgedStruct[] };

interface NumberEdit {
  readonly slot: number;
  readonly value: number;
  /** Added to the server's clock of the block's client instead of taken as is. */
  readonly relative: boolean;
}

interface ByteEdit {
  readonly at: number;
  readonly remove: number;
  readonly insert: readonly number[];
}

interface Step {
  readonly author: number;
  readonly write: number;
  readonly numbers: readonly NumberEdit[];
  readonly bytes: readonly ByteEdit[];
  /** A struct or delete range appended with a boundary number, or none. */
  readonly extra: { readonly kind: 'gc' | 'skip' | 'range'; readonly len: number } | null;
}

const boundary = fc.constantFrom(...BOUNDARY_NUMBERS, MAX_CLOCK_ADVANCE, MAX_CLOCK_ADVANCE + 1);
const numberEdit: fc.Arbitrary<NumberEdit> = fc.record({
  slot: fc.nat(),
  value: fc.oneof(boundary, boundary, fc.nat(3)),
  relative: fc.boolean(),
});
const byteEdit: fc.Arbitrary<ByteEdit> = fc.record({
  at: fc.nat(),
  remove: fc.nat(3),
  insert: fc.oneof(boundary.map(varUint), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 })),
});
const step: fc.Arbitrary<Step> = fc.record({
  author: fc.nat(2),
  write: fc.nat(),
  numbers: fc.array(numberEdit, { minLength: 0, maxLength: 3 }),
  // Mostly none: a damaged byte makes most updates undecodable, and the accepted ones matter.
  bytes: fc.oneof(
    { arbitrary: fc.constant([]), weight: 3 },
    { arbitrary: fc.array(byteEdit, { minLength: 1, maxLength: 2 }), weight: 1 },
  ),
  extra: fc.option(fc.record({ kind: fc.constantFrom('gc', 'skip', 'range'), len: boundary }), { nil: null }),
});

/** An honest write of `author` made on a throwaway copy (same client ID), never sent as is. */
function honestUpdate(world: World, author: DeviceReplica, write: number): Uint8Array {
  author.pull(world.server);
  const copy = new DeviceReplica(author.id);
  Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(author.doc), REMOTE);
  copy.doc.clientID = author.clientId;
  const thread = THREADS[write % THREADS.length] as ThreadId;
  if (write % 3 === 0) copy.mute(thread, write % 2 === 0);
  else copy.read(thread, copy.tracker.head(thread));
  return copy.take() ?? Y.encodeStateAsUpdate(author.doc);
}

/** Every number slot of a forged update, as a setter. */
function slots(
  blocks: Block[],
  ranges: ForgedRange[],
  state: (client: number) => number,
): Array<(e: NumberEdit) => void> {
  const out: Array<(e: NumberEdit) => void> = [];
  const at = (client: number, e: NumberEdit) => (e.relative ? state(client) + e.value : e.value);
  for (const block of blocks) {
    out.push((e) => {
      block.client = e.value;
    });
    out.push((e) => {
      block.clock = at(block.client, e);
    });
    block.structs.forEach((struct, i) => {
      if (struct.kind !== 'item') {
        out.push((e) => {
          block.structs[i] = { ...struct, len: e.value };
        });
        return;
      }
      if (struct.origin) {
        const origin = struct.origin;
        out.push((e) => {
          block.structs[i] = { ...struct, origin: { client: e.value, clock: origin.clock } };
        });
        out.push((e) => {
          block.structs[i] = { ...struct, origin: { client: origin.client, clock: at(origin.client, e) } };
        });
      }
      out.push((e) => {
        block.structs[i] = { ...struct, content: { deleted: e.value } };
      });
    });
  }
  ranges.forEach((range, i) => {
    out.push((e) => {
      ranges[i] = { ...range, clock: at(range.client, e) };
    });
    out.push((e) => {
      ranges[i] = { ...range, len: e.value };
    });
  });
  return out;
}

function candidate(world: World, s: Step): { device: DeviceId; update: Uint8Array } {
  const author = [world.a, world.b, world.c][s.author] as DeviceReplica;
  const state = (client: number) => Y.getState(world.server.doc.store, client);
  const { blocks: forged, ds } = unforge(honestUpdate(world, author, s.write));
  const blocks: Block[] = forged.map((b) => ({ client: b.client, clock: b.clock, structs: [...b.structs] }));
  const ranges = [...ds];
  if (s.extra !== null) {
    const client = author.clientId;
    if (s.extra.kind === 'range') ranges.push({ client, clock: 0, len: s.extra.len });
    else {
      const block = blocks.find((b) => b.client === client);
      const struct: ForgedStruct = { kind: s.extra.kind, len: s.extra.len };
      if (block) block.structs.push(struct);
      else blocks.push({ client, clock: state(client), structs: [struct] });
    }
  }
  const setters = slots(blocks, ranges, state);
  for (const edit of s.numbers) if (setters.length > 0) setters[edit.slot % setters.length]?.(edit);
  let bytes = [...forgeUpdate(blocks, ranges)];
  for (const edit of s.bytes) {
    const at = edit.at % (bytes.length + 1);
    bytes = [...bytes.slice(0, at), ...edit.insert, ...bytes.slice(at + edit.remove)];
  }
  return { device: author.id, update: new Uint8Array(bytes) };
}

const seen = new Map<string, number>();

describe('update numbers: the rules and Yjs agree', () => {
  test('[RULE-15] [RULE-16] every accepted update holds exact numbers, applies whole, leaves nothing pending and reloads equal', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        const world = makeWorld();
        for (const s of steps) {
          const c = candidate(world, s);
          const hex = Buffer.from(c.update).toString('hex');
          const verdict = checkUpdate(world.server.ctx, c.device, c.update);
          const unsafe = unsafeNumber(c.update);
          const key = `${verdict.kind}${verdict.kind === 'refuse' ? `:${verdict.reason}` : ''}${unsafe ? ':unsafe' : ''}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          if (verdict.kind !== 'accept') continue;
          // Checked before Yjs sees it: an accepted Infinity would never return from applyUpdate.
          assert.equal(unsafe, null, `accepted an update with ${unsafe}\nupdate ${hex}`);
          const clone = world.server.clone();
          assert.doesNotThrow(() => Y.applyUpdate(clone, c.update), `accepted update throws\nupdate ${hex}`);
          assert.equal(clone.store.pendingStructs, null, `accepted update left pending structs\nupdate ${hex}`);
          assert.equal(clone.store.pendingDs, null, `accepted update left a pending delete set\nupdate ${hex}`);
          assert.equal(world.server.receive(c.device, c.update).kind, 'accept');
          const live = world.server.doc;
          assert.equal(live.store.pendingStructs ?? live.store.pendingDs, null);
          assert.deepEqual(reloadDifferences(live, world.server.log), [], `from the log\nupdate ${hex}`);
          assert.deepEqual(
            reloadDifferences(live, [Y.encodeStateAsUpdate(live)]),
            [],
            `from a snapshot\nupdate ${hex}`,
          );
        }
      }),
      propertyParams('update-numbers', 150),
    );
    console.log('[update-numbers] verdicts', Object.fromEntries([...seen].sort()));
    assert.ok((seen.get('accept') ?? 0) > 0, 'some candidates are accepted, so the property tests something');
    assert.ok(
      [...seen.keys()].some((k) => k.endsWith(':unsafe')),
      'some candidates carry unsafe numbers',
    );
  });
});

/**
 * Differential fuzz of the write rules: each candidate update's verdict is compared with the
 * effect of really applying it to a copy of the server document. Whatever checkUpdate
 * accepts must apply without a throw and break no rule (helpers/oracle.ts); "not yet" must
 * mean Yjs really lacks a dependency; honest updates must be accepted.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { CloseCode, checkUpdate, type DeviceId, type ThreadId } from '../src/index.js';
import { byteForgery, poolsOf, scratchForgery, structuralForgery } from './helpers/forgeries.js';
import { reloadDifferences, ruleViolations, unsafeNumber } from './helpers/oracle.js';
import { Rng } from './helpers/rng.js';
import { propertyParams } from './helpers/seed.js';
import { DeviceReplica, makeWorld, REMOTE, THREADS, type World } from './helpers/world.js';

const KINDS = ['honest', 'bytes', 'structure', 'structure', 'scratch', 'foreign'] as const;
type Kind = (typeof KINDS)[number];

interface Candidate {
  readonly kind: Kind;
  readonly device: DeviceId;
  readonly update: Uint8Array;
}

const stats = new Map<string, number>();
function count(key: string): void {
  stats.set(key, (stats.get(key) ?? 0) + 1);
}

/** One to three planner writes on `replica`; the resulting update, or null if none changed anything. */
function honestWrites(rng: Rng, replica: DeviceReplica): Uint8Array | null {
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
function scratchCopy(replica: DeviceReplica): DeviceReplica {
  const copy = new DeviceReplica(replica.id);
  Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(replica.doc), REMOTE);
  // Only now: Yjs picks a new client ID when a remote update writes under its own.
  copy.doc.clientID = replica.clientId;
  return copy;
}

function candidate(world: World, kind: Kind, seed: number): Candidate | null {
  const rng = new Rng(seed);
  const { server } = world;
  const author = rng.pick([world.a, world.b, world.c]);
  author.pull(server);
  if (kind === 'honest') {
    const update = honestWrites(rng, author);
    return update === null ? null : { kind, device: author.id, update };
  }
  const base = honestWrites(rng, scratchCopy(author)) ?? Y.encodeStateAsUpdate(author.doc);
  if (kind === 'foreign') {
    const sender = rng.pick([world.a, world.b, world.c].filter((d) => d !== author));
    return { kind, device: sender.id, update: base };
  }
  const pools = poolsOf(server.doc, author.id, server.bindings);
  const update =
    kind === 'bytes'
      ? byteForgery(rng, base)
      : kind === 'structure'
        ? structuralForgery(rng, pools, base)
        : scratchForgery(rng, pools);
  return { kind, device: author.id, update };
}

/** Judges one candidate against the oracle, and applies it to the server when accepted. */
function judge(world: World, c: Candidate): void {
  const { server } = world;
  const verdict = checkUpdate(server.ctx, c.device, c.update);
  count(`${c.kind}:${verdict.kind}${verdict.kind === 'refuse' ? `:${verdict.reason}` : ''}`);
  const hex = Buffer.from(c.update).toString('hex');
  // [RULE-15] Refused, and never handed to Yjs here: a length of Infinity would never return.
  const unsafe = unsafeNumber(c.update);
  if (unsafe !== null) {
    count(`${c.kind}:unsafe-number`);
    assert.equal(verdict.kind, 'refuse', `${verdict.kind} for an update with ${unsafe}\nupdate ${hex}`);
    assert.equal(verdict.code, CloseCode.invalidMessage, `${verdict.kind} for an update with ${unsafe}`);
    return;
  }
  const clone = server.clone();
  let threw: unknown = null;
  try {
    Y.applyUpdate(clone, c.update);
  } catch (err) {
    threw = err;
  }
  if (verdict.kind === 'accept') {
    assert.equal(threw, null, `accepted ${c.kind} update throws in applyUpdate: ${String(threw)}\nupdate ${hex}`);
    const broken = ruleViolations(server.doc, clone, c.device, server.bindings, server.doc.clientID);
    assert.deepEqual(broken, [], `accepted ${c.kind} update from ${c.device} breaks rules\nupdate ${hex}`);
    assert.equal(server.receive(c.device, c.update).kind, 'accept');
    // [RULE-14] Whole: nothing pending, and the document reloaded from the log equals it.
    assert.deepEqual(reloadDifferences(server.doc, server.log), [], `accepted ${c.kind} update\nupdate ${hex}`);
  } else if (verdict.kind === 'not-yet') {
    const pending = clone.store.pendingStructs !== null || clone.store.pendingDs !== null;
    assert.ok(pending || threw !== null, `"not yet" (${verdict.detail}) but Yjs applies it whole\nupdate ${hex}`);
  } else {
    assert.notEqual(c.kind, 'honest', `honest update refused: ${verdict.reason} ${verdict.detail}\nupdate ${hex}`);
  }
}

describe('write rules, differential fuzz', () => {
  test('[RULE-14] every accepted update applies whole and breaks no rule; honest ones are accepted', () => {
    const steps = fc.array(fc.tuple(fc.constantFrom(...KINDS), fc.integer()), {
      minLength: 1,
      maxLength: 30,
      size: 'max',
    });
    fc.assert(
      fc.property(steps, (list) => {
        const world = makeWorld();
        for (const [kind, seed] of list) {
          const c = candidate(world, kind, seed);
          if (c !== null) judge(world, c);
        }
      }),
      propertyParams('fuzz', 300),
    );
    console.log('[fuzz] verdicts', Object.fromEntries([...stats].sort()));
  });
});

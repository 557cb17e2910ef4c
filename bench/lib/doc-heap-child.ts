/**
 * Child of doc-layout.ts: loads one account state into COPIES fresh documents, as a new
 * device's first sync does (v2: apply the state, then build the shared CountsTracker over
 * the document; v1: type the maps, apply the state), and prints one JSON line: the heap and
 * RSS each loaded document holds after a full collection, and each load's milliseconds.
 *
 *   node --expose-gc --import tsx lib/doc-heap-child.ts <state file> <v1|v2> <copies>
 */
import { readFileSync } from 'node:fs';
import { CountsTracker } from '@badgesync/shared';
import * as Y from 'yjs';

const [file, layout, copiesText] = process.argv.slice(2);
if (file === undefined || (layout !== 'v1' && layout !== 'v2') || copiesText === undefined)
  throw new Error('usage: doc-heap-child.ts <state file> <v1|v2> <copies>');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const state = new Uint8Array(readFileSync(file));
const copies = Number(copiesText);

/** v1's roots, typed before the state goes in as a v1 replica did. */
const V1_ROOT_NAMES = ['heads', 'reads', 'mutes'] as const;

interface Loaded {
  readonly doc: Y.Doc;
  readonly tracker: CountsTracker | null;
}

function load(): Loaded {
  const doc = new Y.Doc();
  if (layout === 'v1') {
    for (const root of V1_ROOT_NAMES) doc.getMap(root);
    Y.applyUpdate(doc, state);
    return { doc, tracker: null };
  }
  Y.applyUpdate(doc, state);
  return { doc, tracker: new CountsTracker(doc) };
}

/** One load first, so the measured ones run compiled code and the baseline holds the code. */
load();
gc();
gc();
const before = process.memoryUsage();
const held: Loaded[] = [];
const loadMs: number[] = [];
for (let i = 0; i < copies; i++) {
  const began = performance.now();
  held.push(load());
  loadMs.push(performance.now() - began);
}
gc();
gc();
const after = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    heapPerDoc: (after.heapUsed - before.heapUsed) / held.length,
    rssPerDoc: (after.rss - before.rss) / held.length,
    loadMs,
    badge: held[0]?.tracker?.badge ?? null,
  })}\n`,
);

/**
 * Child of doc-layout.ts: loads one account state into COPIES fresh documents, as a new
 * device's first sync does (roots typed first, then the state applied; a v2 replica also
 * builds its YKeyValue views), and prints one JSON line: the heap each loaded document
 * holds after a full collection, and each load's milliseconds.
 *
 *   node --expose-gc --import tsx lib/doc-heap-child.ts <state file> <v1|v2> <roots,…> <copies>
 */
import { readFileSync } from 'node:fs';
import { YKeyValue } from 'y-utility/y-keyvalue';
import * as Y from 'yjs';

const [file, layout, rootList, copiesText] = process.argv.slice(2);
if (file === undefined || (layout !== 'v1' && layout !== 'v2') || rootList === undefined || copiesText === undefined)
  throw new Error('usage: doc-heap-child.ts <state file> <v1|v2> <roots,…> <copies>');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const state = new Uint8Array(readFileSync(file));
const roots = rootList.split(',');
const copies = Number(copiesText);

interface Loaded {
  readonly doc: Y.Doc;
  readonly views: readonly YKeyValue<unknown>[];
}

function load(): Loaded {
  const doc = new Y.Doc();
  const views: YKeyValue<unknown>[] = [];
  if (layout === 'v1') {
    for (const root of roots) doc.getMap(root);
    Y.applyUpdate(doc, state);
  } else {
    const arrays = roots.map((root) => doc.getArray<{ key: string; val: unknown }>(root));
    Y.applyUpdate(doc, state);
    for (const array of arrays) views.push(new YKeyValue(array));
  }
  return { doc, views };
}

/** One load first, so the measured ones run compiled code and the baseline holds the code. */
load();
gc();
gc();
const before = process.memoryUsage().heapUsed;
const held: Loaded[] = [];
const loadMs: number[] = [];
for (let i = 0; i < copies; i++) {
  const began = performance.now();
  held.push(load());
  loadMs.push(performance.now() - began);
}
gc();
gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(
  `${JSON.stringify({ heapPerDoc: (after - before) / held.length, loadMs, entries: held[0]?.doc.share.size ?? 0 })}\n`,
);

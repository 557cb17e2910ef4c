/**
 * How the rules' tests read a document: the incremental tracker the server and SDK run (the
 * view checkUpdate and checkBudgets read), and a plain scan of one root's live values for the
 * effect oracle, independent of the tracker.
 */
import type * as Y from 'yjs';
import { CountsTracker } from '../../src/index.js';

/** The live values of a root array, in order, without creating the root. */
export function liveValues(doc: Y.Doc, root: string): unknown[] {
  const type = doc.share.get(root);
  const out: unknown[] = [];
  for (let item = type?._start ?? null; item !== null; item = item.right) {
    if (!item.deleted && item.countable) out.push(...item.content.getContent());
  }
  return out;
}

/** The view the test peers read: what the server and SDK hold of a document. */
export type View = CountsTracker;

/** The view of `doc` the test peers use: the incremental tracker the server and SDK run. */
export function makeView(doc: Y.Doc): View {
  return new CountsTracker(doc);
}

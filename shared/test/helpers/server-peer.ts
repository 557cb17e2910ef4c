/**
 * The server as a peer of one account document (contract v2), as the write rules expect it
 * to be run: check every device update, bind new client IDs on accept, apply, log (the
 * durable update log), and drop "not yet" updates without applying them. A restart reloads
 * the document from the log under a new Yjs client ID and keeps the bindings.
 *
 * A model of the server's room for the tests of the pure write rules and markers: the real
 * room, session and group commit are driven by server/test/room-harness.ts.
 */
import * as Y from 'yjs';
import {
  checkUpdate,
  type DeviceId,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  planRead,
  SERVER_DEVICE,
  type ThreadId,
  type Verdict,
  type WriteRuleContext,
} from '../../src/index.js';
import { makeView, type View } from './views.js';

/** Transaction origin of updates the server applies from a device. */
export const FROM_DEVICE = Symbol('from-device');

export class ServerPeer {
  doc!: Y.Doc;
  tracker!: View;
  /** Client ID → device; persisted across restarts. The server binds its own IDs to @server. */
  readonly bindings = new Map<number, DeviceId>();
  /** Every update the document took, in order: what a restart reloads. */
  readonly log: Uint8Array[] = [];
  /** Listeners for updates to relay: (update, the device it came from or null for the server's own). */
  readonly relays = new Set<(update: Uint8Array, from: DeviceId | null) => void>();
  refusals: { device: DeviceId; verdict: Verdict; update: Uint8Array }[] = [];
  notYet = 0;
  accepted = 0;
  #from: DeviceId | null = null;

  constructor() {
    this.#boot();
  }

  get ctx(): WriteRuleContext {
    return { doc: this.doc, view: this.tracker, bindings: this.bindings };
  }

  #boot(): void {
    const doc = new Y.Doc();
    if (this.log.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(this.log));
    this.bindings.set(doc.clientID, SERVER_DEVICE);
    this.doc = doc;
    this.tracker = makeView(doc);
    doc.on('update', (update: Uint8Array) => {
      this.log.push(update);
      for (const relay of this.relays) relay(update, this.#from);
    });
  }

  /** A device update: checked, then applied (accept), dropped (not-yet) or refused. */
  receive(device: DeviceId, update: Uint8Array): Verdict {
    const verdict = checkUpdate(this.ctx, device, update);
    if (verdict.kind === 'accept') {
      this.accepted++;
      for (const client of verdict.newClients) this.bindings.set(client, device);
      this.#from = device;
      try {
        Y.applyUpdate(this.doc, update, FROM_DEVICE);
      } finally {
        this.#from = null;
      }
    } else if (verdict.kind === 'not-yet') {
      this.notYet++;
    } else {
      this.refusals.push({ device, verdict, update });
    }
    return verdict;
  }

  /** POST /items: the server raises head(thread) as its own peer. */
  ingest(thread: ThreadId, count = 1): number {
    const head = this.tracker.head(thread) + count;
    new KeyValueArray(this.doc, HEADS_ROOT).set(thread, head);
    return head;
  }

  /** POST /read: a read made outside any device, written as @server. */
  apiRead(thread: ThreadId, seq: number): number | null {
    const value = planRead(this.tracker, thread, SERVER_DEVICE, seq);
    if (value !== null) new KeyValueArray(this.doc, deviceRoot(SERVER_DEVICE)).set(thread, value);
    return value;
  }

  /** Crash and reload from the log: a new Yjs client ID, the same bindings. */
  restart(): void {
    this.tracker.destroy();
    this.doc.destroy();
    this.#boot();
  }

  /** A copy of the document as a fresh replica would load it. */
  clone(): Y.Doc {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(this.doc));
    return doc;
  }
}

/**
 * A device's end of a sync connection, speaking the protocol as a stock y-websocket provider
 * does: on open it sends sync step 1 (its state vector); it answers the server's step 1 with
 * a step 2; it applies the server's step 2 and updates. What it sends waits in the socket pair
 * until the test delivers it.
 */
import { type DeviceId, decodeMessage, encodeStep1, encodeStep2, encodeUpdate } from '@badgesync/shared';
import * as Y from 'yjs';
import type { RoomHarness } from './room-harness.js';
import type { TestSocketPair } from './socket-pair.js';

export type SentKind = 'step1' | 'step2' | 'update';

export class DeviceConnection {
  pair: TestSocketPair | null = null;
  /** The kinds of the frames sent and not yet delivered, oldest first. */
  readonly inFlight: SentKind[] = [];
  /** Every close code this device saw, over all its connections. */
  readonly closes: number[] = [];
  /** A sync step 2 reached this device since `synced` was last cleared. */
  synced = false;

  constructor(
    readonly device: DeviceId,
    /** The device's current replica (a reinstall replaces it). */
    private readonly docOf: () => Y.Doc,
    /** The transaction origin of what the device applies from the server. */
    private readonly remote: symbol,
  ) {}

  get online(): boolean {
    return this.pair !== null;
  }

  open(harness: RoomHarness): void {
    if (this.pair !== null) return;
    this.pair = harness.connect(this.device, {
      message: (data) => this.#receive(data),
      closed: (code) => {
        this.closes.push(code);
        this.pair = null;
        this.inFlight.length = 0;
      },
    });
    this.#send('step1', encodeStep1(Y.encodeStateVector(this.docOf())));
  }

  /** y-websocket's resync: sync step 1 again on an open connection. */
  resync(): void {
    if (this.pair !== null) this.#send('step1', encodeStep1(Y.encodeStateVector(this.docOf())));
  }

  sendUpdate(update: Uint8Array): void {
    if (this.pair !== null) this.#send('update', encodeUpdate(update));
  }

  /** Sends `update` as a sync step 2, which the room checks exactly as an update. */
  sendStep2(update: Uint8Array): void {
    if (this.pair !== null) this.#send('step2', encodeStep2(update));
  }

  /** The network drops: whatever is in flight is lost. */
  drop(): void {
    this.pair?.dropFromClient();
  }

  /** Delivers up to `n` frames to the server, one at a time; `each` runs after each with its kind. */
  deliverToServer(n: number, each?: (kind: SentKind) => void): void {
    for (let i = 0; i < n && this.pair !== null; i++) {
      const pair = this.pair;
      const kind = this.inFlight[0];
      if (kind === undefined || pair.flushToServer(1) === 0) return;
      this.inFlight.shift();
      each?.(kind);
    }
  }

  deliverToDevice(n: number): void {
    for (let i = 0; i < n && this.pair !== null; i++) {
      if (this.pair.flushToClient(1) === 0) return;
    }
  }

  /** Frames wait in either direction. */
  get busy(): boolean {
    return this.pair !== null && (this.pair.toServer.length > 0 || this.pair.toClient.length > 0);
  }

  #send(kind: SentKind, bytes: Uint8Array): void {
    if (this.pair === null) return;
    this.pair.clientSend(bytes);
    this.inFlight.push(kind);
  }

  #receive(data: Uint8Array): void {
    const message = decodeMessage(data);
    const doc = this.docOf();
    switch (message.type) {
      case 'step1':
        this.#send('step2', encodeStep2(Y.encodeStateAsUpdate(doc, message.stateVector)));
        return;
      case 'step2':
        Y.applyUpdate(doc, message.update, this.remote);
        this.synced = true;
        return;
      case 'update':
        Y.applyUpdate(doc, message.update, this.remote);
        return;
      default:
        return; // awareness: not part of these tests
    }
  }
}

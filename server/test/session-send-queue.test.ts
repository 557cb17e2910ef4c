import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { DEFAULT_SESSION_LIMITS } from '../src/sync/session.js';
import type { WebSocketLike } from '../src/sync/websocket-like.js';
import { lonelySession } from './session-fixtures.js';

const MiB = 1024 * 1024;

/** Ends the session's run of sends (SYNC-18: its cork lasts until a microtask). */
const nextRun = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A socket whose queue only grows (the peer never reads). */
class StalledSocket implements WebSocketLike {
  bufferedAmount = 0;
  sent = 0;
  closedWith: number | null = null;
  send(data: Uint8Array): void {
    this.sent++;
    this.bufferedAmount += data.byteLength;
  }
  cork(): void {}
  uncork(): void {}
  close(code: number): void {
    this.closedWith = code;
  }
  terminate(): void {}
}

const session = lonelySession;

describe('the send queue counts what it is about to send', () => {
  test('[SYNC-11] a message that would take the queue past 4 MiB closes the reader with 1013 and is not queued', async () => {
    const socket = new StalledSocket();
    const s = session(socket);
    s.send(new Uint8Array(3 * MiB));
    await nextRun();
    s.send(new Uint8Array(MiB - 10));
    assert.equal(socket.closedWith, null, 'up to 4 MiB is queued');
    await nextRun();
    s.send(new Uint8Array(64 * 1024));
    assert.equal(socket.closedWith, 1013);
    assert.equal(socket.sent, 2, 'the message that did not fit was not queued');
    assert.ok(socket.bufferedAmount <= DEFAULT_SESSION_LIMITS.maxBufferedBytes);
  });

  test('[SYNC-11] one message larger than the limit is still sent into an empty queue, and nothing after it', async () => {
    const socket = new StalledSocket();
    const s = session(socket);
    s.send(new Uint8Array(5 * MiB));
    assert.equal(socket.closedWith, null, 'a large step 2 is never refused by itself');
    await nextRun();
    s.send(new Uint8Array(10));
    assert.equal(socket.closedWith, 1013);
    assert.equal(socket.sent, 1);
  });
});

/** A socket that records what the session does with it, in order. */
class RecordingSocket implements WebSocketLike {
  readonly events: string[] = [];
  #corks = 0;
  #held = 0;
  send(data: Uint8Array): void {
    this.events.push(`send ${data[0]}`);
    if (this.#corks > 0) this.#held += data.byteLength;
  }
  cork(): void {
    this.#corks++;
    this.events.push('cork');
  }
  uncork(): void {
    this.#corks--;
    if (this.#corks === 0) this.#held = 0;
    this.events.push('uncork');
  }
  close(code: number): void {
    this.events.push(`close ${code}`);
  }
  terminate(): void {}
  get bufferedAmount(): number {
    return this.#held;
  }
}

describe('the sends of one run leave in one write', () => {
  test('[SYNC-18] a run of sends corks the socket once before the first and uncorks it once after the last, in order', async () => {
    const socket = new RecordingSocket();
    const s = session(socket);
    for (let i = 1; i <= 5; i++) s.send(Uint8Array.of(i));
    assert.deepEqual(
      socket.events,
      ['cork', 'send 1', 'send 2', 'send 3', 'send 4', 'send 5'],
      'held until the run ends',
    );
    await Promise.resolve();
    assert.deepEqual(socket.events.slice(6), ['uncork']);
    s.send(Uint8Array.of(6));
    await nextRun();
    assert.deepEqual(socket.events.slice(7), ['cork', 'send 6', 'uncork'], 'the next run corks again');
  });

  test('[SYNC-18] a reader is not closed for what the cork held: the run is handed to the network first; a session closed during its run still uncorks', async () => {
    const socket = new RecordingSocket();
    const s = session(socket);
    for (let i = 1; i <= 5; i++) s.send(new Uint8Array(MiB).fill(i));
    assert.deepEqual(
      socket.events.filter((e) => !e.startsWith('send')),
      ['cork', 'uncork', 'cork'],
      'the fifth MiB would pass the limit: what the cork held went to the network first',
    );
    assert.equal(socket.events.filter((e) => e.startsWith('send')).length, 5, 'every message sent');
    s.close(1000, 'done');
    s.send(Uint8Array.of(9));
    await nextRun();
    assert.deepEqual(
      socket.events.slice(-2),
      ['close 1000', 'uncork'],
      'the close frame leaves with the run, nothing after it',
    );
  });

  test('[SYNC-18] one message larger than the limit still goes into an empty queue, even corked; a stalled reader gets nothing after it', async () => {
    const socket = new StalledSocket();
    const s = session(socket);
    s.send(new Uint8Array(5 * MiB));
    assert.equal(socket.closedWith, null, 'the large message is queued');
    s.send(Uint8Array.of(1));
    assert.equal(socket.closedWith, 1013, 'nothing after it in the same run');
    assert.equal(socket.sent, 1);
  });

  test('[SYNC-18] into a queue a reader left behind, a run is held to the limit (SYNC-11)', async () => {
    const socket = new StalledSocket();
    const s = session(socket);
    s.send(new Uint8Array(10));
    await nextRun();
    for (let i = 0; i < 5; i++) s.send(new Uint8Array(MiB));
    assert.equal(socket.closedWith, 1013);
    assert.equal(socket.sent, 4, 'three of the run fitted beside what was queued, the fourth did not');
  });
});

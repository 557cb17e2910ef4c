/**
 * A device of an account the fuzzer never names (a random ID no corpus entry holds): it
 * stays connected while the fuzzer runs, and each check adds an item to its thread, waits
 * for the update to reach it, now and then marks a read, and compares the server's badge
 * with what the device must see. Whatever the fuzzer sends, this account must not notice.
 */
import { randomBytes } from 'node:crypto';
import { api } from '../helpers/api-client.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { setEntry } from '../helpers/marks.js';
import { RawClient } from '../helpers/raw-client.js';
import type { ServerProcess } from '../helpers/server-process.js';

/** Generous: the fuzzer keeps the machine busy, and a slow answer is not what is checked here. */
const DELIVERY_MS = 5_000;
const THREAD = 'inbox';
const DEVICE = 'watch';

export class Bystander {
  readonly account = `bystander-${randomBytes(6).toString('hex')}`;
  #client: RawClient | null = null;
  #head = 0;
  #read = 0;
  #checks = 0;

  /** Connects (again) to `server`; the account's state carries over a restart on the same folder. */
  async connect(server: ServerProcess): Promise<void> {
    this.#client?.close();
    this.#client = null;
    const answer = await api<{ head: number }>(server, 'POST', `/v1/accounts/${this.account}/items`, {
      thread: THREAD,
      count: 1,
    });
    if (answer.status !== 200) throw new Error(`bystander ingest answered ${answer.status}`);
    this.#head = answer.body.head;
    this.#client = await RawClient.synced(server, this.account, DEVICE);
    this.#read = markerOf(this.#client.doc, DEVICE, THREAD);
  }

  /** One round; null when all was right, else what went wrong (a failure signature). */
  async check(server: ServerProcess): Promise<string | null> {
    const client = this.#client;
    if (client === null) return 'bystander: not connected';
    if (client.closeInfo !== null) return `bystander: its socket was closed with ${client.closeInfo.code}`;
    const answer = await api<{ head: number }>(server, 'POST', `/v1/accounts/${this.account}/items`, {
      thread: THREAD,
      count: 1,
    });
    if (answer.status !== 200) return `bystander: adding an item answered ${answer.status}`;
    this.#head = answer.body.head;
    if (!(await until(() => headOf(client.doc, THREAD) === this.#head))) {
      return 'bystander: the new head did not reach its device';
    }
    if (++this.#checks % 2 === 0) {
      this.#read = this.#head - 1;
      client.write((doc) => setEntry(doc, DEVICE, THREAD, this.#read));
    }
    const want = this.#head - this.#read;
    let got: unknown = null;
    const right = await until(async () => {
      const badge = await api<{ badge: number }>(server, 'GET', `/v1/accounts/${this.account}/badge`);
      got = badge.status === 200 ? badge.body.badge : `status ${badge.status}`;
      return got === want;
    });
    if (!right) return `bystander: badge ${String(got)}, want ${want}`;
    const closed = client.closeInfo as { code: number } | null;
    return closed === null ? null : `bystander: its socket was closed with ${closed.code}`;
  }

  close(): void {
    this.#client?.close();
    this.#client = null;
  }
}

async function until(check: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + DELIVERY_MS;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

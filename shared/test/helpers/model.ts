/**
 * A plain reference model of one account, fed with the writes that happened (not with any
 * replica's state), and the counts the design says follow from them:
 *
 *   m(t) = the largest marker written for t; read = m mod 2^32; unread = max(0, head − read);
 *   badge = Σ unread over threads not muted.
 *
 * Heads have one writer and markers one writer per key, so their value is the last (and,
 * since neither decreases, the largest) value written. A mute has many writers; its value is
 * the one a last-writer-wins map keeps: each write names the write its replica saw as the
 * key's value (none at first), and among writes that saw the same one, the write of the
 * highest Yjs client ID wins; the winner's chain is followed to its end. A delete removes the
 * write it saw.
 */
export interface ModelCounts {
  readonly badge: number;
  readonly threads: Record<string, number>;
  readonly muted: string[];
}

interface MuteWrite {
  readonly client: number;
  readonly seen: string | null;
  readonly value: boolean;
  deleted: boolean;
}

const EPOCH = 2 ** 32;

export class ReferenceModel {
  readonly heads = new Map<string, number>();
  /** reads key → value. */
  readonly markers = new Map<string, number>();
  /** thread → write id ("client:clock") → write. */
  readonly #mutes = new Map<string, Map<string, MuteWrite>>();

  head(thread: string, value: number): void {
    const before = this.heads.get(thread) ?? 0;
    if (value < before) throw new Error(`model: head of ${thread} lowered ${before} → ${value}`);
    this.heads.set(thread, value);
  }

  marker(key: string, value: number): void {
    const before = this.markers.get(key) ?? -1;
    if (value <= before) throw new Error(`model: marker ${key} not raised ${before} → ${value}`);
    this.markers.set(key, value);
  }

  /** A write of mutes[thread] with id `id`, by a replica that saw write `seen` as the value. */
  muteSet(thread: string, id: string, client: number, seen: string | null, value: boolean): void {
    let writes = this.#mutes.get(thread);
    if (writes === undefined) {
      writes = new Map();
      this.#mutes.set(thread, writes);
    }
    writes.set(id, { client, seen, value, deleted: false });
  }

  /** A delete of mutes[thread] by a replica that saw write `seen` as the value. */
  muteDelete(thread: string, seen: string): void {
    const write = this.#mutes.get(thread)?.get(seen);
    if (write === undefined) throw new Error(`model: delete of unknown mute write ${seen}`);
    write.deleted = true;
  }

  muteOf(thread: string): boolean | undefined {
    const writes = this.#mutes.get(thread);
    if (writes === undefined) return undefined;
    let at: string | null = null;
    let winner: MuteWrite | undefined;
    for (;;) {
      let best: [string, MuteWrite] | undefined;
      for (const entry of writes)
        if (entry[1].seen === at && (best === undefined || entry[1].client > best[1].client)) best = entry;
      if (best === undefined) break;
      [at, winner] = best;
    }
    return winner === undefined || winner.deleted ? undefined : winner.value;
  }

  maxMarker(thread: string): number {
    let max = 0;
    for (const [key, value] of this.markers) if (key.slice(0, key.indexOf('/')) === thread && value > max) max = value;
    return max;
  }

  counts(): ModelCounts {
    const threads: Record<string, number> = {};
    const muted = [...this.#mutes.keys()].filter((t) => this.muteOf(t) === true).sort();
    let badge = 0;
    for (const thread of [...this.heads.keys()].sort()) {
      const unread = Math.max(0, (this.heads.get(thread) ?? 0) - (this.maxMarker(thread) % EPOCH));
      threads[thread] = unread;
      if (!muted.includes(thread)) badge += unread;
    }
    return { badge, threads, muted };
  }
}

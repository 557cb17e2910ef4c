/**
 * Who was online when, to judge every push that reaches APNs (see README "Pushes to online
 * devices"). Per device and account it keeps the periods the device was signed in, and the
 * periods it held a live synced connection: its app in the foreground, the SDK's status
 * `synced`, its network passing bytes, the server up.
 */

type Periods = Array<[number, number]>;

export type PushVerdict =
  /** Online for every account that could have caused it, for at least the grace period. */
  | 'online'
  /** Online for all of them at that instant, for less than the grace period (a race). */
  | 'race'
  /**
   * Online for every account it is still signed in to, for the grace period, but signed out of
   * another within the lookback: the push that sign-out queues (PUSH-3: the account that
   * changed is the one it is not online for).
   */
  | 'after-sign-out'
  | 'offline';

export class PresenceHistory {
  readonly #member = new Map<string, Periods>();
  readonly #live = new Map<string, Periods>();

  setMember(account: string, member: boolean, at: number): void {
    set(this.#member, account, member, at);
  }

  setLive(account: string, live: boolean, at: number): void {
    set(this.#live, account, live, at);
  }

  isLive(account: string): boolean {
    const last = this.#live.get(account)?.at(-1);
    return last !== undefined && last[1] === Number.POSITIVE_INFINITY;
  }

  /**
   * A push that reached APNs at `at`. The accounts that could have caused it are those the
   * device was signed in to at any moment of the last `lookbackMs` (a sign-out queues a push
   * too, after its grace period and a window). It went to an online device when the device
   * was live on every one of them throughout [at − graceMs, at].
   */
  judge(at: number, graceMs: number, lookbackMs: number): { verdict: PushVerdict; accounts: string[] } {
    const memberDuring = (from: number) =>
      [...this.#member]
        .filter(([, periods]) => periods.some(([start, end]) => start <= at && end >= from))
        .map(([account]) => account);
    const accounts = memberDuring(at - lookbackMs);
    if (accounts.length === 0) return { verdict: 'offline', accounts };
    const covered = (account: string, from: number) =>
      (this.#live.get(account) ?? []).some(([start, end]) => start <= from && end >= at);
    if (accounts.every((account) => covered(account, at - graceMs))) return { verdict: 'online', accounts };
    if (accounts.every((account) => covered(account, at))) return { verdict: 'race', accounts };
    const current = memberDuring(at);
    if (current.length > 0 && current.every((account) => covered(account, at - graceMs))) {
      return { verdict: 'after-sign-out', accounts };
    }
    return { verdict: 'offline', accounts };
  }
}

function set(map: Map<string, Periods>, account: string, on: boolean, at: number): void {
  let periods = map.get(account);
  if (periods === undefined) {
    periods = [];
    map.set(account, periods);
  }
  const last = periods.at(-1);
  const open = last !== undefined && last[1] === Number.POSITIVE_INFINITY;
  if (on && !open) periods.push([at, Number.POSITIVE_INFINITY]);
  else if (!on && open) last[1] = at;
}

/**
 * The end of a run, once it settled: the server's stored counts (`GET …/badge`) are the
 * truth. Every judged device must show their sum over its accounts, every foreground replica
 * must hold the same counts, and every truth watcher the same badge.
 */
import type { AccountCounts } from '@badgesync/shared';
import type { SimDevice } from './sim-device.js';
import type { TruthWatchers } from './truth.js';

/** A device that ended the run wrong. */
export interface EndState {
  readonly device: string;
  readonly foreground: boolean;
  readonly shown: number;
  readonly truth: number;
  readonly accounts: readonly string[];
}

export interface EndCheck {
  readonly endedWrong: readonly EndState[];
  /** Foreground replicas whose counts differ from the stored ones. */
  readonly replicaMismatches: readonly string[];
  /** Watchers whose badge differs from the stored one. */
  readonly truthMismatches: readonly string[];
}

export function checkEndState(
  devices: readonly SimDevice[],
  stored: ReadonlyMap<string, AccountCounts>,
  truth: TruthWatchers,
): EndCheck {
  const truthMismatches = [...stored]
    .filter(([account, counts]) => truth.badge(account) !== counts.badge)
    .map(([account, counts]) => `${account}: watcher ${truth.badge(account)}, GET /badge ${counts.badge}`);
  const endedWrong: EndState[] = [];
  const replicaMismatches: string[] = [];
  for (const device of devices) {
    const accounts = device.shownAccounts;
    const expected = accounts.reduce((sum, a) => sum + (stored.get(a)?.badge ?? 0), 0);
    // A web-only device in the background is not judged (README "Definitions").
    const judged = device.foreground || device.apnsToken !== null;
    if (judged && device.shown !== expected) {
      endedWrong.push({
        device: device.id,
        foreground: device.foreground,
        shown: device.shown,
        truth: expected,
        accounts,
      });
    }
    for (const account of accounts) {
      const local = device.counts(account);
      if (local !== null && JSON.stringify(local) !== JSON.stringify(stored.get(account))) {
        replicaMismatches.push(`${device.id} ${account}: ${JSON.stringify(local)}`);
      }
    }
  }
  return { endedWrong, replicaMismatches, truthMismatches };
}

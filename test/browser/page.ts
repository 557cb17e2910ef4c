/**
 * A small web app on the SDK, for the browser tests: one device (a browser profile)
 * signed in to one account, its badge and threads on screen, IndexedDB persistence, and
 * tokens from the page server's `/token` (standing in for the app's backend). The tests
 * drive it through `window.app`.
 *
 * URL parameters: `server` (ws://…), `account`, `device`, `heartbeat` (ms, optional).
 * `device=local` takes the device ID from localStorage (made once per profile, as the README
 * shows), so every tab of one profile is the same device.
 */
import { type Account, type AccountStatus, BadgeSync, IndexedDbStorage, type ReplicaMeta } from '@badgesync/client';
import * as Y from 'yjs';
import type { PageApp } from './page-api.js';

const params = new URLSearchParams(location.search);
const accountId = params.get('account') ?? 'demo';
const deviceId = deviceIdFrom(params.get('device') ?? 'browser');

/** `local`: the profile's device ID in localStorage, made by the first tab that needs it. */
function deviceIdFrom(param: string): string {
  if (param !== 'local') return param;
  const stored = localStorage.getItem('badgesyncDevice');
  if (stored !== null) return stored;
  const made = `web-${crypto.randomUUID()}`;
  localStorage.setItem('badgesyncDevice', made);
  return made;
}
const heartbeat = Number(params.get('heartbeat') ?? '0');

const statuses: AccountStatus[] = [];
const sync = new BadgeSync({
  serverUrl: params.get('server') ?? `ws://${location.hostname}:8080`,
  deviceId,
  storage: new IndexedDbStorage(),
  ...(heartbeat > 0 ? { heartbeatMs: heartbeat } : {}),
});

async function getToken(): Promise<string> {
  const res = await fetch(`/token?account=${encodeURIComponent(accountId)}&device=${encodeURIComponent(deviceId)}`);
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return res.text();
}

function render(account: Account): void {
  const counts = account.counts();
  const badge = document.getElementById('badge');
  const status = document.getElementById('status');
  const threads = document.getElementById('threads');
  if (badge) badge.textContent = String(sync.badge);
  if (status) status.textContent = account.status.state;
  if (threads) {
    threads.replaceChildren(
      ...Object.entries(counts.threads).map(([thread, unread]) => {
        const item = document.createElement('li');
        item.textContent = `${thread}: ${unread}${counts.muted.includes(thread) ? ' (muted)' : ''}`;
        return item;
      }),
    );
  }
  document.title = sync.badge > 0 ? `(${sync.badge}) badgesync` : 'badgesync';
}

const ready = sync.signIn(accountId, { getToken }).then((account) => {
  statuses.push(account.status);
  account.on('status', (status) => {
    statuses.push(status);
    render(account);
  });
  account.on('counts', () => render(account));
  render(account);
  return account;
});

/** What the tests call. */
const app: PageApp = {
  ready: ready.then(() => true),
  async markRead(thread: string, seq: number): Promise<void> {
    (await ready).markRead(thread, seq);
  },
  async counts() {
    return (await ready).counts();
  },
  badge: () => sync.badge,
  status: () => sync.account(accountId)?.status ?? null,
  statuses: () => statuses,
  syncedOnce: () => sync.account(accountId)?.syncedOnce ?? false,
  online: () => navigator.onLine,
  deviceId: () => deviceId,
  clientId: () => sync.account(accountId)?.clientId ?? null,
  clientIdReused: () => sync.account(accountId)?.clientIdReused ?? null,
  close: () => sync.close(),
  storageRoundTrip,
  writeV1Replica,
};

/**
 * The persistence contract (SDK-7) on IndexedDbStorage: state and metadata written, closed,
 * read back into a new document; 1,200 small updates (y-indexeddb compacts past 500) too.
 */
async function storageRoundTrip(): Promise<{ reads: unknown; mutes: unknown; meta: ReplicaMeta | null }> {
  const fail = (err: Error) => {
    throw err;
  };
  const storage = new IndexedDbStorage('contract');
  const doc = new Y.Doc();
  const replica = await storage.open('acct', doc, fail);
  for (let i = 1; i <= 1_200; i++) doc.getMap('reads').set(`t${i % 7}/d`, i);
  await replica.saveMeta({ deviceId: 'd', syncedOnce: true, pending: [] });
  doc.getMap('mutes').set('news', true);
  await replica.close();
  doc.getMap('mutes').set('after-close', true);
  const again = new Y.Doc();
  const reopened = await storage.open('acct', again, fail);
  const answer = { reads: again.getMap('reads').toJSON(), mutes: again.getMap('mutes').toJSON(), meta: reopened.meta };
  await reopened.close();
  return answer;
}

/**
 * Stores a replica as a v1 SDK left it (SDK-11): the retired maps `heads`, `reads`
 * (`thread/device` keys) and `mutes`, and metadata that says it synced. Call with the SDK closed.
 */
async function writeV1Replica(
  account: string,
  heads: Record<string, number>,
  reads: Record<string, number>,
): Promise<void> {
  const doc = new Y.Doc();
  const replica = await new IndexedDbStorage().open(account, doc, (err) => {
    throw err;
  });
  doc.transact(() => {
    for (const [thread, head] of Object.entries(heads)) doc.getMap('heads').set(thread, head);
    for (const [key, value] of Object.entries(reads)) doc.getMap('reads').set(key, value);
  });
  await replica.saveMeta({ deviceId, syncedOnce: true, pending: [] });
  await replica.close();
}

declare global {
  interface Window {
    app: PageApp;
  }
}
window.app = app;

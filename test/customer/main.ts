/**
 * A customer's web page: `@badgesync/client` installed from its packed tarball with npm and
 * bundled by Vite in a project outside this workspace (see e2e/customer-install.test.ts). It
 * shows one account's badge; the test drives it through `window.app`.
 *
 * URL parameters: `server` (ws://…), `account`, `device`, `token` (a device token).
 */
import { type Account, BadgeSync, IndexedDbStorage } from '@badgesync/client';

const params = new URLSearchParams(location.search);
function param(name: string): string {
  const value = params.get(name);
  if (value === null) throw new Error(`missing URL parameter ${name}`);
  return value;
}

const token = param('token');
const sync = new BadgeSync({ serverUrl: param('server'), deviceId: param('device'), storage: new IndexedDbStorage() });

function render(account: Account): void {
  const badge = document.getElementById('badge');
  const state = document.getElementById('state');
  if (badge) badge.textContent = String(account.badge);
  if (state) state.textContent = account.status.state;
}

const ready = sync.signIn(param('account'), { getToken: () => token }).then((account) => {
  account.on('counts', () => render(account));
  account.on('status', () => render(account));
  render(account);
  return account;
});

export interface CustomerApp {
  markRead(thread: string, seq: number): Promise<void>;
}

declare global {
  interface Window {
    app: CustomerApp;
  }
}

window.app = {
  async markRead(thread, seq) {
    (await ready).markRead(thread, seq);
  },
};

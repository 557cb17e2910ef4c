import type { Config } from './config.js';
import { CommitThread } from './store/commit-thread.js';

/**
 * [OPS-9] Starts the commit thread of a node that will run on a SQLite file (open-store.ts: no
 * database URL; an in-memory database commits on the event loop), before the server's modules
 * load. Booting the thread takes about as long as loading the server (from source, seconds on a
 * loaded machine), and the node listens only once the thread answers (STORE-17): started after
 * the modules, a restart waited for both in turn. True when it started one.
 */
export function startCommitThreadEarly(config: Pick<Config, 'databaseUrl' | 'db'>): boolean {
  if (config.databaseUrl !== null || config.db === ':memory:') return false;
  CommitThread.shared();
  return true;
}

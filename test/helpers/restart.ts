/**
 * Restarting a server where its devices expect it: same folder (database), same secrets,
 * same port, as a real deployment restarts. The first start still binds port 0.
 */
import type { ServerProcess } from './server-process.js';

/** How long to retry while the old port is still held (the kernel frees it promptly). */
const PORT_RETRY_MS = 5000;

export async function restartOnSamePort(
  server: ServerProcess,
  env: Readonly<Record<string, string>> = {},
): Promise<ServerProcess> {
  const until = Date.now() + PORT_RETRY_MS;
  for (;;) {
    try {
      return await server.restart({ ...env, BADGESYNC_PORT: String(server.port) });
    } catch (err) {
      if (!/EADDRINUSE/.test(String(err)) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

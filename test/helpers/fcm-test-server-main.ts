/**
 * Runs one test FCM server (FCM HTTP v1 and its OAuth token endpoint) until SIGINT/SIGTERM or
 * stdin closes (when started with `--stdin`).
 *
 *   node --import tsx test/helpers/fcm-test-server-main.ts [--project P]
 *
 * stdout, first line, one JSON object: {"baseUrl":"http://127.0.0.1:…","keyPath":…,"project":…}
 * Start badgesync with BADGESYNC_FCM_SERVICE_ACCOUNT=keyPath and BADGESYNC_FCM_URL=baseUrl.
 * Every push then goes to stderr as one JSON line (token, message, status). Every well-formed
 * push with a valid access token is answered 200 (scripting answers needs the class).
 */
import { parseArgs } from 'node:util';
import { FcmTestServer } from './fcm-test-server.js';
import { closeOnStop } from './test-server-kit.js';

const { values } = parseArgs({
  options: {
    project: { type: 'string' },
    stdin: { type: 'boolean', default: false },
  },
});

const server = await FcmTestServer.start(values.project === undefined ? {} : { projectId: values.project });

// Handlers before the ready line (see closeOnStop).
closeOnStop(server, values.stdin);

process.stdout.write(
  `${JSON.stringify({ baseUrl: server.baseUrl, keyPath: server.keyPath, project: server.serviceAccount.project_id })}\n`,
);

server.onAnswer((request) => {
  process.stderr.write(
    `${JSON.stringify({
      at: new Date(request.at).toISOString(),
      token: request.token,
      message: (request.body as { message?: unknown } | null)?.message,
      status: request.status,
    })}\n`,
  );
});

/**
 * Runs one test APNs server until SIGINT/SIGTERM or stdin closes (when started with `--stdin`).
 *
 *   node --import tsx test/helpers/apns-test-server-main.ts [--key-id K] [--team-id T] [--port P]
 *
 * stdout, first line, one JSON object:
 *   {"host":"127.0.0.1","port":…,"address":"127.0.0.1:…","caPath":…,"keyPath":…,"keyId":…,"teamId":…}
 * Start badgesync with NODE_EXTRA_CA_CERTS=caPath, BADGESYNC_APNS_HOST=address,
 * BADGESYNC_APNS_KEY_FILE=keyPath, BADGESYNC_APNS_KEY_ID=keyId, BADGESYNC_APNS_TEAM_ID=teamId.
 * Every request then goes to stderr as one JSON line (token, badge, collapse id, answer).
 * Every request is answered 200 (scripting answers needs the class, ApnsTestServer).
 */
import { parseArgs } from 'node:util';
import { ApnsTestServer } from './apns-test-server.js';
import { closeOnStop } from './test-server-kit.js';

const { values } = parseArgs({
  options: {
    'key-id': { type: 'string' },
    'team-id': { type: 'string' },
    port: { type: 'string' },
    stdin: { type: 'boolean', default: false },
  },
});

const server = await ApnsTestServer.start({
  ...(values['key-id'] === undefined ? {} : { keyId: values['key-id'] }),
  ...(values['team-id'] === undefined ? {} : { teamId: values['team-id'] }),
  ...(values.port === undefined ? {} : { port: Number(values.port) }),
});

// Handlers before the ready line (see closeOnStop).
closeOnStop(server, values.stdin);

process.stdout.write(
  `${JSON.stringify({
    host: server.host,
    port: server.port,
    address: server.address,
    caPath: server.caPath,
    keyPath: server.keyPath,
    keyId: server.keyId,
    teamId: server.teamId,
  })}\n`,
);

server.onAnswer((request) => {
  process.stderr.write(
    `${JSON.stringify({
      at: new Date(request.receivedAt).toISOString(),
      deviceToken: request.deviceToken,
      topic: request.headers['apns-topic'],
      collapseId: request.headers['apns-collapse-id'],
      payload: request.payload,
      session: request.session,
      answer: request.answer,
    })}\n`,
  );
});

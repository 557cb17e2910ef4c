import { readFileSync } from 'node:fs';
import { api, deviceToken } from '../helpers/api-client.js';
import { startServer, stopAll } from '../helpers/server-process.js';
import { sendSync } from './sync-target.js';

const rec = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const s = await startServer();
for (const thread of ['inbox', 'news']) await api(s, 'POST', '/v1/accounts/fz1/items', { thread, count: 100 });
const token = await deviceToken(s, 'fz1', rec.input.device);
const frames = rec.input.frames.map((f: string) => new Uint8Array(Buffer.from(f, 'base64')));
console.log(await sendSync(`${s.syncUrl}/fz1?token=${token}`, frames, '127.0.0.9', 5000));
await new Promise((r) => setTimeout(r, 500));
for (const l of s.logs) if ((l.level as number) >= 40) console.log(JSON.stringify(l).slice(0, 1500));
console.log('exit', s.child.exitCode, s.stderr.slice(0, 500));
await stopAll();

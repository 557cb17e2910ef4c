/**
 * A deliberately fragile stand-in for the server, for the fuzzer's own test: it prints the
 * real server's listening line, answers /healthz, answers 500 on any path containing
 * `boom`, and parses and decodes every path with an uncaught `new URL` and
 * `decodeURIComponent` — so a bad percent-escape or a target like `http://[` in any request
 * or upgrade kills it (URIError, TypeError), as the real server's upgrade handler once did.
 * The fuzzer must notice each of these.
 */
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const status = path === '/healthz' ? 200 : path.includes('boom') ? 500 : 404;
  const body = JSON.stringify(status === 200 ? { ok: true } : { error: { code: String(status), message: path } });
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
});
server.on('upgrade', (req, socket) => {
  decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
});
server.listen(Number(process.env.BADGESYNC_PORT ?? 0), process.env.BADGESYNC_HOST ?? '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'badgesync listening', port })}\n`);
});

// The lab's test peers, run by `sixgate lab` as separate node processes
// inside its namespaces (nsenter --net), so every socket lives where the
// check needs it:
//
//   node probe.js serve PORT      HTTP server answering "peer <client address>";
//                                 prints "ready" once listening
//   node probe.js get URL [MS]    one GET; prints {"ok","body","ms"} or
//                                 {"ok":false,"error"} as one JSON line
//
// Output is the protocol with the parent, so it goes to stdout on purpose.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface GetResult {
  readonly ok: boolean;
  /** The answer with surrounding blanks removed. */
  readonly body?: string;
  /** Request to full answer, in milliseconds (includes a fresh node's first-request warm-up). */
  readonly ms?: number;
  /** TCP handshake alone (SYN out, SYN-ACK back: the network's share), in milliseconds. */
  readonly connectMs?: number;
  readonly error?: string;
}

function serve(port: number): void {
  http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`peer ${req.socket.remoteAddress ?? '?'}\n`);
  }).listen(port, '::', () => process.stdout.write('ready\n'));
}

function get(url: string, timeoutMs: number): void {
  const t0 = performance.now();
  const done = (r: GetResult): void => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(r.ok ? 0 : 1);
  };
  // busybox httpd's CGI answers end header lines with a bare LF.
  const req = http.get(url, { timeout: timeoutMs, insecureHTTPParser: true, agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8').on('data', (d: string) => { body += d; });
    res.on('end', () => done({ ok: true, body: body.trim(), ms: performance.now() - t0, connectMs }));
  });
  let connectMs: number | undefined;
  req.on('socket', (s) => {
    // connect() was issued a tick earlier; the SYN-ACK needs a poll, so this is close to the handshake.
    const t1 = performance.now();
    s.once('connect', () => { connectMs = performance.now() - t1; });
  });
  req.on('timeout', () => { req.destroy(); done({ ok: false, error: `no answer within ${timeoutMs} ms` }); });
  req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
}

const [mode, arg, extra] = process.argv.slice(2);
if (mode === 'serve' && arg !== undefined) serve(Number(arg));
else if (mode === 'get' && arg !== undefined) get(arg, Number(extra ?? 3000));
else {
  process.stderr.write('usage: probe.js serve PORT | get URL [TIMEOUT_MS]\n');
  process.exit(2);
}

// h2-apns-server.js - a second, independent HTTP/2 server for the dispatch
// benchmark (bench/run-dispatch.sh --server node), so that the dispatcher's
// rate is compared with h2load against a server that shares no code with
// the project: Node's built-in http2 module, no npm packages.
//
// What it does: TLS + HTTP/2 on 127.0.0.1; answers POST /3/device/<hex> with
// 200 and an apns-id header (the request's, or a fresh UUID) like APNs;
// counts those requests and the distinct device tokens among them (a
// client that resends after a lost connection shows as the difference),
// keeps the first and last receive time, and counts HTTP/2 sessions and
// stream and session errors, so a run that lost connections says so.
// Anything else is 404 (or 405 for another method on a device path).
// What it does not do: check the provider token, topic or payload (the
// project's sandbox does that), keep the requests, or ever answer an error
// on purpose.
//
//   node bench/h2-apns-server.js --listen 127.0.0.1:PORT --cert server.pem --key server.key
//
// Control, on the same port over HTTP/1.1 or HTTP/2 (allowHTTP1), for the
// bench script only:
//   GET  /stats  -> {"requests":N,"distinct":D,"first_us":T0,"last_us":T1,
//                    "span_us":..,"sessions":S,"session_errors":E,"stream_errors":F,
//                    "streams_reset":R}   (R: streams that ended with RST_STREAM,
//                    e.g. a client cancelling a request it gave up waiting for)
//                   (wall-clock microseconds: hrtime offsets from one
//                   Date.now() taken at start, so spans are monotonic)
//   POST /reset  -> zeroes the counters
// It prints "listening PORT" once it accepts, and exits on SIGTERM/SIGINT.
'use strict';

const http2 = require('http2');
const fs = require('fs');
const crypto = require('crypto');

function usage(msg) {
  process.stderr.write(`h2-apns-server: ${msg}\n` +
    'usage: node h2-apns-server.js --listen 127.0.0.1:PORT --cert FILE --key FILE\n');
  process.exit(2);
}

const opts = {};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i], v = process.argv[i + 1];
  if (!['--listen', '--cert', '--key'].includes(k) || v === undefined) usage(`bad argument ${k}`);
  opts[k.slice(2)] = v;
}
if (!opts.listen || !opts.cert || !opts.key) usage('--listen, --cert and --key are required');
const m = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(opts.listen);
if (!m) usage('--listen must be 127.0.0.1:PORT (loopback only)');

// One wall-clock origin, then the monotonic clock: receive times stay
// comparable with other processes' wall clocks without going backwards.
const originUs = BigInt(Date.now()) * 1000n;
const originHr = process.hrtime.bigint();
const nowUs = () => originUs + (process.hrtime.bigint() - originHr) / 1000n;

let requests = 0;
let firstUs = 0n;
let lastUs = 0n;
let tokens = new Set();
let sessions = 0;
let sessionErrors = 0;
let streamErrors = 0;
let streamsReset = 0;
const devicePath = /^\/3\/device\/[0-9a-fA-F]+$/;

function stats() {
  return JSON.stringify({
    requests,
    distinct: tokens.size,
    first_us: Number(firstUs),
    last_us: Number(lastUs),
    span_us: Number(lastUs - firstUs),
    sessions,
    session_errors: sessionErrors,
    stream_errors: streamErrors,
    streams_reset: streamsReset,
  }) + '\n';
}

// The compatibility API serves both HTTP/2 (the dispatcher, h2load) and the
// script's HTTP/1.1 control requests on one port.
const server = http2.createSecureServer({
  cert: fs.readFileSync(opts.cert),
  key: fs.readFileSync(opts.key),
  allowHTTP1: true,
  // APNs allows many streams per connection; 1000 keeps h2load -m 100 and
  // the dispatcher's in-flight window from being throttled by the server.
  settings: { maxConcurrentStreams: 1000 },
  // Node's default (10 MB of buffered frames per session) is hit by 1000
  // streams in flight on a busy machine, and Node then refuses streams
  // with ENHANCE_YOUR_CALM: a limit of this server, not of the client.
  maxSessionMemory: 256,
}, (req, res) => {
  const path = req.url.split('?')[0];
  if (devicePath.test(path)) {
    if (req.method !== 'POST') {
      res.writeHead(405);
      res.end();
      return;
    }
    const t = nowUs();
    if (requests === 0) firstUs = t;
    lastUs = t;
    requests++;
    tokens.add(path);
    // The body is read and dropped: a server that never reads it would
    // stall the client's flow-control window.
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'apns-id': req.headers['apns-id'] || crypto.randomUUID() });
      res.end();
    });
    return;
  }
  if (path === '/stats' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(stats());
    return;
  }
  if (path === '/reset' && req.method === 'POST') {
    requests = 0;
    firstUs = 0n;
    lastUs = 0n;
    tokens = new Set();
    sessions = 0;
    sessionErrors = 0;
    streamErrors = 0;
    streamsReset = 0;
    res.writeHead(204);
    res.end();
    return;
  }
  res.writeHead(404);
  res.end();
});

server.on('session', (session) => {
  sessions++;
});
server.on('stream', (stream) => {
  stream.on('error', () => { streamErrors++; });
  stream.on('close', () => { if (stream.rstCode) streamsReset++; });
});
server.on('sessionError', () => { sessionErrors++; });
server.on('error', (e) => {
  process.stderr.write(`h2-apns-server: ${e.message}\n`);
  process.exit(1);
});
server.listen(Number(m[2]), m[1], () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    process.stderr.write(`h2-apns-server: ${sig}, ${stats()}`);
    process.exit(0);
  });
}

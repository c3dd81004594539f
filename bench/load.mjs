// The load generator: autocannon in its own process (started by run.mjs pinned to the load core). It gets the
// tokens over IPC (never on a command line or in a log) and cycles every connection through them.
//
// With `busyPoll` (run.mjs's default for timed rounds) its event loop never sleeps while a run lasts: one
// setImmediate after another keeps libuv polling with a zero timeout. Over 127.0.0.1 the kernel delivers a
// response into autocannon's socket inside the server's own write, and when autocannon sleeps in epoll_wait that
// write also wakes it (an inter-processor interrupt, dear in a VM): the server's CPU then pays for the load
// generator's wake-ups, the more the slower the server, so any guard that slows a server got charged for them
// too (bench/README.md, session 19). A real client on another machine wakes on its own CPU. The time the loop
// spends polling with nothing to do is measured (`idleUs`), so the load process's busy share stays meaningful.
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { exitWithParent } from './lib/common.mjs';

exitWithParent();
// Each connection starts the token list at its own place (see shareRequestBuffers): the run's connection count, or 1
// (every connection from the first token, as autocannon does by itself) when a run asks for `spread: false`.
let spreadOver = 1;
let connectionIndex = 0;
// Whether the patch is in place: without it the connections move in lockstep, whatever a run asks for (the 'ready'
// message says so, and run.mjs refuses to measure unless told --lockstep).
const PATCHED = shareRequestBuffers();

let current;

process.on('message', async (msg) => {
  try {
    if (msg.type !== 'run') return;
    const requests = msg.tokens.map((t) => ({ method: 'GET', path: '/', headers: { authorization: `Bearer ${t}` } }));
    // autocannon() builds every connection before it returns (0.1-0.2 s here for 50 connections × 1,000 requests,
    // 0.5-0.8 s without shareRequestBuffers), with the server idle, and its own `duration` counts that too. The run's window is timed
    // from its return on: requests are only sent after it, so req/s and both processes' busy shares are over the
    // load itself (up to session 22 they were over the build as well: req/s read ~15% low in 4 s rounds, and how
    // long the build took varied from run to run).
    connectionIndex = 0;
    spreadOver = msg.spread === false ? 1 : msg.connections;
    current = autocannon({
      url: msg.url,
      connections: msg.connections,
      duration: msg.duration,
      requests,
      ...(msg.overallRate ? { overallRate: msg.overallRate } : {}),
      timeout: 10,
      // autocannon ends a run at the first sample tick after its duration: 250 ms ticks end a 1.5 s run at 1.5 s,
      // not 2 s (req/s is total ÷ the measured window either way; the per-tick counts are not used).
      sampleInt: 250,
    });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const poll = msg.busyPoll === true ? busyPoll() : undefined;
    let r;
    try {
      r = await current;
    } finally {
      current = undefined;
      poll?.stop();
    }
    const cpu = process.cpuUsage(c0);
    const seconds = (performance.now() - t0) / 1000;
    const statusCodes = {};
    for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v.count;
    process.send({
      type: 'done',
      result: {
        total: r.requests.total,
        reqPerSec: r.requests.total / seconds,
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        statusCodes,
        seconds,
        loadCpuUs: cpu.user + cpu.system,
        loadIdleUs: poll === undefined ? 0 : poll.idleUs(),
      },
    });
  } catch (err) {
    process.send({ type: 'error', message: String(err?.message ?? err) });
  }
});

// An event-loop turn shorter than this did no work but the poll itself (an empty turn takes ~1-2 µs here;
// handling one response takes longer). Those turns are the load generator's idle time.
const IDLE_TURN_MS = 0.008;

/** Keeps the event loop polling without sleeping until `stop()`; `idleUs()` sums the turns that found nothing to do. */
function busyPoll() {
  let on = true;
  let idle = 0;
  let last = performance.now();
  const turn = () => {
    if (!on) return;
    const now = performance.now();
    if (now - last < IDLE_TURN_MS) idle += now - last;
    last = now;
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    stop: () => {
      on = false;
    },
    idleUs: () => idle * 1000,
  };
}

/**
 * autocannon 8 deep-copies its options for every connection, the `requests` list included, and renders a buffer
 * for every request of each copy: 50 connections × 1,000 tokens rendered 50,000 times per run (~0.5-0.8 s here,
 * and ~45 MB of garbage for the load process to collect during the run). For a list of plain requests (method,
 * path, headers; no `setupRequest`, no `idReplacement`) a buffer depends only on the request and the target, so
 * a copy of the list the last connection rendered for the same target gets that connection's buffers (they are
 * only ever written to sockets). Returns whether the patch is in place (skipped if autocannon's internals differ).
 */
function shareRequestBuffers() {
  let RequestIterator;
  try {
    RequestIterator = createRequire(import.meta.url)('autocannon/lib/requestIterator.js');
  } catch {
    return false;
  }
  const proto = RequestIterator?.prototype;
  if (typeof proto?.setRequests !== 'function' || typeof proto.rebuildRequest !== 'function') return false;
  const render = proto.setRequests;
  let last;
  proto.setRequests = function setRequests(requests) {
    const d = this.reqDefaults ?? {};
    if (d.idReplacement || !Array.isArray(requests) || requests.length === 0 || !requests.every(isPlain)) return render.call(this, requests);
    const target = `${d.protocol} ${d.host} ${d.method} ${d.auth} ${JSON.stringify(d.headers ?? {})}`;
    if (last?.target === target && sameRequests(last.requests, requests)) {
      for (let i = 0; i < requests.length; i++) requests[i].requestBuffer = last.buffers[i];
    } else {
      render.call(this, requests);
      last = { target, requests: requests.map((q) => ({ method: q.method, path: q.path, headers: { ...q.headers } })), buffers: requests.map((q) => q.requestBuffer) };
    }
    // Connection k starts at request k × n / connections. autocannon starts every connection at the first request,
    // and since each sends its next request when its last is answered, all of them then move through the list in
    // lockstep: the server saw each token ~50 times in a row, its cache entry hot, instead of 1,000 tokens interleaved.
    const n = requests.length;
    const offset = Math.floor(((connectionIndex++ % spreadOver) * n) / spreadOver) % n;
    this.resetted = false;
    this.requests = offset === 0 ? requests : [...requests.slice(offset), ...requests.slice(0, offset)];
    this.currentRequestIndex = 0;
    this.currentRequest = this.requests[0];
  };
  return true;
}

const isPlain = (q) => q !== null && typeof q === 'object' && Object.keys(q).every((k) => k === 'method' || k === 'path' || k === 'headers') && typeof q.headers === 'object';

function sameRequests(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.method !== y.method || x.path !== y.path) return false;
    const keys = Object.keys(y.headers);
    if (keys.length !== Object.keys(x.headers).length) return false;
    for (const k of keys) if (x.headers[k] !== y.headers[k]) return false;
  }
  return true;
}

process.on('SIGTERM', () => {
  current?.stop?.();
  process.exit(0);
});
process.send({ type: 'ready', spread: PATCHED });

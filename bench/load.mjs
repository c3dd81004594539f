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
import autocannon from 'autocannon';
import { exitWithParent } from './lib/common.mjs';

exitWithParent();

let current;

process.on('message', async (msg) => {
  try {
    if (msg.type !== 'run') return;
    const requests = msg.tokens.map((t) => ({ method: 'GET', path: '/', headers: { authorization: `Bearer ${t}` } }));
    const poll = msg.busyPoll === true ? busyPoll() : undefined;
    const c0 = process.cpuUsage();
    current = autocannon({
      url: msg.url,
      connections: msg.connections,
      duration: msg.duration,
      requests,
      ...(msg.overallRate ? { overallRate: msg.overallRate } : {}),
      timeout: 10,
    });
    let r;
    try {
      r = await current;
    } finally {
      current = undefined;
      poll?.stop();
    }
    const cpu = process.cpuUsage(c0);
    const statusCodes = {};
    for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v.count;
    process.send({
      type: 'done',
      result: {
        total: r.requests.total,
        reqPerSec: r.requests.total / r.duration,
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        statusCodes,
        seconds: r.duration,
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

process.on('SIGTERM', () => {
  current?.stop?.();
  process.exit(0);
});
process.send({ type: 'ready' });

// The load generator: autocannon in its own process (started by run.mjs pinned to the load core). It gets the
// tokens over IPC (never on a command line or in a log) and cycles every connection through them.
import autocannon from 'autocannon';
import { exitWithParent } from './lib/common.mjs';

exitWithParent();

let current;

process.on('message', async (msg) => {
  try {
    if (msg.type !== 'run') return;
    const requests = msg.tokens.map((t) => ({ method: 'GET', path: '/', headers: { authorization: `Bearer ${t}` } }));
    const c0 = process.cpuUsage();
    current = autocannon({
      url: msg.url,
      connections: msg.connections,
      duration: msg.duration,
      requests,
      ...(msg.overallRate ? { overallRate: msg.overallRate } : {}),
      timeout: 10,
    });
    const r = await current;
    current = undefined;
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
      },
    });
  } catch (err) {
    process.send({ type: 'error', message: String(err?.message ?? err) });
  }
});

process.on('SIGTERM', () => {
  current?.stop?.();
  process.exit(0);
});
process.send({ type: 'ready' });

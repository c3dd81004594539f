// Shared plumbing of the benchmark: argument parsing, statistics, pinned child processes that are always
// killed at the end (normal exit, error, SIGINT/SIGTERM), and the machine description.
import { spawn, execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Absolute path of the bench/ folder. */
export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/** Parses `--flag` and `--key=value` / `--key value` arguments into an object. */
export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

/**
 * The process that represents a variant or case run in several processes: the one with the lowest median CPU.
 * One rule for every row of both benchmarks (floor, bare, tokenguard, peers): start-up state makes some processes
 * of the very same code slower for their whole life, which is noise to a comparison, never the code's cost.
 * `cpuOf` gives a process's median CPU; undefined when there is none.
 */
export function bestProcess(processes, cpuOf) {
  return processes.length ? processes.reduce((a, b) => (cpuOf(b) < cpuOf(a) ? b : a)) : undefined;
}

/**
 * Flags of every timed child process (HTTP servers, micro workers). V8's memory reducer fires when a process idles
 * a few seconds (as servers do while the others are primed and timed, and micro workers between their rounds) and
 * shrinks its heap: the process then collects more often, and a server stayed slower for the rest of its life
 * (identical bare Fastify servers measured 12.0 vs 15.2 µs/request, depending only on how long each waited).
 */
export const TIMED_NODE_ARGS = ['--no-memory-reducer'];

/** Median of a list of numbers (NaN for an empty list). */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * A 90% interval for `median(a) − median(b)` by the bootstrap: both lists resampled with replacement
 * (`resamples` times, a fixed-seed generator so a report is reproducible from its own numbers), the 5th and 95th
 * percentiles of the differences. What the rounds of a run can tell apart: a target line inside the interval is
 * not decided by that run. `[NaN, NaN]` when either list is empty.
 */
export function bootstrapMedianDiff(a, b, resamples = 2_000, seed = 0x9e3779b9) {
  return bootstrapInterval([a, b], (draw) => draw(0) - draw(1), resamples, seed);
}

/**
 * A 90% interval for `(median(a) − median(base)) ÷ (median(b) − median(base))`, the same way: the ratio of two
 * variants' costs over a common base (the uncached guard's extra CPU ÷ the floor guard's, both over bare), with all
 * three lists resampled. `[NaN, NaN]` when a list is empty.
 */
export function bootstrapMedianRatio(a, b, base, resamples = 2_000, seed = 0x9e3779b9) {
  return bootstrapInterval([a, b, base], (draw) => {
    const bare = draw(2);
    return (draw(0) - bare) / (draw(1) - bare);
  }, resamples, seed);
}

/** The 5th and 95th percentiles of `statistic` over `resamples` bootstrap draws of `lists` (see above). */
function bootstrapInterval(lists, statistic, resamples, seed) {
  const xs = lists.map((list) => list.filter(Number.isFinite));
  if (xs.some((x) => x.length === 0)) return [NaN, NaN];
  let state = seed >>> 0;
  // mulberry32: a small seeded generator; Math.random() cannot be seeded.
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const draw = (i) => median(Array.from(xs[i], () => xs[i][Math.floor(next() * xs[i].length)]));
  const values = Array.from({ length: resamples }, () => statistic(draw)).sort((x, y) => x - y);
  return [values[Math.floor(resamples * 0.05)], values[Math.ceil(resamples * 0.95) - 1]];
}

/** CPU time (user + system) of this whole process, threads included, in microseconds. */
export function cpuNow() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** True when util-linux `taskset` is on PATH and there are at least two cores to separate. */
export const canPin = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

/** Core the servers under test run on, and the core the load generators run on. */
export const SERVER_CORE = cpus().length - 1;
export const LOAD_CORE = 0;

const children = new Set();

/**
 * Starts `node <script> ...args` with an IPC channel, pinned to `core` with taskset when possible
 * (taskset execs node in place, so the pid and the IPC channel are node's own).
 */
export function startNode(script, args = [], { core, nodeArgs = [], stdout = 'inherit' } = {}) {
  const nodeCmd = [...nodeArgs, join(BENCH_DIR, script), ...args];
  const [cmd, argv] = canPin && core !== undefined ? ['taskset', ['-c', String(core), process.execPath, ...nodeCmd]] : [process.execPath, nodeCmd];
  const child = spawn(cmd, argv, { stdio: ['ignore', stdout, 'inherit', 'ipc'], env: { ...process.env, NODE_ENV: 'production' } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Waits for the next IPC message of `type` from `child`, at most `timeoutMs`. */
export function nextMessage(child, type, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for '${type}'`)), timeoutMs);
    const onMsg = (m) => {
      if (m && m.type === type) done(null, m);
      else if (m && m.type === 'error') done(new Error(`child error: ${m.message}`));
    };
    const onExit = (code, sig) => done(new Error(`child exited (${code ?? sig}) while waiting for '${type}'`));
    function done(err, m) {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m);
    }
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

/** Sends a request message and waits for the reply of type `replyType` (default: the same type). */
export async function ask(child, msg, timeoutMs, replyType = msg.type) {
  const reply = nextMessage(child, replyType, timeoutMs);
  child.send(msg);
  return reply;
}

/** Kills one child and waits (bounded) for it to exit. */
export async function stop(child, timeoutMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

/** Kills every child still running (used at exit and on signals). */
export function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

let hooked = false;
/** Makes sure no child outlives the orchestrator, whatever way it ends. */
export function installCleanup() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** For child scripts: exit when the parent goes away (IPC channel closed). */
export function exitWithParent() {
  if (process.send) process.on('disconnect', () => process.exit(0));
}

/** CPU model, cores, memory, Node version, date, and whether pinning was available. */
export function machine() {
  const c = cpus();
  let load;
  try {
    load = readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
  } catch {
    load = 'n/a';
  }
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memGiB: (totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
    pinned: canPin,
    loadavg: load,
  };
}

/** Sleeps `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * What the built `@tokenguard/core` offers: whether it loads, which `engine` values it documents
 * (`[undefined]` when it has no engine option), and whether it has the `offload` option.
 */
export async function tokenguardInfo() {
  try {
    const core = await import('@tokenguard/core');
    if (typeof core.createTokenVerifier !== 'function') return { available: false, reason: '@tokenguard/core has no createTokenVerifier yet', engines: [], offload: false };
    const dist = join(BENCH_DIR, '..', 'packages', 'core', 'dist');
    let dts = '';
    const walk = (d) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.d.ts')) dts += readFileSync(join(d, e.name), 'utf8');
      }
    };
    walk(dist);
    const engines = /\bengine\?\s*:/.test(dts) && /'jose'/.test(dts) && /'node'/.test(dts) ? ['node', 'jose'] : [undefined];
    // `offload: true` (node engine: crypto.verify on the libuv thread pool), when the core has it.
    const offload = /\boffload\?\s*:\s*boolean/.test(dts);
    return { available: true, engines, offload, core };
  } catch (err) {
    return { available: false, reason: `@tokenguard/core not loadable (${err.code ?? err.message})`, engines: [], offload: false };
  }
}

/**
 * Per-core jiffies from /proc/stat: `busy` (user, nice, system, steal: processes), `irq` (irq + softirq: the
 * kernel's network work, e.g. loopback TCP for the server's sockets) and `total`; undefined where unreadable.
 */
export function coreTimes() {
  try {
    const out = [];
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      const irq = v[5] + v[6];
      out[Number(m[1])] = { busy: total - v[3] - v[4] - irq, irq, total };
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Shares of core `i` between two {@link coreTimes} readings: `{ busy, irq }` (NaN where unknown). */
export function coreShares(a, b, i) {
  const x = a?.[i];
  const y = b?.[i];
  if (!x || !y || y.total === x.total) return { busy: NaN, irq: NaN };
  const d = y.total - x.total;
  return { busy: (y.busy - x.busy) / d, irq: (y.irq - x.irq) / d };
}

/**
 * The end of every measuring child: run by run.mjs, the result goes back over IPC (then exit 0; an error exits 1);
 * run alone, it is printed (`text(result)`, JSON by default) to stdout.
 */
export function reportAndExit(promise, text = (result) => JSON.stringify(result, null, 2)) {
  promise.then(
    (result) => {
      if (process.send) process.send({ type: 'result', result }, () => process.exit(0));
      else {
        process.stdout.write(`${text(result)}\n`);
        process.exit(0);
      }
    },
    (err) => {
      if (process.send) process.send({ type: 'error', message: String(err?.stack ?? err) }, () => process.exit(1));
      else {
        console.error(err);
        process.exit(1);
      }
    },
  );
}

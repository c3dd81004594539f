// `pnpm bench` (full) / `pnpm bench --quick` (< 3 minutes): runs the verification microbenchmark, the memory
// check, the HTTP benchmark (bare framework vs tokenguard vs the peer guard, autocannon in its own process,
// server and load generator pinned to different cores, alternating rounds, medians) and the unknown-kid
// flood, then writes bench/RESULTS.md. Plain ESM on the built packages (`tsc -b` first), no TS runner.
//
// Options: --quick | --smoke (micro only, tiny; used by the CI smoke test)
//          --only=micro,memory,http,paired,flood   --out=<file> (default bench/RESULTS.md)   --json=<file>
//          --note="<text>" (added to the top of RESULTS.md, e.g. "measured under load")
//          --frameworks=express,express-createServer,fastify,koa (HTTP: only these; express-createServer is Express
//          served by @tokenguard/express's createServer(app), every row of it bare included)
//          --diagnose (diagnostic middlewares: async no-op everywhere; on Express core-direct, a sync-hit sketch, a sync no-op and one that only sets req.auth;
//          and the paired rounds: bare and guards in one server process, switched every 250 ms)   --duration=S --rounds=N --warm=S --replicas=N --deadline=S (try-outs)
//          --paired-groups=control,cached,uncached,cached-lockstep --cycles=N --processes=N --slice-ms=MS --paired-warm=S (paired-round try-outs)
//          --load-sleeps (the load generator's event loop sleeps between responses, as before session 19: the server then
//          pays for waking it; default: it polls without sleeping during timed rounds)
//          --lockstep (every load connection starts at the first token, as autocannon does by itself, so all of them move
//          through the rotation together; default: connection k starts at token k × 1,000 / 50)
//          --variants=bare,floor-cached,tg-cached (HTTP try-outs: only the variants of these kinds)   --rotation=N (try-outs: N distinct tokens in rotation, default 1,000)
//          --profile | --no-profile (one more run per bare/floor/tokenguard server under the V8 profiler, summaries
//          in the report; default on in full mode, off in quick mode)
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, median, bestProcess, bootstrapMedianDiff, TIMED_NODE_ARGS, startNode, nextMessage, ask, stop, killAll, installCleanup, machine, sleep, tokenguardInfo, canPin, coreTimes, coreShares, SERVER_CORE, LOAD_CORE, BENCH_DIR } from './lib/common.mjs';
import { ALGS, ISSUER, AUDIENCE, makeKey, signTokens, startJwksServer } from './lib/tokens.mjs';
import { renderReport } from './lib/report.mjs';
import { inGroupOrder, medianWithInterval, pairedCycles, slicesOf } from './lib/paired.mjs';
import { DEFAULT_BASELINE_DIR } from './baseline.mjs';

const args = parseArgs(process.argv.slice(2));
const MODE = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full';
const SETTINGS = {
  smoke: { sections: ['micro'], http: null, flood: null, memoryTokens: 0, deadlineS: 60 },
  quick: { sections: ['micro', 'memory', 'http', 'flood'], http: { duration: 1.5, warm: 0, rounds: 2, replicas: 1, extraAlgs: false, allEngines: false }, paired: { processes: 1, warm: 1, sliceMs: 250, cycles: 8 }, flood: { duration: 2, warm: 1, rounds: 2, rate: 500 }, memoryTokens: 10_000, deadlineS: 240 },
  full: { sections: ['micro', 'memory', 'http', 'flood'], http: { duration: 4, warm: 10, rounds: 5, replicas: 3, extraAlgs: true, allEngines: true }, paired: { processes: 2, warm: 6, sliceMs: 250, cycles: 24 }, flood: { duration: 6, warm: 10, rounds: 5, rate: 500 }, memoryTokens: 10_000, deadlineS: 5_400 },
}[MODE];
// The paired rounds are a diagnostic (see pairedBench): --diagnose adds them after the HTTP rounds (full runs then
// get 15 more minutes of deadline), --only=paired runs them alone.
if (args.diagnose && SETTINGS.sections.includes('http')) {
  SETTINGS.sections.splice(SETTINGS.sections.indexOf('http') + 1, 0, 'paired');
  if (MODE === 'full') SETTINGS.deadlineS += 900;
}
// Overrides for trying the harness out (e.g. the full plan with tiny rounds): --duration, --rounds, --warm.
for (const k of ['duration', 'rounds', 'warm', 'replicas']) {
  if (args[k] === undefined) continue;
  if (SETTINGS.http) SETTINGS.http[k] = Number(args[k]);
  if (SETTINGS.flood && k !== 'replicas') SETTINGS.flood[k] = Number(args[k]);
}
// Paired-round try-outs: --cycles=N (timed cycles per process), --processes=N, --slice-ms=MS, --paired-warm=S.
for (const [flag, k] of [['cycles', 'cycles'], ['processes', 'processes'], ['slice-ms', 'sliceMs'], ['paired-warm', 'warm']]) {
  if (args[flag] !== undefined && SETTINGS.paired) SETTINGS.paired[k] = Number(args[flag]);
}
// A try-out of the full plan in quick mode may need longer than the quick deadline: --deadline=S.
if (args.deadline !== undefined) SETTINGS.deadlineS = Number(args.deadline);
const sections = args.only ? String(args.only).split(',') : SETTINGS.sections;
const OUT = args.out ? String(args.out) : join(BENCH_DIR, 'RESULTS.md');
const CONNECTIONS = 50;
// Server profiles: on by default in full mode (3 s runs after the timed rounds), opt-in with --profile.
const PROFILE = Boolean(args.profile) || (MODE === 'full' && !args['no-profile']);
const ROTATION = args.rotation === undefined ? 1_000 : Number(args.rotation);
// The load generator polls without sleeping during the HTTP and paired rounds (bench/load.mjs, session 19), so the
// server does not pay for waking it; --load-sleeps restores the sleeping load generator for comparison.
const BUSY_POLL = !args['load-sleeps'];
// Each load connection starts the token rotation at its own place (bench/load.mjs, session 22), so consecutive
// requests carry different tokens; --lockstep restores autocannon's own order (every connection from the first
// token, all of them moving through the list together) for comparison.
const SPREAD = !args.lockstep;
if (!Number.isInteger(ROTATION) || ROTATION < 1) throw new Error('--rotation must be a positive integer');
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

installCleanup();
// Bounded: the whole run is stopped (children killed) if it ever exceeds its deadline.
const watchdog = setTimeout(() => {
  log(`deadline of ${SETTINGS.deadlineS}s exceeded, stopping`);
  killAll();
  process.exit(2);
}, SETTINGS.deadlineS * 1000);
watchdog.unref();

async function runChild(script, childArgs, { nodeArgs = [], timeoutMs }) {
  const child = startNode(script, childArgs, { nodeArgs, stdout: 'ignore' });
  try {
    return (await nextMessage(child, 'result', timeoutMs)).result;
  } finally {
    await stop(child);
  }
}

// ---------------------------------------------------------------- HTTP

/** Express under app.listen() (`express`) or under @tokenguard/express's createServer(app) (`express-createServer`). */
const EXPRESS_SERVERS = ['express', 'express-createServer'];
const isExpress = (fw) => EXPRESS_SERVERS.includes(fw);

/**
 * The least any Express middleware costs (one more router layer, nothing read or set), and the least any Express
 * guard costs: a synchronous middleware that only reads the Authorization header, or only sets req.auth. Separate
 * server processes with --diagnose; the paired group `least` (session 30) puts them in one process.
 */
const EXPRESS_LEAST = [
  { id: 'sync no-op middleware', guard: 'sync-noop' },
  { id: 'sync middleware that only reads the Authorization header', guard: 'reads-header' },
  { id: 'sync middleware that only sets req.auth', guard: 'sets-auth' },
];

/** The variants per framework: bare, tokenguard (cached; uncached), the peers. */
function httpPlan(tg, adapters, settings) {
  const tgVariants = (fw) => {
    if (!tg.available || !adapters[fw]) return [];
    const out = [{ id: 'tokenguard', guard: 'tokenguard', alg: 'RS256', kind: 'tg-cached', replicas: settings.replicas }];
    // Quick mode, and Express on createServer(app), time only the default engine over HTTP; the microbenchmark
    // compares both.
    for (const [i, engine] of (settings.allEngines && fw !== 'express-createServer' ? tg.engines : tg.engines.slice(0, 1)).entries()) {
      out.push({ id: `tokenguard, uncached${engine ? ` (${engine})` : ''}`, guard: 'tokenguard', alg: 'RS256', cache: false, engine, kind: 'tg-uncached', ...(i === 0 ? { replicas: settings.replicas } : {}) });
    }
    if (fw === 'express' && settings.extraAlgs) {
      for (const alg of ['ES256', 'EdDSA']) out.push({ id: `tokenguard, uncached ${alg}`, guard: 'tokenguard', alg, cache: false, engine: tg.engines[0], kind: 'tg-uncached', replicas: settings.replicas });
      // Does jose's thread-pool offload win req/s when the server may use both cores (shared with autocannon)?
      if (tg.engines.length > 1) {
        for (const engine of tg.engines) out.push({ id: `tokenguard, uncached (${engine}), server unpinned`, guard: 'tokenguard', alg: 'RS256', cache: false, engine, kind: 'tg-unpinned', unpinned: true });
      }
      if (tg.offload) {
        const engine = tg.engines.includes('node') ? 'node' : undefined;
        out.push({ id: 'tokenguard, uncached (node, offload)', guard: 'tokenguard', alg: 'RS256', cache: false, engine, offload: true, kind: 'tg-uncached' });
        out.push({ id: 'tokenguard, uncached (node, offload), server unpinned', guard: 'tokenguard', alg: 'RS256', cache: false, engine, offload: true, kind: 'tg-unpinned', unpinned: true });
      }
    }
    return out;
  };
  // The node:crypto floor as a guard in the same server: the yardstick for uncached tokenguard.
  // Diagnostics that tell the framework's async-middleware cost from the core's and the adapter's, with
  // --diagnose only: everywhere an async no-op; on Express also the core in a minimal middleware, a sync
  // cache-hit sketch and a middleware that only sets req.auth.
  const diag = (fw) => {
    if (!args.diagnose) return [];
    const out = [{ id: 'async no-op middleware (diagnostic)', guard: 'async-noop', alg: 'RS256', kind: 'diag' }];
    if (fw === 'express' && tg.available) out.push({ id: 'core sync entry in a minimal middleware (diagnostic)', guard: 'core-direct', alg: 'RS256', kind: 'diag' });
    if (fw === 'express' && tg.available) out.push({ id: 'sync cache-hit sketch (diagnostic)', guard: 'sync-hit-sketch', alg: 'RS256', kind: 'diag' });
    if (isExpress(fw)) for (const { id, guard } of EXPRESS_LEAST) out.push({ id: `${id} (diagnostic)`, guard, alg: 'RS256', kind: 'diag', replicas: settings.replicas });
    return out;
  };
  const bare = () => ({ id: 'bare', guard: 'bare', alg: 'RS256', kind: 'bare', replicas: settings.replicas });
  // Peers fetch the same JWKS as tokenguard (like for like), through the JWKS companion their docs name; the
  // PEM rows give the key directly, which only flatters them (shown, not used for the target).
  const peer = (id, keySource) => ({ id: keySource === 'pem' ? `${id} (PEM given directly)` : id, guard: id, alg: 'RS256', kind: 'peer', keySource });
  // Diagnostic: bare with only its framework loaded (every other server process loads the same module set first).
  const pristine = { id: 'bare, nothing else loaded (diagnostic)', guard: 'bare-pristine', alg: 'RS256', kind: 'diag', preload: false };
  // Rows of full runs and --diagnose only: quick mode keeps to its 3 minutes.
  const thorough = MODE === 'full' || args.diagnose;
  const floors = (fw) => [
    ...diag(fw),
    // Not on createServer(app): that server is @tokenguard/express's, so something else is always loaded.
    ...(thorough && fw !== 'express-createServer' ? [pristine] : []),
    { id: 'node:crypto floor guard', guard: 'floor', alg: 'RS256', kind: 'floor', replicas: settings.replicas },
    // The floor guard behind the least a verified-token cache does: the yardstick of the cached rows.
    ...(thorough ? [{ id: 'node:crypto floor guard, cached', guard: 'floor-cached', alg: 'RS256', kind: 'floor-cached', replicas: settings.replicas }] : []),
    ...(fw === 'express' && settings.extraAlgs ? ['ES256', 'EdDSA'].map((alg) => ({ id: `node:crypto floor guard ${alg}`, guard: 'floor', alg, kind: 'floor', replicas: settings.replicas })) : []),
  ];
  // The PEM rows are information, not a target: quick mode leaves them out (it keeps to its 3 minutes).
  const pemPeer = (id) => (thorough ? [peer(id, 'pem')] : []);
  const expressPeers = () => [peer('express-oauth2-jwt-bearer', 'jwks'), peer('express-jwt + jwks-rsa', 'jwks')];
  const plan = {
    express: [bare(), ...floors('express'), ...tgVariants('express'), ...expressPeers(), ...pemPeer('express-jwt')],
    // The same Express apps served by @tokenguard/express's createServer(app) instead of app.listen(), bare
    // included (bench/README.md, session 18). Full runs and --diagnose only: quick mode keeps to its 3 minutes.
    ...(thorough ? { 'express-createServer': [bare(), ...floors('express-createServer'), ...tgVariants('express-createServer'), ...expressPeers()] } : {}),
    fastify: [bare(), ...floors('fastify'), ...tgVariants('fastify'), peer('@fastify/jwt + get-jwks', 'jwks'), ...pemPeer('@fastify/jwt')],
    koa: [bare(), ...floors('koa'), ...tgVariants('koa'), peer('koa-jwt + jwks-rsa', 'jwks'), ...pemPeer('koa-jwt')],
  };
  if (args.variants === undefined) return plan;
  // A try-out of a few variants (e.g. bare against tokenguard cached, with more replicas): the kinds named.
  const kinds = String(args.variants).split(',');
  const known = new Set(Object.values(plan).flatMap((variants) => variants.map((v) => v.kind)));
  const unknown = kinds.filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`--variants: no variant of kind ${unknown.join(', ')} in this plan (kinds: ${[...known].join(', ')})`);
  return Object.fromEntries(Object.entries(plan).map(([fw, variants]) => [fw, variants.filter((v) => kinds.includes(v.kind))]));
}

const statusOf = async (port, auth) => {
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: auth ? { authorization: `Bearer ${auth}` } : {}, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
};

/** Checked before timing, on every server: a valid token gets 200. */
async function sanity(port, token) {
  const ok = await statusOf(port, token);
  return ok === 200 ? null : `valid token got ${ok}`;
}

/**
 * Checked on every guard (not bare, not a diagnostic): no token and a forged token get 401. The HTTP rounds ask
 * this after timing, on the same process: a 401 is the only response a bare server never sends, and its other
 * headers make node's own response code see a second header shape, which left a guard's server slower for the
 * rest of its life (Express: +1.3 / +2.4 µs per request, median / best of 4 processes each; bench/README.md).
 */
async function rejects(port, variant, forged) {
  if (variant.kind === 'bare' || variant.kind === 'diag') return null;
  const none = await statusOf(port, undefined);
  const bad = await statusOf(port, forged);
  return none === 401 && bad === 401 ? null : `missing token got ${none}, forged token got ${bad} (expected 401)`;
}

/**
 * Sends every token once (20 at a time) so a guard's verified-token cache holds the whole rotation before
 * timing: autocannon walks all connections through the list in step, so a short warm-up alone would reach only
 * its first tokens. Returns the number of answers that were not 200.
 */
async function prime(url, tokens) {
  let next = 0;
  let bad = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const res = await fetch(`${url}/`, { headers: { authorization: `Bearer ${tokens[next++]}` }, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      if (res.status !== 200) bad++;
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return bad;
}

/** Waits for a load process (bench/load.mjs) to be ready; one that cannot spread its connections is refused unless --lockstep. */
async function loadReady(load) {
  const ready = await nextMessage(load, 'ready');
  if (SPREAD && ready.spread !== true) throw new Error('bench/load.mjs could not patch autocannon to spread its connections over the tokens (its internals differ): the load would run in lockstep; rerun with --lockstep to measure that way');
}

async function loadRun(load, url, tokens, duration, extra = {}) {
  return (await ask(load, { type: 'run', url, tokens, connections: CONNECTIONS, duration, busyPoll: BUSY_POLL, spread: SPREAD, ...extra }, (duration + 30) * 1000, 'done')).result;
}

/**
 * A server left unpinned may run on the load core too (the thread pool's question, `offload`): a load generator
 * that never sleeps would hold that core, so for those rows it sleeps between responses as before session 19.
 */
function loadOptionsFor(v) {
  return v.unpinned ? { busyPoll: false } : {};
}

/** The load process's busy share of a run: its CPU time less the turns its busy-polling loop found nothing to do. */
function loadBusyOf(r) {
  return (r.loadCpuUs - r.loadIdleUs) / (r.seconds * 1e6);
}

async function measured(server, load, url, tokens, duration, loadOptions = {}) {
  const st0 = await ask(server, { type: 'stats' });
  const m0 = await ask(server, { type: 'mark' });
  const k0 = coreTimes();
  const r = await loadRun(load, url, tokens, duration, loadOptions);
  const k1 = coreTimes();
  const m1 = await ask(server, { type: 'mark' });
  const st1 = await ask(server, { type: 'stats' });
  const verified = st1.hit + st1.miss - st0.hit - st0.miss;
  const reqs = m1.requests - m0.requests;
  const wallUs = (m1.t - m0.t) * 1000;
  const cpuUs = m1.cpuUs - m0.cpuUs;
  // User time is the server's JavaScript (the guard's work included); system time is mostly the kernel's TCP
  // work for its sockets. Kept apart to show where a difference between variants lies.
  const userPerReq = (m1.userUs - m0.userUs) / reqs;
  const sysPerReq = (m1.systemUs - m0.systemUs) / reqs;
  // Of that CPU, the main thread's collection pauses, and how many full collections the window held.
  const gcPerReq = (m1.gcUs - m0.gcUs) / reqs;
  const majorGcs = m1.gcMajors - m0.gcMajors;
  // The mark-to-mark window also holds autocannon's start-up and wind-down, when the server idles: busy
  // fractions are taken over the load run itself (the server's own work happens inside it).
  const runUs = Math.min(wallUs, r.seconds * 1e6);
  const serverBusy = cpuUs / runUs;
  // Other processes on the server's core meanwhile (a shared machine): the noise gauge, over the whole window.
  // Interrupt/softirq time there is mostly the kernel's TCP work for the server's own sockets: the server's load.
  const shares = coreShares(k0, k1, SERVER_CORE);
  const foreign = Math.max(0, shares.busy - cpuUs / wallUs);
  const irq = (shares.irq * wallUs) / runUs;
  return { ...r, serverReqs: reqs, hitRatio: verified > 0 ? (st1.hit - st0.hit) / verified : NaN, cpuPerReq: cpuUs / reqs, userPerReq, sysPerReq, gcPerReq, majorGcs, serverBusy, foreign, irq, loadBusy: loadBusyOf(r), rssMiB: m1.rssMiB };
}

async function httpBench(ctx, settings) {
  const plan = httpPlan(ctx.tg, ctx.adapters, settings);
  const load = startNode('load.mjs', [], { core: LOAD_CORE });
  await loadReady(load);
  const frameworks = {};
  const profiles = {};
  try {
    const only = args.frameworks ? String(args.frameworks).split(',') : Object.keys(plan);
    for (const [fw, variants] of Object.entries(plan).filter(([k]) => only.includes(k))) {
      log(`http: ${fw} (${variants.map((v) => `${v.id}${(v.replicas ?? 1) > 1 ? ` ×${v.replicas}` : ''}`).join(' | ')})`);
      // Target variants run in several server processes (replicas): a process's speed varies with V8 state
      // settled at start-up, so each variant's figure is its best process (see summarizeFramework).
      const instances = variants.flatMap((v) => Array.from({ length: v.replicas ?? 1 }, (_, replica) => ({ v, replica, id: `${v.id}#${replica + 1}` })));
      for (const v of variants) v.instances = instances.filter((i) => i.v === v);
      const live = [];
      // Start every server of this framework at once (start-up is not measured), then check each one. They share one
      // core, so they all finish starting at about the same time, after the sum of their start-ups (~0.7 s of CPU
      // each, more on a cold disk cache): the wait grows with their number (Express's 44 took over 30 s in session 21).
      const readyMs = 30_000 + 2_000 * instances.length;
      await Promise.all(
        instances.map(async (inst) => {
          const v = inst.v;
          const server = startNode('http-server.mjs', [], { core: v.unpinned ? undefined : SERVER_CORE, nodeArgs: TIMED_NODE_ARGS });
          inst.server = server;
          try {
            const ready = await ask(server, { type: 'config', framework: fw, guard: v.guard, alg: v.alg, cache: v.cache, engine: v.engine, offload: v.offload, preload: v.preload, issuer: ISSUER, audience: AUDIENCE, jwksUri: ctx.jwks.url, pem: ctx.keys[v.alg].pem, jwk: ctx.keys[v.alg].jwk }, readyMs, 'ready');
            inst.url = `http://127.0.0.1:${ready.port}`;
          } catch (err) {
            inst.error = String(err.message ?? err);
          }
        }),
      );
      for (const inst of instances) {
        if (!inst.error) {
          try {
            inst.error = await sanity(Number(new URL(inst.url).port), ctx.tokens[inst.v.alg][0]);
          } catch (err) {
            inst.error = String(err.message ?? err);
          }
        }
        if (inst.error) {
          log(`  ${inst.id}: not measured: ${inst.error}`);
          inst.v.error ??= inst.error;
          await stop(inst.server);
        } else live.push(inst);
      }
      for (const inst of live) {
        const bad = await prime(inst.url, ctx.tokens[inst.v.alg]);
        if (bad) log(`  ${inst.id}: ${bad} of ${ctx.tokens[inst.v.alg].length} tokens refused while priming`);
        // The priming requests already warm the JIT; quick mode skips the extra warm-up run (warm: 0).
        if (settings.warm > 0) await loadRun(load, inst.url, ctx.tokens[inst.v.alg], settings.warm, loadOptionsFor(inst.v));
      }
      for (let r = 0; r < settings.rounds; r++) {
        const order = live.map((_, i) => live[(i + r) % live.length]);
        for (const inst of order) {
          const s = await measured(inst.server, load, inst.url, ctx.tokens[inst.v.alg], settings.duration, loadOptionsFor(inst.v));
          if (inst.v.unpinned) {
            s.foreign = NaN;
            s.irq = NaN;
          }
          (inst.samples ??= []).push({ round: r, ...s });
        }
      }
      frameworks[fw] = summarizeFramework(variants);
      if (PROFILE) {
        // One extra run per server under the sampling profiler (after the timed rounds, so it costs them nothing):
        // the process each variant's figures come from.
        for (const v of variants.filter((x) => x.kind !== 'peer' && !x.unpinned && x.best)) {
          const inst = v.best;
          await ask(inst.server, { type: 'profile-start' });
          await loadRun(load, inst.url, ctx.tokens[v.alg], Math.min(settings.duration, 3));
          const row = frameworks[fw].find((r) => r.id === v.id);
          const { markdown } = await ask(inst.server, { type: 'profile-stop', cpuUsPerOp: row.cpuPerReq, top: Number(args.top ?? 15) }, 60_000);
          (profiles[fw] ??= []).push({ id: v.id, cpuPerReq: row.cpuPerReq, markdown });
        }
      }
      // Each guard's rejections, checked on the very process that was timed (see `rejects`): a guard that lets a
      // missing or forged token through is not measured at all.
      let refused = false;
      for (const inst of live) {
        let err;
        try {
          err = await rejects(Number(new URL(inst.url).port), inst.v, ctx.forged);
        } catch (e) {
          err = String(e.message ?? e);
        }
        if (!err) continue;
        log(`  ${inst.id}: not measured: ${err}`);
        inst.v.error ??= err;
        inst.samples = undefined;
        refused = true;
      }
      if (refused) {
        frameworks[fw] = summarizeFramework(variants);
        if (profiles[fw]) profiles[fw] = profiles[fw].filter((p) => frameworks[fw].some((r) => r.id === p.id && !r.error));
      }
      for (const inst of live) await stop(inst.server);
    }
  } finally {
    for (const vs of Object.values(plan)) for (const v of vs) for (const inst of v.instances ?? []) if (inst.server) await stop(inst.server);
    await stop(load);
  }
  return { connections: CONNECTIONS, rotation: ROTATION, busyPoll: BUSY_POLL, spread: SPREAD, ...settings, frameworks, ...(PROFILE ? { profiles } : {}) };
}

/** CPU per request of every round of every process of a variant. */
const pooledCpu = (v) => (v.instances ?? []).flatMap((i) => (i.samples ?? []).map((x) => x.cpuPerReq));

/** A process's own median CPU per request over its rounds. */
const processCpu = (inst) => median((inst.samples ?? []).map((x) => x.cpuPerReq));

/**
 * One row per variant. A variant run in several processes is represented by its best one (lowest median CPU
 * per request; the same rule for bare, tokenguard, floor and peers): start-up state makes some processes of
 * the very same server slower for their whole life, which is noise to this comparison, never the guard's cost.
 * Every process's median is kept (`processes`) so the spread is visible.
 */
function summarizeFramework(variants) {
  for (const v of variants) {
    v.measured = (v.instances ?? []).filter((i) => i.samples?.length).map((inst) => ({ inst, cpu: processCpu(inst) }));
    v.best = bestProcess(v.measured, (m) => m.cpu)?.inst;
  }
  const bareVariant = variants.find((v) => v.kind === 'bare');
  const bare = bareVariant?.best;
  const barePooled = bareVariant ? pooledCpu(bareVariant) : [];
  return variants.map((v) => {
    const s = v.best?.samples ?? [];
    const row = {
      id: v.id,
      kind: v.kind,
      alg: v.alg,
      engine: v.engine ?? null,
      offload: v.offload ?? false,
      keySource: v.keySource ?? null,
      error: s.length ? null : (v.error ?? 'not measured'),
      rounds: s.length,
      processes: v.measured.map((m) => m.cpu),
      reqPerSec: median(s.map((x) => x.reqPerSec)),
      p99: median(s.map((x) => x.p99)),
      cpuPerReq: median(s.map((x) => x.cpuPerReq)),
      userPerReq: median(s.map((x) => x.userPerReq)),
      sysPerReq: median(s.map((x) => x.sysPerReq)),
      gcPerReq: median(s.map((x) => x.gcPerReq)),
      serverBusy: median(s.map((x) => x.serverBusy)),
      loadBusy: median(s.map((x) => x.loadBusy)),
      foreign: median(s.map((x) => x.foreign)),
      irq: median(s.map((x) => x.irq)),
      hitRatio: median(s.map((x) => x.hitRatio)),
      non2xx: (v.instances ?? []).flatMap((i) => i.samples ?? []).reduce((a, x) => a + x.non2xx + x.errors + x.timeouts, 0),
    };
    if (bare?.samples && s.length) {
      // The guard's median minus bare's (each variant's best process, its median over the alternating rounds).
      // Every round visits every process, so a drift of the machine reaches both medians alike. The median of
      // the per-round differences is kept too (JSON, `extraPaired`): it carries single rounds' noise of both
      // processes, and with 3 rounds it swung by more than either process moved (Express, session 4: tokenguard
      // 6.7 µs paired against 3.8 µs between the medians).
      row.extraCpuPerReq = row.cpuPerReq - median(bare.samples.map((x) => x.cpuPerReq));
      row.extraPaired = median(s.map((x) => x.cpuPerReq - (bare.samples.find((b) => b.round === x.round)?.cpuPerReq ?? NaN)));
      row.vsBare = row.reqPerSec / median(bare.samples.map((x) => x.reqPerSec));
      // The same difference from every round of every process of both variants (medians of the pooled rounds),
      // with a bootstrap 90% interval: how far this run's rounds can place the guard's cost. It needs no choice of
      // process, and the interval shows when a target line lies within the run's noise.
      const pooled = pooledCpu(v);
      row.extraPooled = median(pooled) - median(barePooled);
      row.extraInterval = bootstrapMedianDiff(pooled, barePooled);
    }
    // Every round of every process (µs/request), for judging the noise; and of each round, the main thread's GC
    // pauses (µs/request) and its count of full collections.
    const sampled = (v.instances ?? []).filter((i) => i.samples?.length);
    const perRound = (value) => sampled.map((i) => i.samples.map(value));
    row.samples = perRound((x) => Math.round(x.cpuPerReq * 10) / 10);
    row.gcSamples = perRound((x) => Math.round(x.gcPerReq * 10) / 10);
    row.majorGcSamples = perRound((x) => x.majorGcs);
    return row;
  });
}

// ---------------------------------------------------------------- paired

/** Bare in the paired rounds: the first variant of every group, the one each guard's extra is measured against. */
const PAIRED_BARE = { id: 'bare', guard: 'bare', kind: 'bare' };

/**
 * The paired rounds (a diagnostic, --diagnose): the apps of bare and of guards, each built as its own server process
 * builds it, served by ONE server process that switches between them every `sliceMs` (bench/http-server.mjs,
 * `pairedServer`), under one continuous autocannon load. Groups per framework: control (bare against itself: the
 * method's own check), cached (bare, the least safe cache, tokenguard) and uncached (bare, the node:crypto floor
 * guard, tokenguard with `cache: false`). Adjacent slices of one process share its start-up state and the machine's
 * drift over seconds, the two noises of the separate-process rows (session 14, bench/README.md), so each variant's
 * difference from bare comes with a narrow interval. It is the cost of the variant's own per-request path inside a
 * process that runs all of them, not the difference between a process with the guard and one without: V8 compiles
 * the shared code (node's HTTP, the framework) for all the variants at once, and the two measures differ by up to
 * ~1 µs either way (bench/README.md, session 15). The targets are judged on the separate processes.
 */
function pairedGroups(tg) {
  const engine = tg.engines[0];
  // The least safe cache and tokenguard with its cache: with bare, the cached group and the frame of the diagnostic groups.
  const [leastSafe, cachedTokenguard] = [
    { id: 'node:crypto floor guard, cached', guard: 'floor-cached', kind: 'floor-cached', prime: true },
    { id: 'tokenguard', guard: 'tokenguard', kind: 'tg-cached', prime: true },
  ];
  const groups = [
    // The method's own check: bare against itself, which should come out at 0 µs and 1.00×.
    { id: 'control', variants: [
      PAIRED_BARE,
      { id: 'bare again (control)', guard: 'bare', kind: 'diag' },
    ] },
    { id: 'cached', variants: [PAIRED_BARE, leastSafe, cachedTokenguard] },
    { id: 'uncached', variants: [
      PAIRED_BARE,
      { id: 'node:crypto floor guard', guard: 'floor', kind: 'floor' },
      { id: `tokenguard, uncached${engine ? ` (${engine})` : ''}`, guard: 'tokenguard', kind: 'tg-uncached', cache: false, engine },
    ] },
  ];
  // The cached group again under the load every run had up to session 22 (every connection from the first token,
  // all 50 moving through the rotation together, so each token arrives ~50 times in a row): what the cached rows
  // of sessions 1-21 measured, beside what the spread load measures, in the same run.
  if (SPREAD) groups.push({ id: 'cached-lockstep', load: { spread: false }, variants: groups.find((g) => g.id === 'cached').variants });
  const only = args['paired-groups'] ? String(args['paired-groups']).split(',') : groups.map((g) => g.id);
  // Only when asked for: the build of the moment against the snapshot bench/baseline.mjs made (a development A/B).
  if (only.includes('baseline')) groups.push(baselineGroup(false));
  if (only.includes('baseline-uncached')) groups.push(baselineGroup(true));
  // Only when asked for: a cache hit taken apart (a development diagnostic): the core's synchronous entry in a
  // minimal hook or middleware shaped like the least safe cache's, and (Fastify) the adapter on its onRequest hook.
  if (only.includes('parts')) groups.push({ id: 'parts', variants: [
    PAIRED_BARE,
    leastSafe,
    { id: 'core sync entry in a minimal hook', guard: 'core-direct', kind: 'diag', prime: true },
    { id: 'tokenguard, onRequest hook', guard: 'tokenguard', kind: 'diag', prime: true, parts: { hook: 'onRequest' }, frameworks: ['fastify'] },
    cachedTokenguard,
  ] });
  // Only when asked for: what any guard costs at the least on Express (EXPRESS_LEAST), beside the least safe cache
  // and tokenguard.
  if (only.includes('least')) groups.push({ id: 'least', variants: [
    PAIRED_BARE,
    ...EXPRESS_LEAST.map(({ id, guard }) => ({ id, guard, kind: 'diag', frameworks: EXPRESS_SERVERS })),
    leastSafe,
    cachedTokenguard,
  ] });
  const unknown = only.filter((id) => !groups.some((g) => g.id === id));
  if (unknown.length > 0) throw new Error(`--paired-groups: no group ${unknown.join(', ')} (groups: ${groups.map((g) => g.id).join(', ')}, baseline, baseline-uncached, parts, least)`);
  return groups.filter((g) => only.includes(g.id));
}

/**
 * The `baseline` group: bare, tokenguard as snapshotted by bench/baseline.mjs (`--baseline=DIR`), tokenguard as built
 * now, both with their verified-token caches primed. `baseline-uncached` (`uncached`): both with `cache: false`, so
 * every request is a full verification (a change to the uncached path measured against the code before it).
 */
function baselineGroup(uncached) {
  const dir = args.baseline ? resolve(String(args.baseline)) : DEFAULT_BASELINE_DIR;
  let info;
  try {
    info = JSON.parse(readFileSync(join(dir, 'INFO.json'), 'utf8'));
  } catch {
    throw new Error(`--paired-groups=baseline: no snapshot in ${dir} (run node bench/baseline.mjs on the build to compare with first)`);
  }
  const label = uncached ? ', uncached' : '';
  const cacheOptions = uncached ? { cache: false } : { prime: true };
  return { id: uncached ? 'baseline-uncached' : 'baseline', alternate: true, variants: [
    PAIRED_BARE,
    { id: `tokenguard${label}, baseline (${info.commit}${info.dirty ? ' + changes' : ''}, ${String(info.date).slice(0, 16)})`, guard: 'tokenguard-baseline', kind: 'tg-baseline', baselineDir: dir, ...cacheOptions },
    { id: `tokenguard${label}, this build`, guard: 'tokenguard', kind: uncached ? 'tg-uncached' : 'tg-cached', vs: 'tg-baseline', ...cacheOptions },
  ] };
}

/** One paired server process: checked, primed, warmed up by the same cycling, then timed; its guards' rejections checked after. */
async function pairedProcess(ctx, load, fw, group, settings, order) {
  const tokens = ctx.tokens.RS256;
  // The variants in the order this process serves them (bare first; see `servingOrder`).
  const served = order.map((i) => group.variants[i]);
  const server = startNode('http-server.mjs', [], { core: SERVER_CORE, nodeArgs: TIMED_NODE_ARGS });
  try {
    const variants = served.map((v) => ({ guard: v.guard, alg: 'RS256', cache: v.cache, engine: v.engine, baselineDir: v.baselineDir, parts: v.parts, issuer: ISSUER, audience: AUDIENCE, jwksUri: ctx.jwks.url, pem: ctx.keys.RS256.pem, jwk: ctx.keys.RS256.jwk }));
    const { port } = await ask(server, { type: 'paired-config', framework: fw, variants }, 30_000, 'ready');
    const url = `http://127.0.0.1:${port}`;
    for (const [index, v] of served.entries()) {
      await ask(server, { type: 'select', index });
      const err = await sanity(port, tokens[0]);
      if (err) throw new Error(`${v.id}: ${err}`);
      const bad = v.prime ? await prime(url, tokens) : 0;
      if (bad) throw new Error(`${v.id}: ${bad} of ${tokens.length} tokens refused while priming`);
    }
    const cycleFor = (slices) => ask(server, { type: 'cycle', sliceMs: settings.sliceMs, slices }, slices * settings.sliceMs + 30_000);
    // Warm-up: the same cycling under the same load, not recorded.
    if (settings.warm > 0) {
      const warm = loadRun(load, url, tokens, settings.warm + 1, group.load);
      await sleep(500);
      await cycleFor(Math.max(1, Math.floor((settings.warm * 1000) / settings.sliceMs)));
      await warm;
    }
    // The timed cycles, inside one load run: it starts 1 s before them (autocannon opening its connections) and
    // ends about 1 s after. One slice more than the cycles need: the last cycle's closing bare slice.
    const slices = settings.cycles * group.variants.length + 1;
    const seconds = (slices * settings.sliceMs) / 1000;
    const run = loadRun(load, url, tokens, Math.ceil(seconds + 2), group.load);
    await sleep(1000);
    const k0 = coreTimes();
    const { boundaries } = await cycleFor(slices);
    const k1 = coreTimes();
    const r = await run;
    // Each guard's rejections, after timing (see `rejects`): a guard that lets a missing or forged token through
    // is not measured at all.
    for (const [index, v] of served.entries()) {
      await ask(server, { type: 'select', index });
      const err = await rejects(port, v, ctx.forged);
      if (err) throw new Error(`${v.id}: ${err}`);
    }
    const shares = coreShares(k0, k1, SERVER_CORE);
    return { boundaries, order, irq: shares.irq, loadBusy: loadBusyOf(r), failed: r.non2xx + r.errors + r.timeouts };
  } finally {
    await stop(server);
  }
}

/**
 * The order process `p` of a group serves its variants in: the group's own, or for a group that alternates (the
 * baseline group) the guards reversed in every second process, so neither copy always comes first in a cycle.
 */
function servingOrder(group, p) {
  const order = group.variants.map((_, i) => i);
  return group.alternate && p % 2 === 1 ? [0, ...order.slice(1).reverse()] : order;
}

/** A group's rows from all its processes' cycles: medians over cycles, with bootstrap 90% intervals. */
function pairedSummary(group, processes) {
  const count = group.variants.length;
  const sliced = processes.map((p) => slicesOf(p.boundaries));
  // Cycles are cut in the order a process served its variants, then put in the group's order.
  const perProcess = sliced.map((slices, i) => pairedCycles(slices, count).map((c) => inGroupOrder(c, processes[i].order)));
  const cycles = perProcess.flat();
  const rows = group.variants.map((v, j) => {
    const col = (k) => cycles.map((c) => c[j][k]);
    const row = { id: v.id, kind: v.kind, cpuPerReq: median(col('cpu')), reqPerSec: median(col('reqPerSec')), serverBusy: median(col('busy')) };
    if (j === 0) return row;
    const extra = medianWithInterval(col('extra'));
    const vsBare = medianWithInterval(col('vsBare'));
    Object.assign(row, { extraCpuPerReq: extra.median, extraInterval: extra.interval, vsBare: vsBare.median, vsBareInterval: vsBare.interval, processes: perProcess.map((cs) => median(cs.map((c) => c[j].extra))) });
    return row;
  });
  // The uncached target: tokenguard's extra ÷ the floor guard's, per cycle (both against the same bare slices).
  const tgU = group.variants.findIndex((v) => v.kind === 'tg-uncached');
  const floor = group.variants.findIndex((v) => v.kind === 'floor');
  if (tgU > 0 && floor > 0) {
    const ratio = medianWithInterval(cycles.map((c) => c[tgU].extra / c[floor].extra));
    Object.assign(rows[tgU], { vsFloor: ratio.median, vsFloorInterval: ratio.interval });
  }
  // A variant compared with another of its group (this build against the baseline): the difference of their
  // extras. Two copies of the same code differ by up to ~0.3 µs in one process, whatever its cycles say (each
  // process compiles them its own way; bench/README.md), so with more than one process the figure and its interval
  // are taken over the processes' own medians, not over the pooled cycles.
  for (const [j, v] of group.variants.entries()) {
    const k = v.vs === undefined ? -1 : group.variants.findIndex((w) => w.kind === v.vs);
    if (j === 0 || k <= 0) continue;
    const byProcess = perProcess.map((cs) => median(cs.map((c) => c[j].extra - c[k].extra)));
    const diff = medianWithInterval(byProcess.length > 1 ? byProcess : cycles.map((c) => c[j].extra - c[k].extra));
    Object.assign(rows[j], { vsOther: group.variants[k].kind, vsOtherUs: diff.median, vsOtherInterval: diff.interval, vsOtherByProcess: byProcess });
  }
  return {
    id: group.id,
    ...(group.load ? { load: group.load } : {}),
    cycles: cycles.length,
    processes: processes.length,
    irq: median(processes.map((p) => p.irq)),
    loadBusy: median(processes.map((p) => p.loadBusy)),
    failed: processes.reduce((a, p) => a + p.failed, 0),
    rows,
    // Every slice of every process, for judging the noise: [variant, requests, ms, CPU µs/request].
    // In the order each process served its variants (`orders`).
    orders: processes.map((p) => p.order),
    slices: sliced.map((slices) => slices.map((x) => [x.variant, x.reqs, Math.round(x.ms * 10) / 10, Math.round(x.cpuPerReq * 100) / 100])),
  };
}

async function pairedBench(ctx, settings) {
  if (!ctx.tg.available) return { available: false, reason: ctx.tg.reason ?? 'tokenguard not built' };
  const load = startNode('load.mjs', [], { core: LOAD_CORE });
  await loadReady(load);
  const frameworks = {};
  try {
    const only = args.frameworks ? String(args.frameworks).split(',') : ['express', 'express-createServer', 'fastify', 'koa'];
    const groups = pairedGroups(ctx.tg);
    for (const fw of only.filter((x) => ctx.adapters[x])) {
      frameworks[fw] = [];
      for (const shared of groups) {
        // A variant may be for some frameworks only (`frameworks`).
        const group = { ...shared, variants: shared.variants.filter((v) => !v.frameworks || v.frameworks.includes(fw)) };
        log(`paired: ${fw} ${group.id} (${group.variants.map((v) => v.id).join(' | ')}) ×${settings.processes}`);
        const processes = [];
        let error = null;
        for (let p = 0; p < settings.processes && !error; p++) {
          try {
            processes.push(await pairedProcess(ctx, load, fw, group, settings, servingOrder(group, p)));
          } catch (err) {
            error = String(err?.message ?? err);
            log(`  not measured: ${error}`);
          }
        }
        frameworks[fw].push(error ? { id: group.id, error } : pairedSummary(group, processes));
      }
    }
  } finally {
    await stop(load);
  }
  return { available: true, ...settings, connections: CONNECTIONS, rotation: ROTATION, busyPoll: BUSY_POLL, spread: SPREAD, frameworks };
}

// ---------------------------------------------------------------- flood

/** The facts of one timed round kept in the JSON output (for judging noise). */
const roundFacts = (x) => ({ reqPerSec: Math.round(x.reqPerSec), p99: x.p99, cpuPerReq: x.cpuPerReq, serverBusy: x.serverBusy, irq: x.irq, loadBusy: x.loadBusy, foreign: x.foreign });

async function floodBench(ctx, settings) {
  if (!ctx.tg.available || !ctx.adapters.express) return { available: false, reason: ctx.tg.reason ?? '@tokenguard/express not built' };
  const server = startNode('http-server.mjs', [], { core: SERVER_CORE, nodeArgs: TIMED_NODE_ARGS });
  const load = startNode('load.mjs', [], { core: LOAD_CORE });
  const flood = startNode('load.mjs', [], { core: LOAD_CORE });
  try {
    await Promise.all([loadReady(load), loadReady(flood)]);
    const ready = await ask(server, { type: 'config', framework: 'express', guard: 'tokenguard', alg: 'RS256', issuer: ISSUER, audience: AUDIENCE, jwksUri: ctx.jwks.url }, 30_000, 'ready');
    const url = `http://127.0.0.1:${ready.port}`;
    const err = (await sanity(ready.port, ctx.tokens.RS256[0])) ?? (await rejects(ready.port, { kind: 'tg' }, ctx.forged));
    if (err) return { available: false, reason: err };
    await prime(url, ctx.tokens.RS256);
    // The random-kid stream: 10 connections at a fixed overall rate.
    // Both load processes share the load core here, so neither polls without sleeping (a spinning one would take
    // the core from the other): the flood section measures as it did before session 19.
    const sleeps = { busyPoll: false };
    const floodRun = (duration, tokens = ctx.floodTokens) => loadRun(flood, url, tokens, duration, { connections: 10, overallRate: settings.rate, ...sleeps });
    // The control: the same stream at the same rate, of valid tokens the cache holds (the rotation, backwards). Any
    // extra requests take CPU from valid ones, and on this server a cached request costs ~120-160 µs: the control's
    // ratio is what the random-kid flood would leave if a rejection cost no more than a cache hit (session 24).
    const controlTokens = [...ctx.tokens.RS256].reverse();
    // Warm-up: both kinds of request, so neither condition's first rounds carry the JIT's warm-up. Session 9's
    // runs (1 s of valid load only) had the quiet rounds of one process climb by 25% from first to last.
    if (settings.warm > 0) {
      await Promise.all([floodRun(settings.warm), loadRun(load, url, ctx.tokens.RS256, settings.warm, sleeps)]);
    }
    const samples = { quiet: [], flood: [], control: [] };
    const streamTokens = { flood: ctx.floodTokens, control: controlTokens };
    // The stream's answers by status, per condition.
    const status = { flood: {}, control: {} };
    let jwksFetches = 0;
    let floodSent = 0;
    let floodSeconds = 0;
    for (let r = 0; r < settings.rounds; r++) {
      // Each condition takes each place in the order in turn (quiet, flood, control; then flood, control, quiet; ...).
      const order = ['quiet', 'flood', 'control'];
      for (const mode of [...order.slice(r % 3), ...order.slice(0, r % 3)]) {
        if (mode === 'quiet') {
          samples.quiet.push(await measured(server, load, url, ctx.tokens.RS256, settings.duration, sleeps));
          continue;
        }
        const hits0 = ctx.jwks.hits();
        const f = floodRun(settings.duration + 0.5, streamTokens[mode]);
        await sleep(200);
        samples[mode].push(await measured(server, load, url, ctx.tokens.RS256, settings.duration, sleeps));
        const fr = await f;
        for (const [code, n] of Object.entries(fr.statusCodes)) status[mode][code] = (status[mode][code] ?? 0) + n;
        if (mode === 'control') continue;
        jwksFetches += ctx.jwks.hits() - hits0;
        floodSent += fr.total;
        floodSeconds += fr.seconds;
      }
    }
    // The server's own CPU per request of a stream alone, at the same rate: per rejected random-kid request, and per
    // cached request of the control.
    const alone = async (tokens) => {
      const m0 = await ask(server, { type: 'mark' });
      const result = await floodRun(settings.duration, tokens);
      const m1 = await ask(server, { type: 'mark' });
      return { result, cpuPerReq: (m1.cpuUs - m0.cpuUs) / (m1.requests - m0.requests) };
    };
    const hitsAlone = ctx.jwks.hits();
    const floodAlone = await alone(ctx.floodTokens);
    const jwksFetchesFloodAlone = ctx.jwks.hits() - hitsAlone;
    const controlAlone = await alone(controlTokens);
    const failed = (rounds) => rounds.reduce((a, x) => a + x.non2xx + x.errors, 0);
    const quiet = median(samples.quiet.map((x) => x.reqPerSec));
    const withFlood = median(samples.flood.map((x) => x.reqPerSec));
    const withControl = median(samples.control.map((x) => x.reqPerSec));
    return {
      available: true,
      ...settings,
      quietReqPerSec: quiet,
      floodReqPerSec: withFlood,
      ratio: withFlood / quiet,
      controlReqPerSec: withControl,
      controlRatio: withControl / quiet,
      controlStatus: status.control,
      cpuPerControlReq: controlAlone.cpuPerReq,
      floodRatePerSec: floodSent / floodSeconds,
      floodStatus: status.flood,
      jwksFetchesDuringFlood: jwksFetches,
      floodSeconds,
      validNon2xx: failed(samples.flood),
      validNon2xxControl: failed(samples.control),
      cpuPerValidReq: median(samples.quiet.map((x) => x.cpuPerReq)),
      rounds: { quiet: samples.quiet.map(roundFacts), flood: samples.flood.map(roundFacts), control: samples.control.map(roundFacts) },
      cpuPerFloodReq: floodAlone.cpuPerReq,
      floodAloneStatus: floodAlone.result.statusCodes,
      jwksFetchesFloodAlone,
    };
  } finally {
    await Promise.all([stop(server), stop(load), stop(flood)]);
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  const info = machine();
  log(`mode ${MODE}; sections ${sections.join(',')}; pinning ${canPin ? `server core ${SERVER_CORE}, load core ${LOAD_CORE}` : 'unavailable'}`);
  const tg = await tokenguardInfo();
  if (!tg.available) log(`tokenguard: ${tg.reason}`);
  const adapters = {};
  for (const fw of ['express', 'koa', 'fastify']) {
    try {
      const m = await import(`@tokenguard/${fw}`);
      adapters[fw] = typeof (m.tokenGuard ?? m.default) === 'function';
      if (fw === 'express') adapters['express-createServer'] = adapters.express && typeof m.createServer === 'function';
    } catch {
      adapters[fw] = false;
    }
  }
  const results = { mode: MODE, machine: info, note: args.note ? String(args.note) : null, tokenguard: { available: tg.available, reason: tg.reason ?? null, engines: tg.engines.map((e) => e ?? 'default'), adapters } };

  if (sections.includes('micro')) {
    log('micro: verification microbenchmark');
    results.micro = await runChild('micro.mjs', [`--${MODE}`], { timeoutMs: MODE === 'full' ? 900_000 : 120_000 });
  }
  if (sections.includes('micro') && PROFILE && tg.available) {
    log('profile: where the time goes inside the core (uncached RS256, verifyRequest() hit)');
    const engine = tg.engines[0] ? [`--engine=${tg.engines[0]}`] : [];
    results.coreProfiles = [];
    for (const c of ['uncached', 'request']) results.coreProfiles.push(await runChild('profile.mjs', [`--case=${c}`, '--alg=RS256', '--top=15', ...engine], { timeoutMs: 120_000 }));
  }
  if (sections.includes('memory')) {
    log('memory: heap growth of the verified-token cache');
    results.memory = await runChild('memory.mjs', [`--tokens=${SETTINGS.memoryTokens}`], { nodeArgs: ['--expose-gc'], timeoutMs: 120_000 });
  }
  if (sections.includes('http') || sections.includes('paired') || sections.includes('flood')) {
    log('keys, tokens and JWKS server');
    const keys = {};
    for (const alg of ALGS) keys[alg] = await makeKey(alg);
    const attacker = await makeKey('RS256');
    const tokens = {};
    for (const alg of MODE === 'full' ? ALGS : ['RS256']) tokens[alg] = await signTokens(keys[alg], ROTATION, { prefix: alg });
    const forged = (await signTokens(attacker, 1, { kid: keys.RS256.kid }))[0];
    const floodTokens = await signTokens(attacker, ROTATION, { kid: 'random', prefix: 'flood' });
    const jwks = await startJwksServer(Object.values(keys));
    const ctx = { tg, adapters, keys, tokens, forged, floodTokens, jwks };
    try {
      if (sections.includes('http')) results.http = await httpBench(ctx, SETTINGS.http);
      if (sections.includes('paired')) {
        log('paired: bare and guards in one server process, switched every slice');
        results.paired = await pairedBench(ctx, SETTINGS.paired);
      }
      if (sections.includes('flood')) {
        log('flood: unknown-kid flood');
        results.flood = await floodBench(ctx, SETTINGS.flood);
      }
    } finally {
      await jwks.close();
    }
  }
  results.elapsedSeconds = (Date.now() - started) / 1000;
  writeFileSync(OUT, renderReport(results));
  if (args.json) writeFileSync(String(args.json), JSON.stringify(results, null, 2));
  log(`wrote ${OUT} in ${results.elapsedSeconds.toFixed(0)} s`);
}

main().then(
  () => {
    killAll();
    process.exit(0);
  },
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);

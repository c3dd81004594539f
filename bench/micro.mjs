// Verification microbenchmark: CPU microseconds per verification (process.cpuUsage, thread pool included)
// and wall time, sequential and with N in flight, for the node:crypto floor, jose (CryptoKey and KeyObject),
// fast-jwt and tokenguard (cached and uncached, per engine when the core has one).
// Run by run.mjs (result over IPC) or alone: `node bench/micro.mjs --quick` (prints JSON).
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { createVerifier } from 'fast-jwt';
import { Registry } from 'prom-client';
import { parseArgs, median, bestProcess, TIMED_NODE_ARGS, cpuNow, tokenguardInfo, exitWithParent, reportAndExit, startNode, ask, stop } from './lib/common.mjs';
import { ALGS, ISSUER, AUDIENCE, flat, makeKey, signTokens } from './lib/tokens.mjs';

const args = parseArgs(process.argv.slice(2));
const PRESETS = {
  smoke: { uncachedOps: 60, cachedOps: 2_000, rotation: 100, rounds: 1, warm: 30, warmRounds: 0, inflight: 16, replicas: 1 },
  quick: { uncachedOps: 600, cachedOps: 50_000, rotation: 1_000, rounds: 3, warm: 250, warmRounds: 2, inflight: 64, replicas: 1 },
  // cacheOff: the uncached case with `cache: false` too (full runs only: with quick mode's short warm-up it read
  // 93-104 µs against 35 in a full run, still warming up; bench/README.md, session 23).
  // warmRounds: untimed rounds, each exactly like a timed one, before a process's first timed round. With only the
  // `warm` tokens before them, TurboFan compiled the core's functions during the first timed round (56 functions
  // optimized inside it, 1 deopt; 0 from the third on): an uncached tokenguard process's first rounds took 60-78
  // µs and its next two 39-47, against 31-36 after, while the floor's were flat (bench/README.md, session 27).
  full: { uncachedOps: 3_000, cachedOps: 200_000, rotation: 1_000, rounds: 9, warm: 500, warmRounds: 3, inflight: 64, replicas: 2, cacheOff: true },
};
const cfg = { ...PRESETS[args.smoke ? 'smoke' : args.quick ? 'quick' : 'full'] };
for (const k of Object.keys(cfg)) if (args[k] !== undefined) cfg[k] = Number(args[k]);
const algs = args.algs ? String(args.algs).split(',') : ALGS;
/** Hard stop for the whole microbenchmark, whatever the settings. */
const DEADLINE = Date.now() + Number(args.maxSeconds ?? 600) * 1000;

exitWithParent();

/** The pause before each timed round (see runCase). */
const SETTLE_MS = 25;

const HASH = { RS256: 'sha256', ES256: 'sha256', EdDSA: null };

/** The floor: what any verifier must do — split, base64url-decode and JSON.parse both parts, check the signature. */
function floorVerifier(alg, keyObject) {
  const key = alg === 'ES256' ? { key: keyObject, dsaEncoding: 'ieee-p1363' } : keyObject;
  return (token) => {
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    const header = JSON.parse(Buffer.from(token.slice(0, d1), 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString('utf8'));
    const ok = cryptoVerify(HASH[alg], Buffer.from(token.slice(0, d2)), key, Buffer.from(token.slice(d2 + 1), 'base64url'));
    if (!ok || header.alg !== alg) throw new Error('floor: signature invalid');
    return payload;
  };
}

/** Signature check only, on pre-split inputs (the bare crypto cost). */
function sigOnly(alg, keyObject, tokens) {
  const key = alg === 'ES256' ? { key: keyObject, dsaEncoding: 'ieee-p1363' } : keyObject;
  const parts = new Map(
    tokens.map((t) => {
      const d2 = t.lastIndexOf('.');
      return [t, [Buffer.from(t.slice(0, d2)), Buffer.from(t.slice(d2 + 1), 'base64url')]];
    }),
  );
  return (token) => {
    const [data, sig] = parts.get(token);
    if (!cryptoVerify(HASH[alg], data, key, sig)) throw new Error('sig-only: signature invalid');
  };
}

/**
 * One timed round. `warmTokens`: an uncached case's verifier is new every round (so its cache starts the same), and
 * its functions are new closures the JIT compiles afresh: they are warmed first, untimed. A pause before the timing
 * lets the collector's and compiler's background work of the set-up finish outside the timed window.
 */
async function runCase(c, tokens, ops, mode, warmTokens) {
  const state = c.setup ? await c.setup() : undefined;
  const fn = state?.fn ?? c.fn;
  if (warmTokens && c.uncached) for (const t of warmTokens) await fn(t);
  if (warmTokens) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const n = tokens.length;
  const c0 = cpuNow();
  const w0 = performance.now();
  if (mode === 'seq') {
    if (c.sync) for (let i = 0; i < ops; i++) fn(tokens[i % n]);
    else for (let i = 0; i < ops; i++) await fn(tokens[i % n]);
  } else {
    let next = 0;
    const worker = async () => {
      while (next < ops) await fn(tokens[next++ % n]);
    };
    await Promise.all(Array.from({ length: cfg.inflight }, worker));
  }
  const wall = (performance.now() - w0) * 1000;
  const cpu = cpuNow() - c0;
  if (state?.close) await state.close();
  return { cpuUs: cpu / ops, wallUs: wall / ops };
}

/** What every process of one algorithm's cases shares: the key and the tokens (signed once, by the parent). */
async function algInputs(alg) {
  const key = await makeKey(alg);
  const needed = Math.max(cfg.uncachedOps, cfg.rotation) + cfg.warm + 1;
  const all = await signTokens(key, needed, { prefix: alg });
  return {
    alg,
    jwk: key.jwk,
    pem: key.pem,
    warmTokens: all.slice(0, cfg.warm),
    primer: all[cfg.warm],
    fresh: all.slice(cfg.warm + 1, cfg.warm + 1 + cfg.uncachedOps),
    rotation: all.slice(cfg.warm + 1, cfg.warm + 1 + cfg.rotation),
    // Tokens that fill a cache of their own size before the never-seen ones arrive (the full-cache case).
    filler: await signTokens(key, cfg.rotation, { prefix: `${alg}-fill` }),
  };
}

/** The cases of one algorithm, in a fixed order (a worker builds the same list and runs the one it is given). */
async function buildCases(inputs, tg) {
  const { alg, warmTokens, primer, fresh, rotation, filler } = inputs;
  const key = { jwk: inputs.jwk, pem: inputs.pem, publicKey: await importJWK(inputs.jwk, alg) };
  const keyObject = createPublicKey({ key: key.jwk, format: 'jwk' });
  const verifyOpts = { issuer: ISSUER, audience: AUDIENCE, algorithms: [alg] };
  const fjwt = createVerifier({ key: key.pem, algorithms: [alg], allowedIss: ISSUER, allowedAud: AUDIENCE, cache: false });

  const cases = [
    { name: 'node:crypto floor (decode + verify)', group: 'floor', sync: true, fn: floorVerifier(alg, keyObject), modes: ['seq'] },
    { name: 'node:crypto verify() only', group: 'sig', sync: true, fn: sigOnly(alg, keyObject, [...warmTokens, ...fresh]), modes: ['seq'] },
    { name: 'jose jwtVerify, CryptoKey', group: 'jose', fn: (t) => jwtVerify(t, key.publicKey, verifyOpts), modes: ['seq', 'inflight'] },
    { name: 'jose jwtVerify, KeyObject', group: 'jose-ko', fn: (t) => jwtVerify(t, keyObject, verifyOpts), modes: ['seq', 'inflight'] },
    { name: 'fast-jwt (sync, no cache)', group: 'fast-jwt', sync: true, fn: (t) => fjwt(t), modes: ['seq'] },
  ];
  if (tg.available) {
    // Each engine, plus the node engine with its signature check offloaded to the thread pool when offered.
    const variants = tg.engines.map((engine) => ({ engine, offload: false }));
    if (tg.offload) variants.push({ engine: tg.engines.includes('node') ? 'node' : undefined, offload: true });
    for (const { engine, offload } of variants) {
      const label = `${engine ? ` engine=${engine}` : ''}${offload ? ' offload' : ''}`;
      const tag = `${engine ? `-${engine}` : ''}${offload ? '-offload' : ''}`;
      const make = async (maxEntries = 10_000, cached = true) => {
        // A revocation store holding unrelated revoked ids, so every hit pays for the revocation check.
        const revocation = tg.core.createMemoryRevocationStore();
        for (let i = 0; i < 100; i++) await revocation.revoke(`revoked-${i}`, Math.floor(Date.now() / 1000) + 3600);
        const v = tg.core.createTokenVerifier({
          revocation,
          issuer: ISSUER,
          audience: AUDIENCE,
          keys: { keys: [key.jwk] },
          algorithms: [alg],
          cache: cached ? { maxEntries } : false,
          metrics: { registry: new Registry() },
          ...(engine ? { engine } : {}),
          ...(offload ? { offload } : {}),
        });
        await v.verify(primer); // key import and first-call setup are not part of the per-token cost
        return v;
      };
      /** A verifier whose cache already holds every rotation token. */
      const warmed = async () => {
        const v = await make();
        for (const t of rotation) await v.verify(t);
        return v;
      };
      cases.push({
        name: `tokenguard verify() uncached (never-seen tokens)${label}`,
        group: `tg-uncached${tag}`,
        engine,
        offload,
        uncached: true,
        modes: ['seq', 'inflight'],
        setup: async () => {
          const v = await make();
          return { fn: (t) => v.verify(t), close: () => v.close() };
        },
      });
      // A cache hit never reaches the signature check, so the offload variant is timed uncached only.
      if (offload) continue;
      if (engine === tg.engines[0]) {
        // The steady state of a server that sees only new tokens: its cache is full, so every insert evicts (and
        // first gives used entries their second chance: every other filler token has been hit once).
        cases.push({
          name: `tokenguard verify() uncached, full cache (every insert evicts)${label}`,
          group: `tg-uncached${tag}-full`,
          engine,
          offload,
          full: true,
          uncached: true,
          modes: ['seq'],
          setup: async () => {
            const v = await make(filler.length);
            for (const t of filler) await v.verify(t);
            for (let i = 0; i < filler.length; i += 2) await v.verify(filler[i]);
            return { fn: (t) => v.verify(t), close: () => v.close() };
          },
        });
        // The same never-seen tokens with the cache off (`cache: false`, the setting for such traffic, and what the
        // HTTP uncached rows run): nothing inserted or kept. With the cache on, keeping each token cost ~3.7 µs
        // (bench/README.md, session 23). Shown as a finding beside the judged cache-on row. The worker builds the
        // same list: it receives cfg before building it.
        if (cfg.cacheOff) cases.push({
          name: `tokenguard verify() uncached, cache: false${label}`,
          group: `tg-uncached${tag}-nocache`,
          engine,
          offload,
          cacheOff: true,
          uncached: true,
          modes: ['seq'],
          setup: async () => {
            const v = await make(undefined, false);
            return { fn: (t) => v.verify(t), close: () => v.close() };
          },
        });
      }
      cases.push({
        name: `tokenguard verifyRequest() cache hit, header extraction included${label}`,
        group: `tg-request${tag}`,
        engine,
        cached: true,
        modes: ['seq'],
        setup: async () => {
          const v = await warmed();
          // What an adapter hands the core: a request view with the Authorization header, a string of its own (as each
          // HTTP request brings). The cache keeps the header value a token first came in: that first request is a
          // separate copy, so every timed hit compares the whole value, as in a server, not one string with itself.
          const request = (t) => {
            const value = flat(`Bearer ${t}`);
            return { headers: { host: '127.0.0.1', authorization: value }, rawHeaders: ['Host', '127.0.0.1', 'Authorization', value], method: 'GET', url: '/' };
          };
          for (const t of rotation) await v.verifyRequest(request(t));
          const reqs = new Map(rotation.map((t) => [t, request(t)]));
          return { fn: (t) => v.verifyRequest(reqs.get(t) ?? { headers: { authorization: `Bearer ${t}` }, method: 'GET', url: '/' }), close: () => v.close() };
        },
      });
      cases.push({
        name: `tokenguard verify() cache hit (${cfg.rotation} tokens in rotation)${label}`,
        group: `tg-cached${tag}`,
        engine,
        cached: true,
        modes: ['seq'],
        setup: async () => {
          const v = await warmed();
          return { fn: (t) => v.verify(t), close: () => v.close() };
        },
      });
    }
  }

  return cases;
}

/**
 * Times one algorithm's cases. Each case runs in processes of its own (`replicas` workers, started once), and the
 * rounds alternate between all workers as before: process.cpuUsage() also counts the garbage collector's helper
 * threads, and in one shared process they were also collecting what the neighbouring cases had left (the uncached
 * RS256 row measured 22-24 µs CPU against 20.6-21.2 µs wall time; in its own processes, CPU and wall time agree
 * within ~2 %). See bench/README.md.
 */
async function benchAlg(alg, tg) {
  const inputs = await algInputs(alg);
  const cases = await casesMeta(inputs, tg);
  const workers = [];
  try {
    // Start-up, the acceptance check (a broken case would otherwise look fast) and the JIT warm-up, all workers at once.
    const instances = cases.flatMap((c, index) => Array.from({ length: cfg.replicas }, (_, replica) => ({ c, index, replica })));
    await Promise.all(
      instances.map(async (inst) => {
        const worker = startNode('micro.mjs', ['--worker'], { stdout: 'ignore', nodeArgs: TIMED_NODE_ARGS });
        workers.push(worker);
        try {
          const ready = await ask(worker, { type: 'setup', index: inst.index, inputs, cfg }, 300_000, 'ready');
          if (ready.error) inst.c.error ??= ready.error;
          // The worker builds the case list itself and runs the case at this index: it must be this very case.
          else if (ready.name !== inst.c.name) inst.c.error ??= `the worker built another case at this place: ${ready.name}`;
          else inst.worker = worker;
        } catch (err) {
          inst.c.error ??= String(err.message ?? err).slice(0, 120);
        }
      }),
    );
    const live = instances.filter((i) => i.worker && !i.c.error);
    for (let r = 0; r < cfg.rounds && Date.now() < DEADLINE; r++) {
      // Rotate the order every round so no case always runs right after the same neighbour.
      const order = live.map((_, i) => live[(i + r) % live.length]);
      for (const inst of order) {
        for (const mode of inst.c.modes) {
          const s = await ask(inst.worker, { type: 'run', mode }, 300_000, 'sample');
          ((inst.samples ??= {})[mode] ??= []).push(s);
        }
      }
    }
    const rows = [];
    for (const c of cases) {
      for (const mode of c.modes) {
        // Each process's median over its rounds; the case is represented by its best process (lowest CPU), the same
        // rule for every case, floor included (bestProcess, as in the HTTP benchmark).
        const processes = live
          .filter((i) => i.c === c && i.samples?.[mode]?.length)
          .map((i) => ({ cpuUs: median(i.samples[mode].map((x) => x.cpuUs)), wallUs: median(i.samples[mode].map((x) => x.wallUs)), rounds: i.samples[mode].length }));
        const best = bestProcess(processes, (p) => p.cpuUs) ?? { cpuUs: NaN, wallUs: NaN, rounds: 0 };
        rows.push({ alg, name: c.name, group: c.group, engine: c.engine ?? null, offload: c.offload ?? false, fullCache: c.full ?? false, cacheOff: c.cacheOff ?? false, mode, cpuUs: best.cpuUs, wallUs: best.wallUs, opsPerSec: 1e6 / best.wallUs, rounds: best.rounds, processes: processes.map((p) => p.cpuUs), error: c.error ?? null });
      }
    }
    return rows;
  } finally {
    await Promise.all(workers.map((w) => stop(w)));
  }
}

/** The case list with its metadata only (the parent never runs a case itself). */
async function casesMeta(inputs, tg) {
  return (await buildCases(inputs, tg)).map(({ name, group, engine, offload, full, cacheOff, uncached, cached, modes }) => ({ name, group, engine, offload, full, cacheOff, uncached, cached, modes }));
}

/** A worker: builds its algorithm's cases, checks and warms the one it is given, then times a round per request. */
function worker() {
  let c;
  let inputs;
  const reply = (m) => process.send(m);
  /** A round's tokens and operation count. */
  const roundInputs = (k) => (k.cached ? [inputs.rotation, cfg.cachedOps] : [inputs.fresh, cfg.uncachedOps]);
  process.on('message', (m) => {
    if (m?.type === 'setup') {
      // The parent's settings replace the worker's own (a full run's by default) outright: a key only the full
      // preset has (cacheOff) would otherwise stay, and the worker's case list, indexed by the parent's, would have
      // one case more (session 27: until then quick and smoke runs timed the wrong case from the eighth on).
      for (const k of Object.keys(cfg)) delete cfg[k];
      Object.assign(cfg, m.cfg);
      inputs = m.inputs;
      (async () => {
        c = (await buildCases(inputs, await tokenguardInfo()))[m.index];
        const state = c.setup ? await c.setup() : undefined;
        try {
          await (state?.fn ?? c.fn)(inputs.fresh[0]);
        } catch (err) {
          return reply({ type: 'ready', error: `${err.code ?? err.name}: ${String(err.message).slice(0, 80)}` });
        } finally {
          if (state?.close) await state.close();
        }
        // Warm-up (JIT), not recorded: the warm tokens, then rounds exactly like the timed ones.
        for (const mode of c.modes) await runCase(c, inputs.warmTokens, cfg.warm, mode);
        for (let r = 0; r < cfg.warmRounds; r++) for (const mode of c.modes) await runCase(c, ...roundInputs(c), mode, inputs.warmTokens);
        reply({ type: 'ready', name: c.name });
      })().catch((err) => reply({ type: 'ready', error: String(err?.message ?? err).slice(0, 120) }));
    } else if (m?.type === 'run') {
      runCase(c, ...roundInputs(c), m.mode, inputs.warmTokens).then((s) => reply({ type: 'sample', ...s }), (err) => reply({ type: 'error', message: String(err?.message ?? err) }));
    }
  });
}

async function main() {
  const tg = await tokenguardInfo();
  const rows = [];
  for (const alg of algs) rows.push(...(await benchAlg(alg, tg)));
  return { config: { ...cfg, algs, processPerCase: true }, tokenguard: { available: tg.available, reason: tg.reason ?? null, engines: tg.engines }, rows };
}

if (args.worker) worker();
else reportAndExit(main());

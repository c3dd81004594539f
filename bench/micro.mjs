// Verification microbenchmark: CPU microseconds per verification (process.cpuUsage, thread pool included)
// and wall time, sequential and with N in flight, for the node:crypto floor, jose (CryptoKey and KeyObject),
// fast-jwt and tokenguard (cached and uncached, per engine when the core has one).
// Run by run.mjs (result over IPC) or alone: `node bench/micro.mjs --quick` (prints JSON).
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { jwtVerify } from 'jose';
import { createVerifier } from 'fast-jwt';
import { Registry } from 'prom-client';
import { parseArgs, median, cpuNow, tokenguardInfo, exitWithParent, reportAndExit } from './lib/common.mjs';
import { ALGS, ISSUER, AUDIENCE, makeKey, signTokens } from './lib/tokens.mjs';

const args = parseArgs(process.argv.slice(2));
const PRESETS = {
  smoke: { uncachedOps: 60, cachedOps: 2_000, rotation: 100, rounds: 1, warm: 30, inflight: 16 },
  quick: { uncachedOps: 400, cachedOps: 20_000, rotation: 1_000, rounds: 3, warm: 100, inflight: 64 },
  full: { uncachedOps: 3_000, cachedOps: 200_000, rotation: 1_000, rounds: 9, warm: 500, inflight: 64 },
};
const cfg = { ...PRESETS[args.smoke ? 'smoke' : args.quick ? 'quick' : 'full'] };
for (const k of Object.keys(cfg)) if (args[k] !== undefined) cfg[k] = Number(args[k]);
const algs = args.algs ? String(args.algs).split(',') : ALGS;
/** Hard stop for the whole microbenchmark, whatever the settings. */
const DEADLINE = Date.now() + Number(args.maxSeconds ?? 600) * 1000;

exitWithParent();

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

async function runCase(c, tokens, ops, mode) {
  const state = c.setup ? await c.setup() : undefined;
  const fn = state?.fn ?? c.fn;
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

async function benchAlg(alg, tg) {
  const key = await makeKey(alg);
  const keyObject = createPublicKey({ key: key.jwk, format: 'jwk' });
  const needed = Math.max(cfg.uncachedOps, cfg.rotation) + cfg.warm + 1;
  const all = await signTokens(key, needed, { prefix: alg });
  const warmTokens = all.slice(0, cfg.warm);
  const primer = all[cfg.warm];
  const fresh = all.slice(cfg.warm + 1, cfg.warm + 1 + cfg.uncachedOps);
  const rotation = all.slice(cfg.warm + 1, cfg.warm + 1 + cfg.rotation);
  // Tokens that fill a cache of their own size before the never-seen ones arrive (the full-cache case).
  const filler = await signTokens(key, cfg.rotation, { prefix: `${alg}-fill` });
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
      const make = async (maxEntries = 10_000) => {
        // A revocation store holding unrelated revoked ids, so every hit pays for the revocation check.
        const revocation = tg.core.createMemoryRevocationStore();
        for (let i = 0; i < 100; i++) await revocation.revoke(`revoked-${i}`, Math.floor(Date.now() / 1000) + 3600);
        const v = tg.core.createTokenVerifier({
          revocation,
          issuer: ISSUER,
          audience: AUDIENCE,
          keys: { keys: [key.jwk] },
          algorithms: [alg],
          cache: { maxEntries },
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
      }
      cases.push({
        name: `tokenguard verifyRequest() cache hit, header extraction included${label}`,
        group: `tg-request${tag}`,
        engine,
        cached: true,
        modes: ['seq'],
        setup: async () => {
          const v = await warmed();
          // What an adapter hands the core: a request view with the Authorization header.
          const reqs = new Map(rotation.map((t) => [t, { headers: { host: '127.0.0.1', authorization: `Bearer ${t}` }, rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${t}`], method: 'GET', url: '/' }]));
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

  // Every case must accept a valid token before it is timed (a broken case would otherwise look fast).
  for (const c of cases) {
    const state = c.setup ? await c.setup() : undefined;
    const fn = state?.fn ?? c.fn;
    try {
      await fn(fresh[0]);
    } catch (err) {
      c.error = `${err.code ?? err.name}: ${String(err.message).slice(0, 80)}`;
    }
    if (state?.close) await state.close();
  }
  // The full-cache case leaves thousands of evicted entries for the old-generation collector, whose helper threads
  // process.cpuUsage() counts: it is timed on its own after the other cases' rounds, not between them.
  const live = cases.filter((c) => !c.error && !c.full);
  const afterwards = cases.filter((c) => !c.error && c.full);

  // Warm-up (JIT), not recorded.
  for (const c of live) for (const mode of c.modes) await runCase(c, warmTokens, cfg.warm, mode);
  const record = (samples, c, mode, s) => {
    const k = `${c.group}|${mode}`;
    if (!samples.has(k)) samples.set(k, []);
    samples.get(k).push(s);
  };

  const samples = new Map();
  for (let r = 0; r < cfg.rounds && Date.now() < DEADLINE; r++) {
    // Rotate the order every round so no case always runs right after the same neighbour.
    const order = live.map((_, i) => live[(i + r) % live.length]);
    for (const c of order) {
      for (const mode of c.modes) {
        const tokens = c.cached ? rotation : fresh;
        const ops = c.cached ? cfg.cachedOps : cfg.uncachedOps;
        record(samples, c, mode, await runCase(c, tokens, ops, mode));
      }
    }
  }
  for (const c of afterwards) {
    await runCase(c, warmTokens, cfg.warm, 'seq');
    for (let r = 0; r < cfg.rounds && Date.now() < DEADLINE; r++) record(samples, c, 'seq', await runCase(c, fresh, cfg.uncachedOps, 'seq'));
  }
  const rows = [];
  for (const c of cases) {
    for (const mode of c.modes) {
      const s = samples.get(`${c.group}|${mode}`) ?? [];
      const cpuUs = median(s.map((x) => x.cpuUs));
      const wallUs = median(s.map((x) => x.wallUs));
      rows.push({ alg, name: c.name, group: c.group, engine: c.engine ?? null, offload: c.offload ?? false, fullCache: c.full ?? false, mode, cpuUs, wallUs, opsPerSec: 1e6 / wallUs, rounds: s.length, error: c.error ?? null });
    }
  }
  return rows;
}

async function main() {
  const tg = await tokenguardInfo();
  const rows = [];
  for (const alg of algs) rows.push(...(await benchAlg(alg, tg)));
  return { config: { ...cfg, algs }, tokenguard: { available: tg.available, reason: tg.reason ?? null, engines: tg.engines }, rows };
}

reportAndExit(main());

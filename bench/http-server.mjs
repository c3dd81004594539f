// One HTTP server under test, started by run.mjs pinned to the server core. It receives its configuration
// over IPC, listens on 127.0.0.1:0, and answers `mark` messages with its own CPU time and request count, so
// server CPU per request comes from the server process itself.
// With `paired-config` it serves several variants from one process instead, switching between them (see `pairedServer`).
// Guards: bare | async-noop, sync-noop (Express), reads-header (Express), sets-auth (Express) (diagnostics) | floor (node:crypto, the least any verifier does) | floor-cached (the floor behind
// the least a verified-token cache does) | tokenguard | tokenguard-baseline (the snapshot bench/baseline.mjs made) | peer (express-oauth2-jwt-bearer;
// express-jwt, @fastify/jwt, koa-jwt each with its documented JWKS companion — jwks-rsa, get-jwks — and with a PEM given directly).
import { createServer } from 'node:http';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { exitWithParent } from './lib/common.mjs';
import { startProfiler, summarizeProfile } from './lib/profile-summary.mjs';

exitWithParent();

let requests = 0;
let stopProfiler;

// The main thread's garbage-collection pauses, summed (µs), with the count of full (mark-compact) collections: `mark`
// reports both, so a row's CPU per request can be told apart from its collector's (a bare Express server spends
// ~15 µs of its ~120 µs per request in pauses, Fastify ~0.3 of ~17; bench/README.md, session 17).
let gcUs = 0;
let gcMajors = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcUs += e.duration * 1000;
    if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMajors++;
  }
}).observe({ entryTypes: ['gc'] });

/**
 * The node:crypto floor as a guard: Bearer header, split, base64url + JSON.parse, crypto.verify with a ready
 * KeyObject, then exp/iss/aud. What any verifier must do per request; the uncached target compares with it.
 * For the `floor-cached` guard it comes behind {@link cachedFloor}.
 */
async function floorGuard(cfg) {
  const { createPublicKey, verify } = await import('node:crypto');
  const key = createPublicKey({ key: cfg.jwk, format: 'jwk' });
  const hash = cfg.alg === 'EdDSA' ? null : 'sha256';
  const opts = cfg.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  const check = (authorization) => {
    if (typeof authorization !== 'string' || !authorization.startsWith('Bearer ')) return undefined;
    const token = authorization.slice(7);
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    if (d1 < 0 || d2 < 0) return undefined;
    try {
      const header = JSON.parse(Buffer.from(token.slice(0, d1), 'base64url').toString('utf8'));
      const claims = JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString('utf8'));
      if (header.alg !== cfg.alg) return undefined;
      if (!verify(hash, Buffer.from(token.slice(0, d2)), opts, Buffer.from(token.slice(d2 + 1), 'base64url'))) return undefined;
      if (!(claims.exp > Date.now() / 1000) || claims.iss !== cfg.issuer || claims.aud !== cfg.audience) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  };
  return cfg.guard === 'floor-cached' ? cachedFloor(check) : check;
}

/**
 * The least a verified-token cache does in front of the floor guard (the yardstick of the cached rows, as the
 * floor guard is the uncached target's): a hit is an Authorization value verified before, found by its last 16
 * characters and confirmed by comparing the whole value, whose exp has not passed. No metrics, no revocation, no
 * key-set check, no bound on its size (the bench sends 1,000 valid tokens).
 */
function cachedFloor(check) {
  const seen = new Map();
  return (authorization) => {
    if (typeof authorization !== 'string') return undefined;
    const key = authorization.slice(-16);
    const hit = seen.get(key);
    if (hit !== undefined && hit.header === authorization && hit.claims.exp > Date.now() / 1000) return hit.claims;
    const claims = check(authorization);
    if (claims !== undefined) seen.set(key, { header: authorization, claims });
    return claims;
  };
}

/** Options for the tokenguard guard of any adapter (with an in-memory revocation store, checked on every request). */
async function tgOptions(cfg) {
  const { createMemoryRevocationStore } = await import('@tokenguard/core');
  return {
    revocation: createMemoryRevocationStore(),
    ...(cfg.parts?.hook ? { hook: cfg.parts.hook } : {}),
    issuer: cfg.issuer,
    audience: cfg.audience,
    jwksUri: cfg.jwksUri,
    algorithms: [cfg.alg],
    ...(cfg.cache === false ? { cache: false } : {}),
    ...(cfg.engine ? { engine: cfg.engine } : {}),
    ...(cfg.offload ? { offload: true } : {}),
  };
}

/** The core's synchronous entry (what the adapters call) of a verifier built with {@link tgOptions}: the `core-direct` guards. */
async function coreSyncEntry(cfg) {
  const { createTokenVerifier, syncEntryOf } = await import('@tokenguard/core');
  return syncEntryOf(createTokenVerifier(await tgOptions(cfg)));
}

const isTokenguard = (cfg) => cfg.guard === 'tokenguard' || cfg.guard === 'tokenguard-baseline';

/** The framework's tokenguard adapter: this build's, or for `tokenguard-baseline` the snapshot's in `cfg.baselineDir`. */
function adapter(cfg, fw) {
  if (cfg.guard !== 'tokenguard-baseline') return import(`@tokenguard/${fw}`);
  if (typeof cfg.baselineDir !== 'string') throw new Error('tokenguard-baseline: no baselineDir');
  return import(pathToFileURL(join(cfg.baselineDir, fw, 'dist', 'index.js')).href);
}

async function expressApp(cfg) {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  if (isTokenguard(cfg)) {
    const { tokenGuard } = await adapter(cfg, 'express');
    app.use(tokenGuard(await tgOptions(cfg)));
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.subject ?? null }));
  } else if (cfg.guard === 'express-oauth2-jwt-bearer') {
    const { auth } = await import('express-oauth2-jwt-bearer');
    app.use(auth({ issuer: cfg.issuer, audience: cfg.audience, jwksUri: cfg.jwksUri, tokenSigningAlg: cfg.alg }));
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.payload.sub ?? null }));
  } else if (cfg.guard === 'express-jwt') {
    const { expressjwt } = await import('express-jwt');
    // express-jwt given the PEM directly (no key lookup, which only helps it): shown for information; the
    // like-for-like row is 'express-jwt + jwks-rsa'.
    app.use(expressjwt({ secret: cfg.pem, algorithms: [cfg.alg], issuer: cfg.issuer, audience: cfg.audience }));
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.sub ?? null }));
  } else if (cfg.guard === 'express-jwt + jwks-rsa') {
    // express-jwt as its docs pair it with a JWKS endpoint: jwks-rsa's expressJwtSecret (cached keys).
    const { expressjwt } = await import('express-jwt');
    const { default: jwksRsa } = await import('jwks-rsa');
    const secret = jwksRsa.expressJwtSecret({ jwksUri: cfg.jwksUri, cache: true, rateLimit: true, jwksRequestsPerMinute: 10 });
    app.use(expressjwt({ secret, algorithms: [cfg.alg], issuer: cfg.issuer, audience: cfg.audience }));
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.sub ?? null }));
  } else if (cfg.guard === 'floor' || cfg.guard === 'floor-cached') {
    const check = await floorGuard(cfg);
    app.use((req, res, next) => {
      const claims = check(req.headers.authorization);
      if (claims === undefined) res.status(401).json({ error: 'invalid_token' });
      else {
        req.claims = claims;
        next();
      }
    });
    app.get('/', (req, res) => res.json({ ok: true, sub: req.claims.sub }));
  } else if (cfg.guard === 'sync-hit-sketch') {
    // Diagnostic sketch, not a guard to ship: the core's verifyRequest() on a miss, then the same AuthInfo
    // handed out synchronously (next() in the same tick) — what a synchronous cache-hit path would cost.
    // It skips the per-hit exp/revocation/key checks, so it only bounds the gain from calling next() at once.
    const { createTokenVerifier } = await import('@tokenguard/core');
    const verifier = createTokenVerifier({ ...(await tgOptions(cfg)), metrics: false });
    const seen = new Map();
    app.use((req, res, next) => {
      const header = req.headers.authorization;
      const hit = seen.get(header);
      if (hit !== undefined) {
        req.auth = hit;
        return next();
      }
      verifier.verifyRequest(req).then(
        (auth) => {
          seen.set(header, auth);
          req.auth = auth;
          next();
        },
        () => res.status(401).json({ error: 'invalid_token' }),
      );
    });
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.subject ?? null }));
  } else if (cfg.guard === 'core-direct') {
    // Diagnostic: the core's synchronous entry (what the adapter calls; metrics and revocation as configured) in a
    // middleware shaped like the floor guard's, without the adapter's per-request extras (guard link, req.auth
    // accessor): tells the adapter from the core. Until session 25 this row called the promise-returning
    // verifyRequest() (next() a microtask later).
    const entry = await coreSyncEntry(cfg);
    const deny = (res) => res.status(401).json({ error: 'invalid_token' });
    app.use((req, res, next) => {
      let auth;
      try {
        auth = entry.verifyRequest(req, undefined, true);
      } catch {
        return deny(res);
      }
      if (auth instanceof Promise) {
        auth.then((a) => {
          req.auth = a;
          next();
        }, () => deny(res));
        return;
      }
      req.auth = auth;
      next();
    });
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.subject ?? null }));
  } else if (cfg.guard === 'sets-auth') {
    // Diagnostic: the least any Express guard does — one synchronous middleware that sets req.auth (a fixed
    // object, nothing read or verified). Express's router layer and the new property on req are all it costs.
    const auth = Object.freeze({ subject: 'fixed' });
    app.use((req, _res, next) => {
      req.auth = auth;
      next();
    });
    app.get('/', (req, res) => res.json({ ok: true, sub: req.auth?.subject ?? null }));
  } else if (cfg.guard === 'reads-header') {
    // Diagnostic: the least any Express guard reads — one synchronous middleware that reads the Authorization
    // header and calls next() (nothing verified, nothing set). Between sync-noop and sets-auth: what one read of
    // Express's request costs (bench/README.md, session 17).
    app.use((req, res, next) => {
      if (typeof req.headers.authorization !== 'string') return res.status(401).json({ error: 'invalid_token' });
      next();
    });
    app.get('/', (_req, res) => res.json({ ok: true, sub: null }));
  } else if (cfg.guard === 'sync-noop') {
    // Diagnostic: the least any Express middleware costs — one more router layer that calls next() at once.
    app.use((_req, _res, next) => next());
    app.get('/', (_req, res) => res.json({ ok: true, sub: null }));
  } else if (cfg.guard === 'async-noop') {
    // Diagnostic: the cost of any promise-based middleware (one microtask hop, nothing verified).
    app.use((_req, _res, next) => {
      Promise.resolve().then(() => next());
    });
    app.get('/', (_req, res) => res.json({ ok: true, sub: null }));
  } else if (cfg.guard === 'bare' || cfg.guard === 'bare-pristine') {
    app.get('/', (_req, res) => res.json({ ok: true, sub: null }));
  } else throw new Error(`unknown express guard ${cfg.guard}`);
  // Peers' errors end here; answer 401 like a guard would (never a stack trace).
  app.use((err, _req, res, _next) => res.status(err.status ?? 401).json({ error: 'invalid_token' }));
  if (cfg.handlerOnly) return app;
  // What app.listen() builds (node's createServer(app)), or for express-createServer the same app on
  // @tokenguard/express's createServer(app) (this build's, whatever the guard), which builds every request and
  // response with Express's prototypes from the start.
  const server = cfg.createServer ? (await import('@tokenguard/express')).createServer(app) : createServer(app);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function fastifyApp(cfg) {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  if (isTokenguard(cfg)) {
    const { default: tokenGuard } = await adapter(cfg, 'fastify');
    await app.register(tokenGuard, await tgOptions(cfg));
    app.get('/', async (req) => ({ ok: true, sub: req.auth?.subject ?? null }));
  } else if (cfg.guard === '@fastify/jwt' || cfg.guard === '@fastify/jwt + get-jwks') {
    const { default: fjwt } = await import('@fastify/jwt');
    const verify = { algorithms: [cfg.alg], allowedIss: cfg.issuer, allowedAud: cfg.audience };
    if (cfg.guard === '@fastify/jwt') {
      // The PEM given directly: no key lookup at all, which only helps it.
      await app.register(fjwt, { secret: { public: cfg.pem }, verify });
    } else {
      // As its docs pair it with a JWKS endpoint: get-jwks (cached JWKs) supplying the key per token. The JWKS
      // location is pinned here (the token's iss is not where the bench serves its JWKS).
      const { default: buildGetJwks } = await import('get-jwks');
      const jwksUrl = new URL(cfg.jwksUri);
      const getJwks = buildGetJwks({ jwksPath: jwksUrl.pathname });
      const secret = (_request, token) => getJwks.getPublicKey({ kid: token.header.kid, alg: token.header.alg, domain: jwksUrl.origin });
      await app.register(fjwt, { decode: { complete: true }, secret, verify });
    }
    app.addHook('onRequest', async (req, reply) => {
      try {
        await req.jwtVerify();
      } catch {
        return reply.code(401).send({ error: 'invalid_token' });
      }
    });
    app.get('/', async (req) => ({ ok: true, sub: req.user?.sub ?? null }));
  } else if (cfg.guard === 'floor' || cfg.guard === 'floor-cached') {
    const check = await floorGuard(cfg);
    app.decorateRequest('claims', null);
    app.addHook('onRequest', (req, reply, done) => {
      const claims = check(req.headers.authorization);
      if (claims === undefined) reply.code(401).send({ error: 'invalid_token' });
      else {
        req.claims = claims;
        done();
      }
    });
    app.get('/', async (req) => ({ ok: true, sub: req.claims.sub }));
  } else if (cfg.guard === 'core-direct') {
    // Diagnostic: the core's synchronous entry (what the adapter calls; metrics and revocation as configured) in an
    // onRequest hook shaped like the floor guard's, without the adapter: tells the adapter and its hook from the core.
    const entry = await coreSyncEntry(cfg);
    app.decorateRequest('auth', null);
    app.addHook('onRequest', (req, reply, done) => {
      let auth;
      try {
        auth = entry.verifyRequest(req.raw, undefined);
      } catch {
        reply.code(401).send({ error: 'invalid_token' });
        return;
      }
      if (auth instanceof Promise) {
        auth.then((a) => {
          req.auth = a;
          done();
        }, () => reply.code(401).send({ error: 'invalid_token' }));
        return;
      }
      req.auth = auth;
      done();
    });
    app.get('/', async (req) => ({ ok: true, sub: req.auth?.subject ?? null }));
  } else if (cfg.guard === 'async-noop') {
    app.addHook('onRequest', async () => {});
    app.get('/', async () => ({ ok: true, sub: null }));
  } else if (cfg.guard === 'bare' || cfg.guard === 'bare-pristine') {
    app.get('/', async () => ({ ok: true, sub: null }));
  } else throw new Error(`unknown fastify guard ${cfg.guard}`);
  if (cfg.handlerOnly) {
    // Fastify's own request handler (`fastify.routing`), once the app is ready.
    await app.ready();
    return app.routing;
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server;
}

async function koaApp(cfg) {
  const { default: Koa } = await import('koa');
  const app = new Koa();
  if (isTokenguard(cfg)) {
    const { tokenGuard } = await adapter(cfg, 'koa');
    app.use(tokenGuard(await tgOptions(cfg)));
    app.use((ctx) => (ctx.body = { ok: true, sub: ctx.state.auth?.subject ?? null }));
  } else if (cfg.guard === 'koa-jwt') {
    const { default: koaJwt } = await import('koa-jwt');
    // koa-jwt given the PEM directly (no key lookup, which only helps it): shown for information; the
    // like-for-like row is 'koa-jwt + jwks-rsa'.
    app.use(koaJwt({ secret: cfg.pem, algorithms: [cfg.alg], issuer: cfg.issuer, audience: cfg.audience }));
    app.use((ctx) => (ctx.body = { ok: true, sub: ctx.state.user?.sub ?? null }));
  } else if (cfg.guard === 'koa-jwt + jwks-rsa') {
    // koa-jwt as its docs pair it with a JWKS endpoint: jwks-rsa's koaJwtSecret (cached keys).
    const { default: koaJwt } = await import('koa-jwt');
    const { default: jwksRsa } = await import('jwks-rsa');
    const secret = jwksRsa.koaJwtSecret({ jwksUri: cfg.jwksUri, cache: true, rateLimit: true, jwksRequestsPerMinute: 10 });
    app.use(koaJwt({ secret, algorithms: [cfg.alg], issuer: cfg.issuer, audience: cfg.audience }));
    app.use((ctx) => (ctx.body = { ok: true, sub: ctx.state.user?.sub ?? null }));
  } else if (cfg.guard === 'floor' || cfg.guard === 'floor-cached') {
    const check = await floorGuard(cfg);
    app.use((ctx, next) => {
      const claims = check(ctx.headers.authorization);
      if (claims === undefined) {
        ctx.status = 401;
        ctx.body = { error: 'invalid_token' };
        return undefined;
      }
      ctx.state.claims = claims;
      return next();
    });
    app.use((ctx) => (ctx.body = { ok: true, sub: ctx.state.claims.sub }));
  } else if (cfg.guard === 'core-direct') {
    // Diagnostic: the core's synchronous entry in a middleware shaped like the floor guard's, without the adapter.
    const entry = await coreSyncEntry(cfg);
    const deny = (ctx) => {
      ctx.status = 401;
      ctx.body = { error: 'invalid_token' };
    };
    app.use((ctx, next) => {
      let auth;
      try {
        auth = entry.verifyRequest(ctx.req, undefined);
      } catch {
        return deny(ctx);
      }
      if (auth instanceof Promise) {
        return auth.then((a) => {
          ctx.state.auth = a;
          return next();
        }, () => deny(ctx));
      }
      ctx.state.auth = auth;
      return next();
    });
    app.use((ctx) => (ctx.body = { ok: true, sub: ctx.state.auth?.subject ?? null }));
  } else if (cfg.guard === 'async-noop') {
    app.use(async (_ctx, next) => {
      await Promise.resolve();
      return next();
    });
    app.use((ctx) => (ctx.body = { ok: true, sub: null }));
  } else if (cfg.guard === 'bare' || cfg.guard === 'bare-pristine') {
    app.use((ctx) => (ctx.body = { ok: true, sub: null }));
  } else throw new Error(`unknown koa guard ${cfg.guard}`);
  app.silent = true;
  if (cfg.handlerOnly) return app.callback();
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const APPS = { express: expressApp, 'express-createServer': (cfg) => expressApp({ ...cfg, createServer: true }), fastify: fastifyApp, koa: koaApp };

/** The function that builds `framework`'s app for a guard (see `config` and `pairedServer`). */
function appBuilder(framework) {
  const build = APPS[framework];
  if (!build) throw new Error(`unknown framework ${framework}`);
  return build;
}

/**
 * The paired server (see `pairedBench` in run.mjs): the apps of several variants (bare first, then guards), each
 * built exactly as its own server process builds it, behind ONE Node HTTP server that hands every request to the
 * app of the variant serving now (`variant`). The server itself switches `variant` every slice (`cycle`), so
 * adjacent slices of bare and of a guard run in the same process, on the same JIT and heap state, a fraction of a
 * second apart.
 */
let variant = 0;
const handlers = [];

async function pairedServer(framework, variants) {
  const build = appBuilder(framework);
  for (const v of variants) handlers.push(await build({ ...v, handlerOnly: true }));
  const dispatch = (req, res) => handlers[variant](req, res);
  const server = framework === 'express-createServer' ? await sharedExpressServer(handlers, dispatch) : createServer(dispatch);
  // What Fastify sets on its own server; no connection of the load generator idles that long anyway.
  server.keepAliveTimeout = 72_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * The paired server of `express-createServer`: @tokenguard/express's createServer, whose requests and responses are
 * built on one app's prototypes. Every variant's app is given the first app's `request` and `response` (Express sets
 * a request's prototype to its app's `request` on every request), so no app changes a request's prototype and
 * requests keep one hidden class whichever app serves them, as on a server of their own. The apps' settings are the
 * same, so `req.app` (the first app, for every variant) reads the same values.
 */
async function sharedExpressServer(apps, dispatch) {
  const { createServer: expressServer } = await import('@tokenguard/express');
  const [first, ...rest] = apps;
  // createServer(app) gives the app its new request and response prototypes (subclasses of node's): the others
  // take them after it.
  const server = expressServer(first);
  for (const app of rest) {
    app.request = first.request;
    app.response = first.response;
  }
  server.removeAllListeners('request');
  server.on('request', dispatch);
  return server;
}

/**
 * Runs `slices` slices of `sliceMs`, switching `variant` to the next one (0, 1, …, n − 1, 0, …) at each
 * boundary. At every boundary it records the server's CPU time (user and system), its request count, the time, and
 * which variant serves the slice that starts there (`next`; −1 at the last): slice i lies between boundaries i and
 * i + 1. Timers aim at fixed times from the start, so slices do not drift; the recorded times are the real ones.
 */
function cycle(sliceMs, slices) {
  return new Promise((resolve) => {
    const boundaries = [];
    const start = performance.now();
    let k = 0;
    const boundary = (next) => {
      const cpu = process.cpuUsage();
      boundaries.push({ t: performance.now(), userUs: cpu.user, systemUs: cpu.system, requests, next });
    };
    variant = 0;
    boundary(0);
    const tick = () => {
      k++;
      if (k >= slices) {
        boundary(-1);
        variant = 0;
        resolve(boundaries);
        return;
      }
      variant = k % handlers.length;
      boundary(variant);
      setTimeout(tick, Math.max(0, start + (k + 1) * sliceMs - performance.now()));
    };
    setTimeout(tick, sliceMs);
  });
}

/**
 * Every server process loads the same modules before it builds its app, whatever its guard: tokenguard, all
 * three frameworks and every peer. Loading a module graph changes V8's type feedback for node's own stream and
 * nextTick code, and with it what TurboFan inlines for the rest of the process: a bare Fastify server that only
 * imported @tokenguard/core (never calling it) served each request ~2.7 µs slower than one that did not
 * (12.1 vs 14.8 µs, reproducible; the gap vanishes under --no-turbo-inlining). Same start-up for every variant, so
 * the comparison measures what each guard does per request. `preload: false` (the diagnostic "bare, nothing else
 * loaded" row) skips it.
 */
const PRELOAD = ['express', 'fastify', 'koa', '@tokenguard/core', '@tokenguard/express', '@tokenguard/fastify', '@tokenguard/koa', 'express-oauth2-jwt-bearer', 'express-jwt', 'jwks-rsa', '@fastify/jwt', 'get-jwks', 'koa-jwt'];

async function preload() {
  for (const name of PRELOAD) {
    try {
      await import(name);
    } catch {
      // A package not built or not installed: the variant that needs it reports that itself.
    }
  }
}

/** A listening server under test: its requests are counted (see `mark`, `cycle`), and run.mjs is told its port. */
function announce(server) {
  server.on('request', () => requests++);
  process.send({ type: 'ready', port: server.address().port });
}

process.on('message', async (msg) => {
  try {
    if (msg.type === 'config') {
      const build = appBuilder(msg.framework);
      if (msg.preload !== false) await preload();
      announce(await build(msg));
    } else if (msg.type === 'paired-config') {
      if (msg.preload !== false) await preload();
      announce(await pairedServer(msg.framework, msg.variants));
    } else if (msg.type === 'select') {
      if (!(Number.isInteger(msg.index) && msg.index >= 0 && msg.index < handlers.length)) throw new Error(`no variant ${msg.index}`);
      variant = msg.index;
      process.send({ type: 'select' });
    } else if (msg.type === 'cycle') {
      if (handlers.length === 0) throw new Error('cycle: not a paired server (paired-config first)');
      if (!(Number.isInteger(msg.slices) && msg.slices > 0 && msg.slices <= 100_000 && msg.sliceMs >= 10)) throw new Error('cycle: bad slices or sliceMs');
      process.send({ type: 'cycle', boundaries: await cycle(msg.sliceMs, msg.slices) });
    } else if (msg.type === 'profile-start') {
      stopProfiler = await startProfiler(100);
      process.send({ type: 'profile-start' });
    } else if (msg.type === 'profile-stop') {
      const profile = await stopProfiler();
      stopProfiler = undefined;
      process.send({ type: 'profile-stop', markdown: summarizeProfile(profile, msg.cpuUsPerOp, msg.top ?? 15) });
    } else if (msg.type === 'stats') {
      // tokenguard's own count of cache hits and misses, read back from the prom-client exposition.
      const { register } = await import('prom-client');
      const counts = { hit: 0, miss: 0 };
      for (const line of (await register.metrics()).split('\n')) {
        const m = /^tokenguard_verify_duration_seconds_count\{[^}]*cache="(hit|miss)"[^}]*\} (\d+)/.exec(line);
        if (m) counts[m[1]] += Number(m[2]);
      }
      process.send({ type: 'stats', ...counts });
    } else if (msg.type === 'mark') {
      const cpu = process.cpuUsage();
      process.send({ type: 'mark', cpuUs: cpu.user + cpu.system, userUs: cpu.user, systemUs: cpu.system, requests, gcUs, gcMajors, t: performance.now(), rssMiB: process.memoryUsage().rss / 2 ** 20 });
    }
  } catch (err) {
    process.send({ type: 'error', message: String(err?.message ?? err) });
  }
});

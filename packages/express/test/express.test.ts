/**
 * Express-specific behaviour (the shared request matrix is in test/conformance): `passErrors`, Express's
 * own error path, route templates in audit events, option validation, the same guard on Express 4, and
 * createServer(app) / serverOptions(app): the app on node's server with requests built on Express's prototypes.
 */
import { execFile } from 'node:child_process';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import express, { type ErrorRequestHandler } from 'express';
import express4 from 'express4';
import { Registry } from 'prom-client';
import { isTokenError, type AuditEvent } from '@tokenguard/core';
import { tokenGuard, requireScopes, metricsHandler, createServer as createExpressServer, serverOptions, type TokenGuardMiddleware } from '@tokenguard/express';
import { makeKey, jwks, signToken, type TestKey } from '../../../test/helpers/keys';
import { wrap, type TestServer } from '../../../test/helpers/http';

const ISSUER = 'https://idp.express.test/';
const AUDIENCE = 'orders-api';
const PACKAGE = resolve(__dirname, '..');
let key: TestKey;
const servers: TestServer[] = [];
const guards: TokenGuardMiddleware[] = [];

beforeAll(async () => {
  key = await makeKey('ES256');
});

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const g of guards) await g.close();
});

function guard(extra: Partial<Parameters<typeof tokenGuard>[0]> = {}, events?: AuditEvent[]): TokenGuardMiddleware {
  const g = tokenGuard({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: jwks(key),
    metrics: { registry: new Registry() },
    ...(events ? { onEvent: (e: AuditEvent) => { events.push(e); } } : {}),
    ...extra,
  });
  guards.push(g);
  return g;
}

/** Listens `server` on 127.0.0.1:0 (closed after all tests) and returns its URL. */
async function serveOn(server: ReturnType<typeof createServer>): Promise<string> {
  const s = await wrap(server);
  servers.push(s);
  return s.url;
}

/** `app` on node's plain server (what `app.listen()` builds). */
const serve = (app: express.Express | ReturnType<typeof express4>): Promise<string> => serveOn(createServer(app as Parameters<typeof createServer>[1]));

const token = (scope = 'orders:read', extra: Record<string, unknown> = {}) =>
  signToken(key, { iss: ISSUER, aud: AUDIENCE, sub: 'svc-x', client_id: 'client-x', scope, ...extra });

/** An app with a guard, whose `res.locals` is frozen before it or spread after it as the `x-locals` header says. */
function guardedWithLocals(): express.Express {
  const app = express();
  app.use((req, res, next) => {
    // A frozen locals object cannot hold the value: req.auth must still work (another store is used).
    if (req.headers['x-locals'] === 'frozen') res.locals = Object.freeze(Object.create(null) as Record<string, unknown>);
    next();
  });
  app.use(guard());
  app.use((req, res, next) => {
    // Spread into a fresh object (as some middleware does): the value travels along.
    if (req.headers['x-locals'] === 'spread') res.locals = { ...res.locals, page: 'orders' };
    next();
  });
  return app;
}

describe('@tokenguard/express', () => {
  it('sets a typed req.auth whose raw token is not enumerable', async () => {
    const app = express();
    app.use(guard());
    app.get('/me', (req, res) => {
      res.json({ sub: req.auth?.subject, keys: Object.keys(req.auth ?? {}), json: JSON.stringify(req.auth).includes(req.auth?.token ?? '?') });
    });
    const url = await serve(app);
    const res = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.sub).toBe('svc-x');
    expect(body.keys).not.toContain('token');
    expect(body.json).toBe(false);
  });

  it('req.auth is per request, can be read, replaced and cleared by later middleware, and wins over an earlier own req.auth', async () => {
    const app = express();
    // Middleware before the guard that sets req.auth: by assignment, or as an own property of that request object.
    app.use((req, _res, next) => {
      if (req.headers['x-preset'] === 'assign') (req as { auth?: unknown }).auth = { subject: 'forged' };
      if (req.headers['x-preset'] === 'own') Object.defineProperty(req, 'auth', { value: { subject: 'forged' }, writable: true, configurable: true, enumerable: true });
      next();
    });
    app.use(guard({ credentialsRequired: false }));
    app.get('/me', (req, res) => {
      const seen = req.auth?.subject ?? null;
      if (req.headers['x-replace'] === '1') req.auth = undefined;
      res.json({ seen, after: req.auth?.subject ?? null, own: Object.prototype.hasOwnProperty.call(req, 'auth') });
    });
    const url = await serve(app);
    const get = async (headers: Record<string, string>) => (await fetch(`${url}/me`, { headers })).json();
    const t1 = await token('orders:read', { sub: 'svc-one' });
    const t2 = await token('orders:read', { sub: 'svc-two' });
    // Twice each: the second request is a cache hit.
    for (let i = 0; i < 2; i++) {
      expect(await get({ authorization: `Bearer ${t1}` })).toEqual({ seen: 'svc-one', after: 'svc-one', own: false });
      expect(await get({ authorization: `Bearer ${t2}` })).toEqual({ seen: 'svc-two', after: 'svc-two', own: false });
      expect(await get({})).toEqual({ seen: null, after: null, own: false });
      expect(await get({ authorization: `Bearer ${t1}`, 'x-replace': '1' })).toEqual({ seen: 'svc-one', after: null, own: false });
      expect(await get({ authorization: `Bearer ${t2}`, 'x-preset': 'assign' })).toEqual({ seen: 'svc-two', after: 'svc-two', own: false });
      expect(await get({ authorization: `Bearer ${t2}`, 'x-preset': 'own' })).toEqual({ seen: 'svc-two', after: 'svc-two', own: true });
    }
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => get({ authorization: `Bearer ${i % 2 ? t1 : t2}` })));
    expect(all.map((b) => b.seen)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'svc-one' : 'svc-two')));
  });

  it('keeps req.auth in res.locals under a private symbol: invisible to templates and JSON, and kept when locals are frozen or spread', async () => {
    const app = guardedWithLocals();
    app.get('/me', (req, res) => {
      const locals = res.locals as Record<string | symbol, unknown>;
      const keys: string[] = [];
      for (const k in locals) keys.push(k);
      res.json({ sub: req.auth?.subject ?? null, keys, json: JSON.stringify(locals), own: Object.prototype.hasOwnProperty.call(req, 'auth') });
    });
    const url = await serve(app);
    const t = await token('orders:read', { sub: 'svc-locals' });
    for (const mode of ['plain', 'frozen', 'spread']) {
      for (let i = 0; i < 2; i++) {
        const body = (await (await fetch(`${url}/me`, { headers: { authorization: `Bearer ${t}`, 'x-locals': mode } })).json()) as { sub: string; keys: string[]; json: string; own: boolean };
        expect(body.sub).toBe('svc-locals');
        expect(body.own).toBe(false);
        expect(body.keys).toEqual(mode === 'spread' ? ['page'] : []);
        expect(body.json).not.toContain(t.slice(-20));
        expect(body.json).not.toContain('svc-locals');
      }
    }
  });

  it("an async handler still reads its own req.auth after other requests passed the guard (plain, frozen and spread locals)", async () => {
    const app = guardedWithLocals();
    // /slow reads req.auth, waits until /fast has been answered (its guard stored another request's value), reads again.
    let fastDone: () => void = () => {};
    let slowStarted: () => void = () => {};
    app.get('/slow', (req, res) => {
      const before = req.auth?.subject ?? null;
      const done = new Promise<void>((resolve) => { fastDone = resolve; });
      slowStarted();
      void done.then(() => {
        const after = req.auth?.subject ?? null;
        req.auth = undefined;
        res.json({ before, after, cleared: req.auth ?? null });
      });
    });
    app.get('/fast', (req, res) => {
      res.json({ sub: req.auth?.subject ?? null });
    });
    const url = await serve(app);
    const t1 = await token('orders:read', { sub: 'svc-slow' });
    const t2 = await token('orders:read', { sub: 'svc-fast' });
    for (const mode of ['plain', 'frozen', 'spread']) {
      // Twice: the second round is a cache hit for both tokens.
      for (let i = 0; i < 2; i++) {
        const started = new Promise<void>((resolve) => { slowStarted = resolve; });
        const slow = fetch(`${url}/slow`, { headers: { authorization: `Bearer ${t1}`, 'x-locals': mode } });
        await started;
        const fast = await (await fetch(`${url}/fast`, { headers: { authorization: `Bearer ${t2}`, 'x-locals': mode } })).json();
        expect(fast).toEqual({ sub: 'svc-fast' });
        fastDone();
        expect(await (await slow).json()).toEqual({ before: 'svc-slow', after: 'svc-slow', cleared: null });
      }
    }
  });

  it('req.auth reaches handlers of a mounted sub-app and of the parent app after it', async () => {
    const app = express();
    const sub = express();
    sub.use(guard());
    sub.get('/me', (req, res) => res.json({ where: 'sub', sub: req.auth?.subject ?? null }));
    sub.get('/next', (_req, _res, next) => next('router'));
    app.use('/api', sub);
    app.get('/api/next', (req, res) => res.json({ where: 'parent', sub: req.auth?.subject ?? null }));
    const url = await serve(app);
    const headers = { authorization: `Bearer ${await token()}` };
    expect(await (await fetch(`${url}/api/me`, { headers })).json()).toEqual({ where: 'sub', sub: 'svc-x' });
    const parent = await fetch(`${url}/api/next`, { headers });
    expect(parent.status).toBe(200);
    expect(await parent.json()).toEqual({ where: 'parent', sub: 'svc-x' });
  });

  it('passErrors: true hands the TokenError to next(err), and Express honours its status and headers', async () => {
    const seen: unknown[] = [];
    const app = express();
    app.use(guard({ passErrors: true }));
    app.get('/me', (_req, res) => { res.send('unreachable'); });
    const custom = express();
    custom.use(guard({ passErrors: true }));
    custom.get('/me', (_req, res) => { res.send('unreachable'); });
    const handler: ErrorRequestHandler = (err, _req, res, _next) => {
      seen.push(err);
      res.status(isTokenError(err) ? err.status : 500).json({ mine: true, code: isTokenError(err) ? err.code : 'other' });
    };
    custom.use(handler);
    const [defaultUrl, customUrl] = [await serve(app), await serve(custom)];

    const viaDefault = await fetch(`${defaultUrl}/me`, { headers: { authorization: `Bearer ${await token('x', { exp: 1 })}` } });
    expect(viaDefault.status).toBe(401);
    expect(viaDefault.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await viaDefault.text();

    const viaCustom = await fetch(`${customUrl}/me`);
    expect(viaCustom.status).toBe(401);
    expect(await viaCustom.json()).toEqual({ mine: true, code: 'token_missing' });
    expect(seen).toHaveLength(1);
    expect(isTokenError(seen[0])).toBe(true);
  });

  it('requireScopes follows the guard\'s passErrors and reports the route template, never the raw URL', async () => {
    const events: AuditEvent[] = [];
    const seen: string[] = [];
    const app = express();
    app.use(guard({ passErrors: true }, events));
    app.get('/orders/:id', requireScopes('orders:write'), (_req, res) => { res.send('unreachable'); });
    app.use(((err, _req, res, _next) => {
      seen.push(isTokenError(err) ? err.code : 'other');
      res.status(err.status ?? 500).set(err.headers ?? {}).end();
    }) as ErrorRequestHandler);
    const url = await serve(app);
    const res = await fetch(`${url}/orders/4711`, { headers: { authorization: `Bearer ${await token('orders:read')}` } });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('scope="orders:write"');
    expect(seen).toEqual(['insufficient_scope']);
    const denied = events.filter((e) => e.type === 'scope.denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.route).toBe('/orders/:id');
    expect(JSON.stringify(events)).not.toContain('4711');
  });

  it('validates options and scopes at construction with a TypeError naming them', () => {
    expect(() => tokenGuard({ issuer: ISSUER, audience: AUDIENCE, keys: jwks(key), passErrors: 'yes' as unknown as boolean })).toThrow(/"passErrors"/);
    expect(() => tokenGuard({ issuer: ISSUER } as Parameters<typeof tokenGuard>[0])).toThrow(TypeError);
    expect(() => requireScopes([])).toThrow(/"scopes"/);
    expect(() => requireScopes('orders:read orders:write')).toThrow(/array/);
    expect(() => requireScopes([42 as unknown as string])).toThrow(TypeError);
    expect(() => requireScopes('orders:read', { mode: 'some' as 'all' })).toThrow(/"mode"/);
  });

  it('metricsHandler serves the given registry in the Prometheus text format', async () => {
    const registry = new Registry();
    const app = express();
    app.get('/metrics', metricsHandler({ registry }));
    app.use(guard({ metrics: { registry } }));
    app.get('/me', (_req, res) => { res.end(); });
    const url = await serve(app);
    await (await fetch(`${url}/me`)).text();
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(/^tokenguard_rejections_total\{reason="token_missing"\} 1$/m);
  });

  describe('on Express 4', () => {
    it('accepts, rejects, checks scopes and survives a rejected verification without a crash', async () => {
      const app = express4();
      app.use(guard());
      app.get('/orders', requireScopes('orders:read'), (req, res) => { res.json({ sub: req.auth?.subject }); });
      const url = await serve(app);
      const ok = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${await token()}` } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ sub: 'svc-x' });
      const denied = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${await token('orders:admin')}` } });
      expect(denied.status).toBe(403);
      expect(await denied.json()).toEqual({ error: 'insufficient_scope', error_description: 'Insufficient scope', code: 'insufficient_scope' });
      const bad = await fetch(`${url}/orders`, { headers: { authorization: 'Bearer not.a.token' } });
      expect(bad.status).toBe(401);
      expect((await bad.json()).code).toBe('token_malformed');
    });

    it('passErrors reaches Express 4 error handlers (v4 does not catch promise rejections itself)', async () => {
      const app = express4();
      app.use(guard({ passErrors: true }));
      app.get('/me', (_req, res) => { res.send('unreachable'); });
      app.use(((err, _req, res, _next) => { res.status(err.status).json({ code: err.code }); }) as ErrorRequestHandler);
      const url = await serve(app);
      const res = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${await token('x', { aud: 'other' })}` } });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: 'audience_invalid' });
    });
  });
});

// ---------------------------------------------------------------- createServer(app) / serverOptions(app)
// An Express app served on node's HTTP server with requests and responses built on Express's own prototypes.

/** An API with the guard, a scoped route, a mounted sub-app and a route that reports what the objects are. */
function api(make: typeof express): express.Express {
  const app = make();
  const sub = make();
  sub.get('/me', (req, res) => { res.json({ where: 'sub', sub: req.auth?.subject ?? null, app: req.app === sub }); });
  app.use(guard());
  app.get('/orders', requireScopes('orders:read'), (req, res) => { res.json({ sub: req.auth?.subject }); });
  app.use('/api', sub);
  app.get('/objects', (req, res) => {
    res.json({
      request: req instanceof IncomingMessage,
      response: res instanceof ServerResponse,
      app: req.app === app,
      query: req.query,
      locals: typeof res.locals,
      sub: req.auth?.subject ?? null,
    });
  });
  return app;
}

describe.each([
  ['Express 5', express],
  ['Express 4', express4 as unknown as typeof express],
])('createServer(app) on %s', (_name, make) => {
  it('serves the guarded app as app.listen() would: 200, 401, 403, query, locals, sub-apps', async () => {
    const url = await serveOn(createExpressServer(api(make)));
    const headers = { authorization: `Bearer ${await token()}` };
    const objects = await fetch(`${url}/objects?page=2`, { headers });
    expect(objects.status).toBe(200);
    expect(await objects.json()).toEqual({ request: true, response: true, app: true, query: { page: '2' }, locals: 'object', sub: 'svc-x' });
    expect(await (await fetch(`${url}/orders`, { headers })).json()).toEqual({ sub: 'svc-x' });
    expect(await (await fetch(`${url}/api/me`, { headers })).json()).toEqual({ where: 'sub', sub: 'svc-x', app: true });
    const missing = await fetch(`${url}/orders`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="api"');
    const denied = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${await token('orders:admin')}` } });
    expect(denied.status).toBe(403);
    expect((await denied.json()).code).toBe('insufficient_scope');
    const malformed = await fetch(`${url}/orders`, { headers: { authorization: 'Bearer not.a.token' } });
    expect(malformed.status).toBe(401);
    expect((await malformed.json()).code).toBe('token_malformed');
  });

  it("keeps node's own server options (maxHeaderSize) and answers through Express's prototypes", async () => {
    const app = make();
    app.get('/', (_req, res) => { res.status(200).json({ ok: true }); });
    const url = await serveOn(createExpressServer(app, { maxHeaderSize: 2048 }));
    expect((await fetch(url)).status).toBe(200);
    // A header over the limit is refused by node before Express sees it.
    const tooBig = await fetch(url, { headers: { 'x-padding': 'a'.repeat(4096) } });
    expect(tooBig.status).toBe(431);
  });

  it('serverOptions(app) composes with http.createServer and its other options', async () => {
    const app = api(make);
    const url = await serveOn(createServer({ ...serverOptions(app), maxHeaderSize: 4096 }, app));
    const res = await fetch(`${url}/objects`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(await res.json()).toMatchObject({ request: true, response: true, app: true, sub: 'svc-x' });
  });
});

describe('createServer / serverOptions: what they change on the app', () => {
  it("makes the classes once per app, and what app.request and app.response held before or after still reads", async () => {
    const app = express();
    const before = app.request;
    Object.defineProperty(app.request, 'tenant', { get() { return 'acme'; }, configurable: true });
    const first = serverOptions(app);
    expect(serverOptions(app)).toBe(first);
    expect(createExpressServer(app)).toBeInstanceOf(Server);
    expect(serverOptions(app)).toBe(first);
    // app.request now inherits from the object it was; additions after the call land on the new one and read too.
    expect(app.request).toBe(first.IncomingMessage.prototype);
    expect(Object.getPrototypeOf(app.request)).toBe(before);
    (app.response as unknown as { hello: () => string }).hello = () => 'hi';
    app.get('/', (req, res) => { res.json({ tenant: (req as unknown as { tenant: string }).tenant, hello: (res as unknown as { hello: () => string }).hello(), app: req.app === app }); });
    const url = await serveOn(createExpressServer(app));
    expect(await (await fetch(url)).json()).toEqual({ tenant: 'acme', hello: 'hi', app: true });
    // An app.request replaced after the call gets classes of its own.
    app.request = Object.create(before) as typeof before;
    expect(serverOptions(app)).not.toBe(first);
  });

  it('app.listen() on the same app still works (requests then take the slow path, answers are the same)', async () => {
    const app = api(express);
    createExpressServer(app);
    const s = app.listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    servers.push({ server: s, url: '', close: () => new Promise<void>((done) => { s.closeAllConnections(); s.close(() => done()); }) });
    const { port } = s.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/objects`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(await res.json()).toMatchObject({ request: true, response: true, app: true, sub: 'svc-x' });
  });
});

describe('createServer / serverOptions: bad input', () => {
  it('throws a TypeError naming the helper and the missing prototype', () => {
    expect(() => createExpressServer(undefined as never)).toThrow(new TypeError('createServer: app must be an Express application (a function with app.request and app.response)'));
    expect(() => createExpressServer((() => undefined) as never)).toThrow(/^createServer: app\.request must be Express's request prototype/);
    expect(() => serverOptions({} as never)).toThrow(TypeError);
    expect(() => serverOptions(null as never)).toThrow(/^serverOptions: app\.request must be/);
    // A request prototype that is not a request: refused, not served.
    expect(() => serverOptions({ request: {}, response: express().response } as never)).toThrow(/^serverOptions: app\.request must be/);
    expect(() => serverOptions({ request: express().request, response: express().request } as never)).toThrow(/^serverOptions: app\.response must be/);
  });
});

/** What the child process counted (see `shapes`). */
interface Shapes { pairs: number; sameReq: number; sameRes: number; fastReq: number; statuses: number[] }

/**
 * Two requests held in the handler at once, compared with V8's %HaveSameMap in a child process (natives syntax
 * needs the flag, so the script runs there, on the built package). Prints the counts as JSON.
 */
function shapes(major: 4 | 5, server: 'createServer' | 'listen', credentials: { token: string; jwks: unknown }): Promise<Shapes> {
  const script = `
    import http from 'node:http';
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(join(PACKAGE, 'package.json'))});
    const express = require(${JSON.stringify(major === 4 ? 'express4' : 'express')});
    const { createServer, tokenGuard, requireScopes } = await import(${JSON.stringify(join(PACKAGE, 'dist', 'index.js'))});
    const sameMap = new Function('a', 'b', '%TryMigrateInstance(a); %TryMigrateInstance(b); return %HaveSameMap(a, b);');
    const fast = new Function('o', 'return %HasFastProperties(o);');
    const { token, jwks } = JSON.parse(process.env.SHAPES_INPUT);
    const guard = tokenGuard({ issuer: ${JSON.stringify(ISSUER)}, audience: ${JSON.stringify(AUDIENCE)}, keys: jwks, metrics: false });
    const app = express();
    app.use(guard);
    let held;
    const out = { pairs: 0, sameReq: 0, sameRes: 0, fastReq: 0, statuses: [] };
    app.get('/orders', requireScopes('orders:read'), (req, res) => {
      if (held === undefined) { held = { req, res }; return; }
      const first = held;
      held = undefined;
      out.pairs++;
      if (sameMap(first.req, req)) out.sameReq++;
      if (sameMap(first.res, res)) out.sameRes++;
      if (fast(req)) out.fastReq++;
      first.res.json({ sub: first.req.auth?.subject });
      res.json({ sub: req.auth?.subject });
    });
    const server = ${server === 'createServer' ? 'createServer(app)' : 'http.createServer(app)'};
    server.listen(0, '127.0.0.1', async () => {
      const { port } = server.address();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
      const get = (auth) => new Promise((done, fail) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/orders', agent, headers: auth ? { authorization: 'Bearer ' + auth } : {} }, (res) => { res.resume(); res.on('end', () => done(res.statusCode)); });
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
        req.on('error', fail);
      });
      try {
        // Warm-up pairs (the first requests create the hidden classes), then the counted ones.
        for (let i = 0; i < 5; i++) await Promise.all([get(token), get(token)]);
        out.pairs = out.sameReq = out.sameRes = out.fastReq = 0;
        for (let i = 0; i < 20; i++) out.statuses.push(...(await Promise.all([get(token), get(token)])));
        out.statuses.push(await get(undefined));
      } finally {
        agent.destroy();
        server.closeAllConnections();
        server.close();
        await guard.close();
      }
      process.stdout.write(JSON.stringify(out));
    });
  `;
  return new Promise((done, fail) =>
    execFile(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { timeout: 30_000, killSignal: 'SIGKILL', env: { ...process.env, SHAPES_INPUT: JSON.stringify(credentials) } }, (err, stdout) =>
      err ? fail(err) : done(JSON.parse(stdout) as Shapes),
    ),
  );
}

describe('hidden classes (V8, in a child process on the built package)', () => {
  it.each([5, 4] as const)('Express %i: every pair of requests shares one hidden class under createServer(app), none under http.createServer(app)', async (major) => {
    const credentials = { token: await token(), jwks: jwks(key) };
    const stable = await shapes(major, 'createServer', credentials);
    const plain = await shapes(major, 'listen', credentials);
    const served = [...Array<number>(40).fill(200), 401];
    expect(stable).toEqual({ pairs: 20, sameReq: 20, sameRes: 20, fastReq: 20, statuses: served });
    // The control: what Express's Object.setPrototypeOf does to every request on a plain node server.
    expect(plain.pairs).toBe(20);
    expect(plain.sameReq).toBe(0);
    expect(plain.statuses).toEqual(served);
  });
});

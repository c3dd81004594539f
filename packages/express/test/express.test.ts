/**
 * Express-specific behaviour (the shared request matrix is in test/conformance): `passErrors`, Express's
 * own error path, route templates in audit events, option validation, and the same guard on Express 4.
 */
import { createServer } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import express4 from 'express4';
import { Registry } from 'prom-client';
import { isTokenError, type AuditEvent } from '@tokenguard/core';
import { tokenGuard, requireScopes, metricsHandler, type TokenGuardMiddleware } from '@tokenguard/express';
import { makeKey, jwks, signToken, type TestKey } from '../../../test/helpers/keys';
import { wrap, type TestServer } from '../../../test/helpers/http';

const ISSUER = 'https://idp.express.test/';
const AUDIENCE = 'orders-api';
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

async function serve(app: express.Express | ReturnType<typeof express4>): Promise<string> {
  const s = await wrap(createServer(app as Parameters<typeof createServer>[1]));
  servers.push(s);
  return s.url;
}

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

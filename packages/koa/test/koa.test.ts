/**
 * Koa-specific behaviour (the shared request matrix is in test/conformance): `passErrors` through Koa's
 * own error path (status, headers, expose), @koa/router route templates, `ctx.state.auth`, validation.
 */
import { createServer } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { Registry } from 'prom-client';
import { isTokenError, type AuditEvent } from '@tokenguard/core';
import { tokenGuard, requireScopes, metricsHandler, type TokenGuardMiddleware, type TokenGuardOptions } from '@tokenguard/koa';
import { makeKey, jwks, signToken, type TestKey } from '../../../test/helpers/keys';
import { wrap, type TestServer } from '../../../test/helpers/http';

const ISSUER = 'https://idp.koa.test/';
const AUDIENCE = 'orders-api';
let key: TestKey;
const servers: TestServer[] = [];
const guards: TokenGuardMiddleware[] = [];

beforeAll(async () => {
  key = await makeKey('EdDSA');
});

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const g of guards) await g.close();
});

function guard(extra: Partial<TokenGuardOptions> = {}): TokenGuardMiddleware {
  const g = tokenGuard({ issuer: ISSUER, audience: AUDIENCE, keys: jwks(key), metrics: { registry: new Registry() }, ...extra });
  guards.push(g);
  return g;
}

async function serve(app: Koa): Promise<string> {
  const s = await wrap(createServer(app.callback()));
  servers.push(s);
  return s.url;
}

const token = (scope = 'orders:read', extra: Record<string, unknown> = {}) =>
  signToken(key, { iss: ISSUER, aud: AUDIENCE, sub: 'svc-k', client_id: 'client-k', scope, ...extra });

describe('@tokenguard/koa', () => {
  it('sets ctx.state.auth and requireScopes works as @koa/router route middleware', async () => {
    const app = new Koa();
    const router = new Router();
    router.get('/orders/:id', requireScopes(['orders:read', 'orders:admin'], { mode: 'any' }), (ctx) => {
      ctx.body = { sub: ctx.state.auth?.subject, id: ctx.params.id };
    });
    app.use(guard());
    app.use(router.routes());
    const url = await serve(app);
    const res = await fetch(`${url}/orders/7`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: 'svc-k', id: '7' });
  });

  it('a custom getToken gets the request view with Koa\'s parsed query on GET as on POST', async () => {
    const app = new Koa();
    app.use(guard({ getToken: (req) => (req.query as Record<string, string> | undefined)?.tok }));
    app.use((ctx) => { ctx.body = { sub: ctx.state.auth?.subject ?? null }; });
    const url = await serve(app);
    const valid = await token();
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${url}/me?tok=${valid}`, { method });
      expect(await res.json()).toEqual({ sub: 'svc-k' });
    }
    const header = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${valid}` } });
    expect(header.status).toBe(401);
  });

  it('passErrors: true throws into Koa\'s error path, which honours status, headers and expose', async () => {
    const app = new Koa();
    app.silent = true;
    app.use(guard({ passErrors: true }));
    app.use((ctx) => { ctx.body = 'unreachable'; });
    const url = await serve(app);
    const res = await fetch(`${url}/`, { headers: { authorization: `Bearer ${await token('x', { exp: 1 })}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="api", error="invalid_token", error_description="The access token has expired"');
    expect(res.headers.get('cache-control')).toBe('no-store');
    // expose = true: Koa sends the (always safe) message instead of "Unauthorized".
    expect(await res.text()).toBe('The access token has expired');
  });

  it('passErrors lets an upstream error middleware shape the answer', async () => {
    const seen: string[] = [];
    const app = new Koa();
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        if (!isTokenError(err)) throw err;
        seen.push(err.code);
        ctx.status = err.status;
        ctx.set(err.headers);
        ctx.body = { problem: err.code };
      }
    });
    app.use(guard({ passErrors: true }));
    const router = new Router();
    router.get('/admin/:id', requireScopes('orders:admin'), (ctx) => { ctx.body = 'unreachable'; });
    app.use(router.routes());
    const url = await serve(app);
    const res = await fetch(`${url}/admin/1`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('scope="orders:admin"');
    expect(await res.json()).toEqual({ problem: 'insufficient_scope' });
    expect(seen).toEqual(['insufficient_scope']);
  });

  it('reports scope denials with the @koa/router template, never the raw URL', async () => {
    const events: AuditEvent[] = [];
    const app = new Koa();
    const router = new Router();
    router.get('/orders/:id', requireScopes('orders:write'), (ctx) => { ctx.body = 'unreachable'; });
    app.use(guard({ onEvent: (e) => { events.push(e); } }));
    app.use(router.routes());
    const url = await serve(app);
    const res = await fetch(`${url}/orders/98765`, { headers: { authorization: `Bearer ${await token()}` } });
    expect(res.status).toBe(403);
    expect((await res.json()).code).toBe('insufficient_scope');
    const denied = events.filter((e) => e.type === 'scope.denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.route).toBe('/orders/:id');
    expect(JSON.stringify(events)).not.toContain('98765');
  });

  it('metricsHandler serves the registry the guard counts on', async () => {
    const registry = new Registry();
    const app = new Koa();
    const router = new Router();
    router.get('/metrics', metricsHandler({ registry }));
    app.use(router.routes());
    app.use(guard({ metrics: { registry } }));
    const url = await serve(app);
    await (await fetch(`${url}/x`, { headers: { authorization: 'Bearer a.b' } })).text();
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^tokenguard_rejections_total\{reason="token_malformed"\} 1$/m);
  });

  it('validates options and scopes at construction', () => {
    expect(() => tokenGuard({ issuer: ISSUER, audience: '', keys: jwks(key) })).toThrow(/"audience"/);
    expect(() => requireScopes('')).toThrow(TypeError);
    expect(() => requireScopes(['ok', 'no"quote'])).toThrow(TypeError);
  });
});

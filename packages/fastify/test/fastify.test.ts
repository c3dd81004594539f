/**
 * Fastify-specific behaviour (the shared request matrix is in test/conformance): route `config` read in
 * `onRoute` and validated at registration, per-route optional auth, the verify hook choice, `passErrors`
 * through Fastify's error path, several guards, `metrics.path`, and shutdown.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { isTokenError, type AuditEvent } from '@tokenguard/core';
import tokenGuard, { tokenGuard as namedTokenGuard, requireScopes, type FastifyTokenGuardOptions } from '@tokenguard/fastify';
import { makeKey, jwks, signToken, type TestKey } from '../../../test/helpers/keys';

const ISSUER = 'https://idp.fastify.test/';
const AUDIENCE = 'orders-api';
let key: TestKey;
let other: TestKey;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  [key, other] = await Promise.all([makeKey('PS256'), makeKey('ES256')]);
});

afterAll(async () => {
  for (const app of apps) await app.close();
});

function options(extra: Partial<FastifyTokenGuardOptions> = {}): FastifyTokenGuardOptions {
  return { issuer: ISSUER, audience: AUDIENCE, keys: jwks(key), metrics: { registry: new Registry() }, ...extra };
}

async function build(extra: Partial<FastifyTokenGuardOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  apps.push(app);
  await app.register(tokenGuard, options(extra));
  return app;
}

interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  json(): any;
}

/**
 * Like `app.inject`, over a real socket: light-my-request (behind `inject`) needs the ESM-only `cookie`
 * package, which jest's CommonJS runtime cannot load. The app listens on 127.0.0.1:0 on first use.
 */
async function inject(app: FastifyInstance, req: { url: string; method?: string; headers?: Record<string, string>; payload?: string }): Promise<Answer> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  const res = await fetch(`http://127.0.0.1:${address.port}${req.url}`, {
    method: req.method ?? 'GET',
    headers: req.headers ?? {},
    ...(req.payload === undefined ? {} : { body: req.payload }),
  });
  const body = await res.text();
  return { statusCode: res.status, headers: Object.fromEntries(res.headers), body, json: () => JSON.parse(body) };
}

const token = (scope = 'orders:read', extra: Record<string, unknown> = {}, k: TestKey = key) =>
  signToken(k, { iss: ISSUER, aud: AUDIENCE, sub: 'svc-f', client_id: 'client-f', scope, ...extra });

describe('@tokenguard/fastify', () => {
  it('exports the plugin as default and as `tokenGuard`, with fastify-plugin metadata', () => {
    expect(namedTokenGuard).toBe(tokenGuard);
    const meta = (tokenGuard as unknown as Record<symbol, { name: string; fastify: string }>)[Symbol.for('plugin-meta')];
    expect(meta).toMatchObject({ name: '@tokenguard/fastify', fastify: '5.x' });
  });

  describe('route config is validated at registration, so a typo fails at start-up', () => {
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['a misspelt key "scope"', { scope: ['orders:read'] }, /GET \/x: unknown tokenguard setting "config\.scope"/],
      ['a misspelt key "authRequired"', { authRequired: false }, /config\.authRequired/],
      ['a non-string scope', { scopes: ['orders:read', 7] }, /config\.scopes of GET \/x/],
      ['a scope with a space', { scopes: 'orders:read orders:write' }, /config\.scopes of GET \/x/],
      ['an empty scope list', { scopes: [] }, /config\.scopes of GET \/x/],
      ['a bad scopeMode', { scopes: ['a'], scopeMode: 'some' }, /scopeMode/],
      ['scopeMode without scopes', { scopeMode: 'any' }, /needs "config\.scopes"/],
      ['scopes on an opted-out route', { auth: false, scopes: ['a'] }, /cannot be combined/],
      ['a bad auth value', { auth: 'maybe' }, /config\.auth/],
    ];
    it.each(bad)('%s', async (_name, config, message) => {
      const app = await build();
      await expect((async () => {
        app.get('/x', { config }, async () => 'unreachable');
        await app.ready();
      })()).rejects.toThrow(message);
    });

    it('other plugins\' config keys are left alone', async () => {
      const app = await build();
      app.get('/x', { config: { rateLimit: { max: 5 } } as Record<string, unknown> }, async () => 'ok');
      await expect(app.ready()).resolves.toBeDefined();
    });
  });

  it('a custom getToken gets the request view with Fastify\'s parsed query on GET as on POST', async () => {
    const app = await build({ getToken: (req) => (req.query as Record<string, string> | undefined)?.tok });
    app.get('/me', async (request) => ({ sub: request.auth?.subject ?? null }));
    app.post('/me', async (request) => ({ sub: request.auth?.subject ?? null }));
    const valid = await token();
    expect((await inject(app, { url: `/me?tok=${valid}` })).json()).toEqual({ sub: 'svc-f' });
    expect((await inject(app, { url: `/me?tok=${valid}`, method: 'POST' })).json()).toEqual({ sub: 'svc-f' });
    expect((await inject(app, { url: '/me', headers: { authorization: `Bearer ${valid}` } })).json().code).toBe('token_missing');
  });

  it('guards every route registered after it; config.auth false opts out; config.auth optional makes it optional', async () => {
    const app = await build();
    app.get('/me', async (request) => ({ sub: request.auth?.subject ?? null }));
    app.get('/open', { config: { auth: false } }, async (request) => ({ auth: request.auth }));
    app.get('/maybe', { config: { auth: 'optional' } }, async (request) => ({ sub: request.auth?.subject ?? null }));
    const valid = await token();
    expect((await inject(app, { url: '/me' })).statusCode).toBe(401);
    expect((await inject(app, { url: '/me', headers: { authorization: `Bearer ${valid}` } })).json()).toEqual({ sub: 'svc-f' });
    expect((await inject(app, { url: '/open', headers: { authorization: 'Bearer junk' } })).json()).toEqual({ auth: null });
    expect((await inject(app, { url: '/maybe' })).json()).toEqual({ sub: null });
    expect((await inject(app, { url: '/maybe', headers: { authorization: `Bearer ${valid}` } })).json()).toEqual({ sub: 'svc-f' });
    const bad = await inject(app, { url: '/maybe', headers: { authorization: `Bearer ${await token('x', { exp: 1 })}` } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().code).toBe('token_expired');
  });

  it('app.requireScopes and config.scopes report denials with the route template', async () => {
    const events: AuditEvent[] = [];
    const app = await build({ onEvent: (e) => { events.push(e); } });
    app.get('/a/:id', { preHandler: app.requireScopes('orders:write') }, async () => 'unreachable');
    app.get('/b/:id', { config: { scopes: ['orders:write', 'orders:admin'], scopeMode: 'any' } }, async () => 'unreachable');
    app.get('/c/:id', { preHandler: requireScopes('orders:read') }, async (request) => ({ sub: request.auth?.subject }));
    const auth = { authorization: `Bearer ${await token()}` };
    const a = await inject(app, { url: '/a/1234567', headers: auth });
    const b = await inject(app, { url: '/b/7654321', headers: auth });
    const c = await inject(app, { url: '/c/1', headers: auth });
    expect([a.statusCode, b.statusCode, c.statusCode]).toEqual([403, 403, 200]);
    expect(b.headers['www-authenticate']).toContain('scope="orders:write orders:admin"');
    expect(events.filter((e) => e.type === 'scope.denied').map((e) => e.route)).toEqual(['/a/:id', '/b/:id']);
    expect(JSON.stringify(events)).not.toMatch(/1234567|7654321/);
  });

  it('hook: "onRequest" verifies before the body is parsed; an unknown hook is refused', async () => {
    const app = await build({ hook: 'onRequest' });
    let parsed = 0;
    app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => { parsed++; done(null, body); });
    app.post('/me', async (request) => ({ sub: request.auth?.subject }));
    const rejected = await inject(app, { method: 'POST', url: '/me', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    expect(rejected.statusCode).toBe(401);
    expect(parsed).toBe(0);
    const ok = await inject(app, { method: 'POST', url: '/me', headers: { 'content-type': 'text/plain', authorization: `Bearer ${await token()}` }, payload: 'x' });
    expect(ok.json()).toEqual({ sub: 'svc-f' });
    expect(parsed).toBe(1);

    const wrong = Fastify({ logger: false });
    apps.push(wrong);
    await expect(wrong.register(tokenGuard, options({ hook: 'onSend' as 'onRequest' }))).rejects.toThrow(/"hook"/);
  });

  it('passErrors: true hands the TokenError to Fastify\'s error handler', async () => {
    const seen: string[] = [];
    const app = await build({ passErrors: true });
    app.setErrorHandler((err, _request, reply) => {
      seen.push(isTokenError(err) ? err.code : 'other');
      return reply.code(isTokenError(err) ? err.status : 500).headers(isTokenError(err) ? err.headers : {}).send({ custom: true });
    });
    app.get('/me', async () => 'unreachable');
    const res = await inject(app, { url: '/me', headers: { authorization: 'Basic eDp5' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(res.json()).toEqual({ custom: true });
    expect(seen).toEqual(['token_missing']);
  });

  it('several guards: the innermost guard registered decides for its routes; one registry serves them all', async () => {
    const registry = new Registry();
    const app = Fastify({ logger: false });
    apps.push(app);
    await app.register(tokenGuard, options({ metrics: { registry, path: '/metrics' } }));
    await app.register(async (scope) => {
      await scope.register(tokenGuard, options({ keys: jwks(other), metrics: { registry } }));
      scope.get('/other', async (request) => ({ sub: request.auth?.subject }));
    }, { prefix: '/b' });
    app.get('/main', async (request) => ({ sub: request.auth?.subject }));
    const main = await token();
    const second = await token('orders:read', {}, other);
    expect((await inject(app, { url: '/main', headers: { authorization: `Bearer ${main}` } })).statusCode).toBe(200);
    expect((await inject(app, { url: '/main', headers: { authorization: `Bearer ${second}` } })).json().code).toBe('key_not_found');
    expect((await inject(app, { url: '/b/other', headers: { authorization: `Bearer ${second}` } })).statusCode).toBe(200);
    expect((await inject(app, { url: '/b/other', headers: { authorization: `Bearer ${main}` } })).json().code).toBe('key_not_found');
    const metrics = await inject(app, { url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    // Both guards count into the one registry: 2 accepted, 2 rejected for the one issuer.
    expect(metrics.body).toMatch(/^tokenguard_validations_total\{issuer="https:\/\/idp\.fastify\.test\/",outcome="accepted"\} 2$/m);
    expect(metrics.body).toMatch(/^tokenguard_rejections_total\{reason="key_not_found"\} 2$/m);
  });

  it('guards the HEAD routes Fastify adds for GET, verifying each request exactly once', async () => {
    const registry = new Registry();
    const app = await build({ metrics: { registry, path: '/metrics' } });
    app.get('/me', async (request) => ({ sub: request.auth?.subject }));
    expect((await inject(app, { url: '/me', method: 'HEAD' })).statusCode).toBe(401);
    expect((await inject(app, { url: '/me', method: 'HEAD', headers: { authorization: `Bearer ${await token()}` } })).statusCode).toBe(200);
    const metrics = (await inject(app, { url: '/metrics' })).body;
    expect(metrics).toMatch(/^tokenguard_validations_total\{issuer="https:\/\/idp\.fastify\.test\/",outcome="accepted"\} 1$/m);
    expect(metrics).toMatch(/^tokenguard_rejections_total\{reason="token_missing"\} 1$/m);
  });

  it('refuses a bad metrics.path at registration', async () => {
    const app = Fastify({ logger: false });
    apps.push(app);
    await expect(app.register(tokenGuard, options({ metrics: { path: 'metrics' } }))).rejects.toThrow(/"metrics\.path"/);
  });
});

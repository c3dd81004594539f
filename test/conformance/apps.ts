/**
 * The same small API built three times, on real Express, Koa and Fastify servers listening on
 * 127.0.0.1:0, each guarded by its tokenguard adapter with the same options. Routes:
 *
 * | route | guard |
 * |---|---|
 * | GET /health | none (opted out) |
 * | GET /metrics | none; serves the shared registry |
 * | GET /optional | optional auth (`credentialsRequired: false`) |
 * | GET /q/me | a second guard with `allowQueryToken: true` |
 * | GET, POST /me | the main guard (POST reads form bodies) |
 * | GET /orders | main guard + `orders:read` |
 * | GET /both | main guard + `orders:read` and `orders:write` |
 * | GET /any | main guard + `orders:write` or `orders:admin` |
 */
import { parse as parseQuery } from 'node:querystring';
import { createServer } from 'node:http';
import express from 'express';
import Koa from 'koa';
import Router from '@koa/router';
import Fastify, { type FastifyInstance } from 'fastify';
import * as ex from '@tokenguard/express';
import * as kx from '@tokenguard/koa';
import fastifyGuard from '@tokenguard/fastify';
import type { AuthInfo, VerifierOptions } from '@tokenguard/core';
import type { Registry } from 'prom-client';
import { wrap, type TestServer } from '../helpers/http';

/** What every route that saw a token answers: identical JSON in all three frameworks. */
export function describeAuth(auth: AuthInfo | null | undefined): Record<string, unknown> {
  if (!auth) return { authenticated: false };
  return { authenticated: true, sub: auth.subject ?? null, clientId: auth.clientId ?? null, scopes: [...auth.scopes].sort() };
}

export interface AppUnderTest {
  name: 'express' | 'express (createServer)' | 'koa' | 'fastify';
  url: string;
  close(): Promise<void>;
}

/** The Express app; `onCreateServer` serves it on @tokenguard/express's `createServer(app)` instead of node's plain server. */
export async function startExpress(base: VerifierOptions, registry: Registry, onCreateServer = false): Promise<AppUnderTest> {
  const app = express();
  const guards = [tokenGuardE({ ...base, credentialsRequired: false }), tokenGuardE({ ...base, allowQueryToken: true }), tokenGuardE(base)];
  const [optional, query, main] = guards as [ex.TokenGuardMiddleware, ex.TokenGuardMiddleware, ex.TokenGuardMiddleware];
  app.get('/health', (_req, res) => { res.json({ status: 'ok' }); });
  app.get('/metrics', ex.metricsHandler({ registry }));
  app.get('/optional', optional, (req, res) => { res.json(describeAuth(req.auth)); });
  app.get('/q/me', query, (req, res) => { res.json(describeAuth(req.auth)); });
  app.use(express.urlencoded({ extended: false }));
  app.use(main);
  app.get('/me', (req, res) => { res.json(describeAuth(req.auth)); });
  app.post('/me', (req, res) => { res.json(describeAuth(req.auth)); });
  app.get('/orders', ex.requireScopes('orders:read'), (req, res) => { res.json(describeAuth(req.auth)); });
  app.get('/both', ex.requireScopes(['orders:read', 'orders:write']), (req, res) => { res.json(describeAuth(req.auth)); });
  app.get('/any', ex.requireScopes(['orders:write', 'orders:admin'], { mode: 'any' }), (req, res) => { res.json(describeAuth(req.auth)); });
  const server = await wrap(onCreateServer ? ex.createServer(app) : createServer(app));
  return named(onCreateServer ? 'express (createServer)' : 'express', server, guards);
}

function tokenGuardE(options: VerifierOptions): ex.TokenGuardMiddleware {
  return ex.tokenGuard(options);
}

export async function startKoa(base: VerifierOptions, registry: Registry): Promise<AppUnderTest> {
  const app = new Koa();
  const guards = [kx.tokenGuard({ ...base, credentialsRequired: false }), kx.tokenGuard({ ...base, allowQueryToken: true }), kx.tokenGuard(base)];
  const [optional, query, main] = guards as [kx.TokenGuardMiddleware, kx.TokenGuardMiddleware, kx.TokenGuardMiddleware];
  const open = new Router();
  open.get('/health', (ctx) => { ctx.body = { status: 'ok' }; });
  open.get('/metrics', kx.metricsHandler({ registry }));
  open.get('/optional', optional, (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  open.get('/q/me', query, (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  const api = new Router();
  api.get('/me', (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  api.post('/me', (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  api.get('/orders', kx.requireScopes('orders:read'), (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  api.get('/both', kx.requireScopes(['orders:read', 'orders:write']), (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  api.get('/any', kx.requireScopes(['orders:write', 'orders:admin'], { mode: 'any' }), (ctx) => { ctx.body = describeAuth(ctx.state.auth); });
  app.use(open.routes());
  app.use(formBody);
  app.use(main);
  app.use(api.routes());
  const server = await wrap(createServer(app.callback()));
  return named('koa', server, guards);
}

/** A minimal urlencoded body parser for the Koa app (Koa has none built in), bounded to 64 KiB. */
async function formBody(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  if (ctx.is('application/x-www-form-urlencoded')) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 65536) ctx.throw(413);
      chunks.push(chunk);
    }
    (ctx.request as { body?: unknown }).body = parseQuery(Buffer.concat(chunks).toString('utf8'));
  }
  await next();
}

export async function startFastify(base: VerifierOptions, registry: Registry): Promise<AppUnderTest> {
  const app: FastifyInstance = Fastify({ logger: false });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 65536 }, (_req, body, done) => {
    done(null, parseQuery(body as string));
  });
  await app.register(fastifyGuard, { ...base, metrics: { registry, path: '/metrics' } });
  app.get('/health', { config: { auth: false } }, async () => ({ status: 'ok' }));
  // Two more guards, each in its own encapsulated context: the innermost guard decides for its routes.
  await app.register(async (scope) => {
    await scope.register(fastifyGuard, { ...base, metrics: { registry }, credentialsRequired: false });
    scope.get('/optional', async (request) => describeAuth(request.auth));
  });
  await app.register(async (scope) => {
    await scope.register(fastifyGuard, { ...base, metrics: { registry }, allowQueryToken: true });
    scope.get('/q/me', async (request) => describeAuth(request.auth));
  });
  app.get('/me', async (request) => describeAuth(request.auth));
  app.post('/me', async (request) => describeAuth(request.auth));
  app.get('/orders', { preHandler: app.requireScopes('orders:read') }, async (request) => describeAuth(request.auth));
  app.get('/both', { config: { scopes: ['orders:read', 'orders:write'] } }, async (request) => describeAuth(request.auth));
  app.get('/any', { config: { scopes: ['orders:write', 'orders:admin'], scopeMode: 'any' } }, async (request) => describeAuth(request.auth));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fastify did not listen on TCP');
  return { name: 'fastify', url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

function named(name: AppUnderTest['name'], server: TestServer, guards: Array<{ close(): Promise<void> }>): AppUnderTest {
  return {
    name,
    url: server.url,
    close: async () => {
      await server.close();
      await Promise.all(guards.map((g) => g.close()));
    },
  };
}

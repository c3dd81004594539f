/**
 * The orders API, written three times: Express, Koa and Fastify, each guarded by its tokenguard adapter, each
 * on its own port with its own prom-client registry served on `/metrics` (so every framework's numbers are its
 * own). Routes: `GET /orders` needs `orders:read`, `POST /orders` needs `orders:write`, `GET /health` is open.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import express from 'express';
import Koa from 'koa';
import Router from '@koa/router';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import * as tgExpress from '@tokenguard/express';
import * as tgKoa from '@tokenguard/koa';
import fastifyGuard from '@tokenguard/fastify';

/** The audience every API accepts and every demo client asks for. */
export const AUDIENCE = 'orders-api';

/** The frameworks, in display order. */
export const FRAMEWORKS = /** @type {const} */ (['express', 'koa', 'fastify']);

/**
 * @typedef {object} GuardSettings
 * @property {string} issuer the token service's issuer URL
 * @property {{ cacheMaxAge: string, cooldown: string, timeout: string }} jwks key-set refresh settings
 */

/**
 * @typedef {object} RunningApi
 * @property {'express' | 'koa' | 'fastify'} framework
 * @property {string} url base URL, e.g. `http://127.0.0.1:41234`
 * @property {string} metricsUrl
 * @property {Registry} registry
 * @property {() => Promise<void>} close
 */

/** A tiny in-memory order book per API; the demo is about the guard, not the orders. */
function orderBook() {
  const orders = [];
  return {
    list: () => ({ orders: orders.slice(-5), total: orders.length }),
    add(clientId) {
      // Bounded: the demo may run for hours.
      if (orders.length >= 1000) orders.shift();
      const order = { id: orders.length + 1, item: 'demo widget', createdBy: clientId ?? 'unknown' };
      orders.push(order);
      return order;
    },
  };
}

/** Options shared by the three guards; `onEvent` and the registry differ per API. */
function guardOptions(settings, registry, onEvent) {
  return { issuer: settings.issuer, audience: AUDIENCE, jwks: settings.jwks, metrics: { registry }, onEvent };
}

/** Listens a node:http server on 127.0.0.1 and returns its base URL. */
async function listen(server, port) {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${server.address().port}`;
}

/** Closes a node:http server, ending idle keep-alive sockets so close() does not wait for them. */
function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // In-flight requests get a moment to finish, then their sockets are cut.
    setTimeout(() => server.closeAllConnections(), 500).unref();
  });
}

/**
 * Starts the Express orders API.
 * @param {GuardSettings} settings
 * @param {number} port
 * @param {(event: object) => void} onEvent
 * @returns {Promise<RunningApi>}
 */
export async function startExpress(settings, port, onEvent) {
  const registry = new Registry();
  const book = orderBook();
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', tgExpress.metricsHandler({ registry }));
  app.get('/health', (_req, res) => { res.json({ ok: true }); });
  const guard = tgExpress.tokenGuard(guardOptions(settings, registry, onEvent));
  app.use(guard);
  app.get('/orders', tgExpress.requireScopes('orders:read'), (_req, res) => { res.json(book.list()); });
  app.post('/orders', tgExpress.requireScopes('orders:write'), (req, res) => { res.status(201).json(book.add(req.auth?.clientId)); });
  // node's server with every request built on Express's prototypes (see @tokenguard/express's createServer).
  const server = tgExpress.createServer(app);
  const url = await listen(server, port);
  return { framework: 'express', url, metricsUrl: `${url}/metrics`, registry, close: () => closeServer(server).then(() => guard.close()) };
}

/**
 * Starts the Koa orders API (with @koa/router).
 * @param {GuardSettings} settings
 * @param {number} port
 * @param {(event: object) => void} onEvent
 * @returns {Promise<RunningApi>}
 */
export async function startKoa(settings, port, onEvent) {
  const registry = new Registry();
  const book = orderBook();
  const app = new Koa();
  const open = new Router();
  open.get('/metrics', tgKoa.metricsHandler({ registry }));
  open.get('/health', (ctx) => { ctx.body = { ok: true }; });
  const orders = new Router();
  orders.get('/orders', tgKoa.requireScopes('orders:read'), (ctx) => { ctx.body = book.list(); });
  orders.post('/orders', tgKoa.requireScopes('orders:write'), (ctx) => {
    ctx.status = 201;
    ctx.body = book.add(ctx.state.auth?.clientId);
  });
  // Open routes answer before the guard runs; everything else needs a token.
  app.use(open.routes());
  const guard = tgKoa.tokenGuard(guardOptions(settings, registry, onEvent));
  app.use(guard);
  app.use(orders.routes());
  app.use(orders.allowedMethods());
  const server = createServer(app.callback());
  const url = await listen(server, port);
  return { framework: 'koa', url, metricsUrl: `${url}/metrics`, registry, close: () => closeServer(server).then(() => guard.close()) };
}

/**
 * Starts the Fastify orders API (the plugin serves `/metrics` itself).
 * @param {GuardSettings} settings
 * @param {number} port
 * @param {(event: object) => void} onEvent
 * @returns {Promise<RunningApi>}
 */
export async function startFastify(settings, port, onEvent) {
  const registry = new Registry();
  const book = orderBook();
  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(fastifyGuard, { ...guardOptions(settings, registry, onEvent), metrics: { registry, path: '/metrics' } });
  app.get('/health', { config: { auth: false } }, async () => ({ ok: true }));
  app.get('/orders', { config: { scopes: ['orders:read'] } }, async () => book.list());
  app.post('/orders', { preHandler: app.requireScopes('orders:write') }, async (request, reply) => {
    reply.code(201);
    return book.add(request.auth?.clientId);
  });
  const url = await app.listen({ host: '127.0.0.1', port });
  // The plugin closes its verifier in Fastify's onClose.
  return { framework: 'fastify', url, metricsUrl: `${url}/metrics`, registry, close: () => app.close() };
}

/**
 * Starts the three APIs. If one fails to start, the ones already up are closed before the error is rethrown.
 * @param {GuardSettings} settings
 * @param {{ express: number, koa: number, fastify: number }} ports
 * @param {(framework: string, event: object) => void} onEvent
 * @returns {Promise<RunningApi[]>}
 */
export async function startApis(settings, ports, onEvent) {
  const starters = { express: startExpress, koa: startKoa, fastify: startFastify };
  /** @type {RunningApi[]} */
  const apis = [];
  try {
    for (const framework of FRAMEWORKS) {
      apis.push(await starters[framework](settings, ports[framework], (event) => onEvent(framework, event)));
    }
  } catch (err) {
    await Promise.allSettled(apis.map((api) => api.close()));
    throw err;
  }
  return apis;
}

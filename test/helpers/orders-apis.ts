/**
 * The examples' orders API in all three frameworks, each guarded by its tokenguard adapter, on 127.0.0.1:0:
 * `GET /orders` needs `orders:read`, `POST /orders` needs `orders:write`; both answer `{ client }`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import type { VerifierOptions } from '@tokenguard/core';
import * as ex from '@tokenguard/express';
import fastifyGuard from '@tokenguard/fastify';
import * as kx from '@tokenguard/koa';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { wrap } from './http';

/** One running API. */
export interface OrdersApi {
  name: 'express' | 'koa' | 'fastify';
  url: string;
}

/** Starts the three APIs with the same verifier options; `close()` stops servers and guards. */
export async function startOrdersApis(options: VerifierOptions): Promise<{ apis: OrdersApi[]; close(): Promise<void> }> {
  const closers: Array<() => Promise<void>> = [];
  const apis: OrdersApi[] = [];

  const e = express();
  const eGuard = ex.tokenGuard(options);
  e.use(eGuard);
  e.get('/orders', ex.requireScopes('orders:read'), (req, res) => void res.json({ client: req.auth?.clientId }));
  e.post('/orders', ex.requireScopes('orders:write'), (req, res) => void res.status(201).json({ client: req.auth?.clientId }));
  const eServer = await wrap(createServer(e));
  closers.push(() => eServer.close(), () => eGuard.close());
  apis.push({ name: 'express', url: eServer.url });

  const k = new Koa();
  const kGuard = kx.tokenGuard(options);
  const router = new Router();
  router.get('/orders', kx.requireScopes('orders:read'), (ctx) => void (ctx.body = { client: ctx.state.auth?.clientId }));
  router.post('/orders', kx.requireScopes('orders:write'), (ctx) => void ((ctx.status = 201), (ctx.body = { client: ctx.state.auth?.clientId })));
  k.use(kGuard).use(router.routes());
  const kServer = await wrap(createServer(k.callback()));
  closers.push(() => kServer.close(), () => kGuard.close());
  apis.push({ name: 'koa', url: kServer.url });

  const f = Fastify({ logger: false });
  await f.register(fastifyGuard, options);
  f.get('/orders', { preHandler: f.requireScopes('orders:read') }, async (request) => ({ client: request.auth?.clientId }));
  f.post('/orders', { config: { scopes: ['orders:write'] } }, async (request, reply) => reply.code(201).send({ client: request.auth?.clientId }));
  await f.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => f.close());
  apis.push({ name: 'fastify', url: `http://127.0.0.1:${(f.server.address() as AddressInfo).port}` });

  return {
    apis,
    close: async () => {
      for (const close of closers) await close();
    },
  };
}

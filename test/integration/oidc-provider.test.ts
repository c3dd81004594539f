/**
 * An independent peer: oidc-provider (panva, OpenID certified) issues client-credentials JWT access tokens
 * (resource indicators, `accessTokenFormat: 'jwt'`). Express, Koa and Fastify, each guarded by its
 * tokenguard adapter configured with nothing but the issuer URL and the audience, find the keys through
 * OpenID discovery, accept the tokens and enforce their scopes. Everything listens on 127.0.0.1:0.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import Router from '@koa/router';
import Fastify from 'fastify';
import { exportJWK, generateKeyPair } from 'jose';
import { Registry } from 'prom-client';
import * as ex from '@tokenguard/express';
import * as kx from '@tokenguard/koa';
import fastifyGuard from '@tokenguard/fastify';
import type { AuditEvent, VerifierOptions } from '@tokenguard/core';
import { wrap, type TestServer } from '../helpers/http';

const AUDIENCE = 'orders-api';
const RESOURCE = 'https://orders.example.test/';
const CLIENT = { id: 'orders-client', secret: 'oidc-provider-client-secret-for-tests-only-0123456789' };

interface Target { name: string; url: string }

let issuer: string;
let provider: TestServer;
const targets: Target[] = [];
const closers: Array<() => Promise<void>> = [];
const events: AuditEvent[] = [];

async function startProvider(): Promise<TestServer> {
  // oidc-provider warns at import (Node 20) and at construction (in-memory adapter, fine for a test).
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  const { default: Provider } = await import('oidc-provider');
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = await wrap(createServer((req, res) => handler(req, res)));
  issuer = server.url;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signing = { ...(await exportJWK(privateKey)), kid: 'oidc-rs256', alg: 'RS256', use: 'sig' };
  const oidc = new Provider(issuer, {
    clients: [{
      client_id: CLIENT.id,
      client_secret: CLIENT.secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'orders:read orders:write',
    }],
    scopes: ['orders:read', 'orders:write'],
    ttl: { ClientCredentials: 300 },
    jwks: { keys: [signing] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== RESOURCE) throw new Error('unknown resource');
          return { scope: 'orders:read orders:write', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
  });
  warn.mockRestore();
  handler = oidc.callback();
  return server;
}

async function tokenFor(scope: string): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: RESOURCE }).toString(),
  });
  const body = (await res.json()) as { access_token?: string; token_type?: string; error?: string };
  if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`token request failed: ${res.status} ${body.error ?? ''}`);
  expect(body.token_type).toBe('Bearer');
  return body.access_token;
}

/** The orders API of the examples, in all three frameworks: GET needs orders:read, POST orders:write. */
async function startTargets(options: VerifierOptions): Promise<void> {
  const e = express();
  const eGuard = ex.tokenGuard(options);
  e.use(eGuard);
  e.get('/orders', ex.requireScopes('orders:read'), (req, res) => { res.json({ client: req.auth?.clientId }); });
  e.post('/orders', ex.requireScopes('orders:write'), (req, res) => { res.status(201).json({ client: req.auth?.clientId }); });
  const eServer = await wrap(createServer(e));
  closers.push(() => eServer.close(), () => eGuard.close());
  targets.push({ name: 'express', url: eServer.url });

  const k = new Koa();
  const kGuard = kx.tokenGuard(options);
  const router = new Router();
  router.get('/orders', kx.requireScopes('orders:read'), (ctx) => { ctx.body = { client: ctx.state.auth?.clientId }; });
  router.post('/orders', kx.requireScopes('orders:write'), (ctx) => { ctx.status = 201; ctx.body = { client: ctx.state.auth?.clientId }; });
  k.use(kGuard);
  k.use(router.routes());
  const kServer = await wrap(createServer(k.callback()));
  closers.push(() => kServer.close(), () => kGuard.close());
  targets.push({ name: 'koa', url: kServer.url });

  const f = Fastify({ logger: false });
  await f.register(fastifyGuard, options);
  f.get('/orders', { preHandler: f.requireScopes('orders:read') }, async (request) => ({ client: request.auth?.clientId }));
  f.post('/orders', { config: { scopes: ['orders:write'] } }, async (request, reply) => reply.code(201).send({ client: request.auth?.clientId }));
  await f.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => f.close());
  targets.push({ name: 'fastify', url: `http://127.0.0.1:${(f.server.address() as AddressInfo).port}` });
}

beforeAll(async () => {
  provider = await startProvider();
  // Issuer and audience only: the key set is found through /.well-known/openid-configuration.
  await startTargets({
    issuer,
    audience: AUDIENCE,
    strict: true,
    metrics: { registry: new Registry() },
    onEvent: (e) => { events.push(e); },
  });
});

afterAll(async () => {
  for (const close of closers) await close();
  await provider?.close();
});

describe('oidc-provider issues, every adapter verifies through discovery', () => {
  it('oidc-provider issues an RFC 9068 JWT access token for the resource', async () => {
    const token = await tokenFor('orders:read');
    const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'RS256', kid: 'oidc-rs256' });
    expect(payload).toMatchObject({ iss: issuer, aud: AUDIENCE, client_id: CLIENT.id, scope: 'orders:read' });
  });

  it.each(['express', 'koa', 'fastify'])('%s: accepts a read token for GET and refuses it for POST with insufficient_scope', async (name) => {
    const target = targets.find((t) => t.name === name)!;
    const token = await tokenFor('orders:read');
    const read = await fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ client: CLIENT.id });
    const write = await fetch(`${target.url}/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(write.status).toBe(403);
    expect(write.headers.get('www-authenticate')).toBe('Bearer realm="api", error="insufficient_scope", error_description="Insufficient scope", scope="orders:write"');
    expect((await write.json()).code).toBe('insufficient_scope');
  });

  it.each(['express', 'koa', 'fastify'])('%s: accepts a read+write token for POST', async (name) => {
    const target = targets.find((t) => t.name === name)!;
    const token = await tokenFor('orders:read orders:write');
    const write = await fetch(`${target.url}/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(write.status).toBe(201);
    expect(await write.json()).toEqual({ client: CLIENT.id });
  });

  it.each(['express', 'koa', 'fastify'])('%s: rejects a tampered oidc-provider token', async (name) => {
    const target = targets.find((t) => t.name === name)!;
    const [h, p, s] = (await tokenFor('orders:read')).split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8'));
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'orders:read orders:write' })).toString('base64url')}.${s}`;
    const res = await fetch(`${target.url}/orders`, { method: 'POST', headers: { authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe('signature_invalid');
  });

  it('each guard discovered the key set itself (jwks.refreshed for the provider issuer)', () => {
    const refreshed = events.filter((e) => e.type === 'jwks.refreshed' && e.issuer === issuer);
    expect(refreshed.length).toBeGreaterThanOrEqual(3);
  });
});

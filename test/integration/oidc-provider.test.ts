/**
 * An independent peer: oidc-provider (panva, OpenID certified) issues client-credentials JWT access tokens
 * (resource indicators, `accessTokenFormat: 'jwt'`). Express, Koa and Fastify, each guarded by its
 * tokenguard adapter configured with nothing but the issuer URL and the audience, find the keys through
 * OpenID discovery, accept the tokens and enforce their scopes. Everything listens on 127.0.0.1:0.
 */
import { Registry } from 'prom-client';
import type { AuditEvent } from '@tokenguard/core';
import type { TestServer } from '../helpers/http';
import { startOidcPeer } from '../helpers/oidc-peer';
import { startOrdersApis, type OrdersApi } from '../helpers/orders-apis';

const AUDIENCE = 'orders-api';
const RESOURCE = 'https://orders.example.test/';
const CLIENT = { id: 'orders-client', secret: 'oidc-provider-client-secret-for-tests-only-0123456789' };

let issuer: string;
let provider: TestServer | undefined;
let targets: OrdersApi[] = [];
let closeTargets: (() => Promise<void>) | undefined;
const events: AuditEvent[] = [];

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

beforeAll(async () => {
  provider = await startOidcPeer({
    clients: [{ client_id: CLIENT.id, client_secret: CLIENT.secret }],
    scopes: ['orders:read', 'orders:write'],
    resource: RESOURCE,
    audience: AUDIENCE,
  });
  issuer = provider.url;
  // Issuer and audience only: the key set is found through /.well-known/openid-configuration.
  const started = await startOrdersApis({
    issuer,
    audience: AUDIENCE,
    strict: true,
    metrics: { registry: new Registry() },
    onEvent: (e) => { events.push(e); },
  });
  targets = started.apis;
  closeTargets = started.close;
});

afterAll(async () => {
  await closeTargets?.();
  await provider?.close();
});

describe('oidc-provider issues, every adapter verifies through discovery', () => {
  it('oidc-provider issues an RFC 9068 JWT access token for the resource', async () => {
    const token = await tokenFor('orders:read');
    const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'RS256', kid: 'peer-rs256' });
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

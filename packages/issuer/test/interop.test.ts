/**
 * (1) An independent client (openid-client v6, panva) discovers the issuer through RFC 8414 metadata and obtains
 * tokens with the client-credentials grant; @tokenguard/core and plain jose verify them.
 */
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createTokenVerifier, type TokenVerifier } from '@tokenguard/core';
import { createIssuerServer, type IssuerEvent, type IssuerServer, type SigningAlgorithm } from '@tokenguard/issuer';
import { parseProm, promtoolCheck, sample } from '../../../test/helpers/prom';
import { claimsOf, headerOf, makeClient, requestToken, type TestClient } from './support';

describe('interop: openid-client obtains tokens, core and jose verify them', () => {
  let server: IssuerServer;
  let orders: TestClient;
  let multi: TestClient;
  let verifier: TokenVerifier;
  const events: IssuerEvent[] = [];

  beforeAll(async () => {
    orders = await makeClient('orders-client', ['orders:read', 'orders:write'], ['orders-api']);
    multi = await makeClient('multi-client', ['a'], ['https://billing.example/api', 'reports-api']);
    server = await createIssuerServer({
      listen: { host: '127.0.0.1', port: 0 },
      clients: [orders.config, multi.config],
      onEvent: (e) => events.push(e),
    });
    verifier = createTokenVerifier({ issuer: server.issuer, audience: 'orders-api', strict: true, metrics: false });
  });
  afterAll(async () => {
    await verifier.close();
    await server.close();
  });

  test('issuer defaults to the server URL, byte for byte in metadata and iss', async () => {
    expect(server.issuer).toBe(server.url);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server.url}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    const meta = (await res.json()) as Record<string, unknown>;
    expect(meta.issuer).toBe(server.url);
    expect(meta.token_endpoint).toBe(`${server.url}/oauth/token`);
    expect(meta.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`);
    expect(meta.grant_types_supported).toEqual(['client_credentials']);
    const token = await requestToken(server.url, orders);
    expect(claimsOf(token.body.access_token as string).iss).toBe(meta.issuer);
  });

  test('openid-client (client_secret_post) discovers via RFC 8414 and gets a token that core (strict) and jose verify', async () => {
    const config = await client.discovery(new URL(server.issuer), orders.id, orders.secret, undefined, {
      execute: [client.allowInsecureRequests], algorithm: 'oauth2',
    });
    expect(config.serverMetadata().issuer).toBe(server.issuer);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(600);
    const token = tokens.access_token;

    const auth = await verifier.verify(token);
    expect(auth.clientId).toBe('orders-client');
    expect(auth.subject).toBe('orders-client');
    expect([...auth.scopes]).toEqual(['orders:read']);
    expect(auth.issuer).toBe(server.issuer);

    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: server.issuer, audience: 'orders-api', typ: 'at+jwt', algorithms: ['ES256'] });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.kid).toBe(server.keys()[0]!.kid);
    for (const claim of ['iss', 'sub', 'aud', 'client_id', 'scope', 'iat', 'exp', 'jti']) expect(payload).toHaveProperty(claim);
    expect(payload.exp! - payload.iat!).toBe(600);
  });

  test('openid-client with client_secret_basic and an RFC 8707 resource', async () => {
    const config = await client.discovery(new URL(server.issuer), multi.id, undefined, client.ClientSecretBasic(multi.secret), {
      execute: [client.allowInsecureRequests], algorithm: 'oauth2',
    });
    const tokens = await client.clientCredentialsGrant(config, { resource: 'https://billing.example/api' });
    const billing = createTokenVerifier({ issuer: server.issuer, audience: 'https://billing.example/api', strict: true, metrics: false });
    try {
      const auth = await billing.verify(tokens.access_token);
      expect(auth.claims.aud).toBe('https://billing.example/api');
      expect(auth.clientId).toBe('multi-client');
    } finally {
      await billing.close();
    }
    // The orders verifier refuses a token for another audience.
    await expect(verifier.verify(tokens.access_token)).rejects.toMatchObject({ code: 'audience_invalid' });
  });

  test('metrics and audit events count what happened, never holding a token or secret', async () => {
    const before = parseProm(await (await fetch(`${server.url}/metrics`)).text());
    const issuedBefore = sample(before, 'tokenguard_issuer_tokens_total', { client_id: 'orders-client', outcome: 'issued' }) ?? 0;
    const ok = await requestToken(server.url, orders, [['scope', 'orders:write']]);
    expect(ok.status).toBe(200);
    const bad = await requestToken(server.url, orders, [['scope', 'orders:admin']]);
    expect(bad.status).toBe(400);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const after = parseProm(await res.text());
    expect(sample(after, 'tokenguard_issuer_tokens_total', { client_id: 'orders-client', outcome: 'issued' })).toBe(issuedBefore + 1);
    expect(sample(after, 'tokenguard_issuer_tokens_total', { client_id: 'orders-client', outcome: 'invalid_scope' })).toBe(1);
    expect(sample(after, 'tokenguard_issuer_keys', { state: 'active' })).toBe(1);
    expect(sample(after, 'tokenguard_issuer_keys', { state: 'next' })).toBe(0);
    const next = sample(after, 'tokenguard_issuer_next_rotation_seconds')!;
    expect(next).toBeGreaterThan(86_000);
    expect(next).toBeLessThanOrEqual(86_400);
    const issued = events.filter((e) => e.type === 'token.issued');
    expect(issued.length).toBeGreaterThanOrEqual(3);
    const text = JSON.stringify(events);
    expect(text).not.toContain(ok.body.access_token as string);
    expect(text).not.toContain(orders.secret);
    expect(issued.at(-1)!.fingerprint).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(events.some((e) => e.type === 'token.refused' && e.error === 'invalid_scope' && e.clientId === 'orders-client')).toBe(true);
  });

  test('the /metrics exposition passes promtool check metrics', async () => {
    const { code, output } = await promtoolCheck(await (await fetch(`${server.url}/metrics`)).text());
    expect({ code, output }).toEqual({ code: 0, output: '' });
  });

  test('a configured issuer is used byte for byte in metadata and tokens', async () => {
    const issuer = 'https://auth.example.test';
    const other = await createIssuerServer({ issuer, listen: { port: 0 }, clients: [orders.config] });
    try {
      const meta = (await (await fetch(`${other.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(issuer);
      expect(meta.token_endpoint).toBe(`${issuer}/oauth/token`);
      expect(claimsOf((await requestToken(other.url, orders)).body.access_token as string).iss).toBe(issuer);
    } finally {
      await other.close();
    }
  });

  test('JWKS has cache headers shorter than prePublish and no private members; healthz is ok', async () => {
    const res = await fetch(`${server.url}/.well-known/jwks.json`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    const set = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(set.keys).toHaveLength(1);
    for (const k of set.keys) {
      expect(k).not.toHaveProperty('d');
      expect(k).toMatchObject({ use: 'sig', alg: 'ES256', kty: 'EC' });
    }
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', keys: { active: 1, next: 0, retired: 0 } });
  });
});

describe.each(['RS256', 'PS256', 'EdDSA'] as SigningAlgorithm[])('signing with %s', (algorithm) => {
  let server: IssuerServer;
  let svc: TestClient;
  beforeAll(async () => {
    svc = await makeClient('svc', ['x'], ['api']);
    server = await createIssuerServer({ listen: { port: 0 }, signing: { algorithm }, clients: [svc.config] });
  });
  afterAll(() => server.close());

  test('tokens verify with jose and core', async () => {
    const res = await requestToken(server.url, svc);
    expect(res.status).toBe(200);
    const token = res.body.access_token as string;
    expect(headerOf(token)).toMatchObject({ alg: algorithm, typ: 'at+jwt' });
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    await expect(jwtVerify(token, jwks, { issuer: server.issuer, audience: 'api', algorithms: [algorithm] })).resolves.toBeDefined();
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: 'api', metrics: false });
    try {
      expect((await verifier.verify(token)).header.alg).toBe(algorithm);
    } finally {
      await verifier.close();
    }
  });
});

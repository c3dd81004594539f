/**
 * (4) Bad requests to the token service: each gets its RFC 6749 / 7009 / 7662 / 8707 error with the right status,
 * `Cache-Control: no-store`, a JSON body, and never a 500.
 */
import fc from 'fast-check';
import { createIssuerServer, createMemoryStore, hashClientSecret, type IssuerServer, type IssuerStore } from '@tokenguard/issuer';
import { rawRequest } from '../../../test/helpers/raw-http';
import { parseProm, sample } from '../../../test/helpers/prom';
import { basic, form, makeClient, post, requestToken, type TestClient } from './support';

const grant: [string, string] = ['grant_type', 'client_credentials'];

describe('bad requests get the RFC error, never a 500', () => {
  let server: IssuerServer;
  // Ids and secrets are known before beforeAll, so the table can be built when the tests are defined.
  const svc = { id: 'svc', secret: `svc-${Math.random().toString(36).slice(2)}` };
  const multi = { id: 'multi', secret: `multi-${Math.random().toString(36).slice(2)}` };

  beforeAll(async () => {
    const clients = [
      { clientId: svc.id, clientSecretHash: await hashClientSecret(svc.secret), scopes: ['read', 'write'], audiences: ['orders-api', 'https://orders.example/api'] },
      { clientId: multi.id, clientSecretHash: await hashClientSecret(multi.secret), scopes: ['read'], audiences: ['a-api', 'b-api'] },
    ];
    server = await createIssuerServer({ listen: { port: 0 }, clients, rateLimit: { perAddress: 10_000, perClient: 10_000 } });
  });
  afterAll(() => server.close());

  interface Case {
    name: string;
    method?: string;
    path?: string;
    body?: string | Uint8Array<ArrayBuffer>;
    headers?: Record<string, string>;
    status: number;
    error: string;
    challenge?: boolean;
  }
  const auth = () => ({ authorization: basic(svc.id, svc.secret) });
  const cases: Case[] = [
    { name: 'wrong grant type (password)', body: form([['grant_type', 'password'], ['username', 'u'], ['password', 'p']]), headers: auth(), status: 400, error: 'unsupported_grant_type' },
    { name: 'wrong grant type (authorization_code)', body: form([['grant_type', 'authorization_code'], ['code', 'x']]), headers: auth(), status: 400, error: 'unsupported_grant_type' },
    { name: 'missing grant_type', body: form([['scope', 'read']]), headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'empty body', body: '', headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'duplicate grant_type', body: form([grant, grant]), headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'duplicate scope', body: form([grant, ['scope', 'read'], ['scope', 'write']]), headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'duplicate client_id (post auth)', body: form([grant, ['client_id', 'svc'], ['client_id', 'svc'], ['client_secret', svc.secret]]), status: 400, error: 'invalid_request' },
    { name: 'oversized body (70 KiB)', body: form([grant, ['scope', 'r'.repeat(70 * 1024)]]), headers: auth(), status: 413, error: 'invalid_request' },
    { name: 'oversized body (600 KiB)', body: form([grant, ['x', 'y'.repeat(600 * 1024)]]), headers: auth(), status: 413, error: 'invalid_request' },
    { name: 'bad JSON', body: '{"grant_type":', headers: { ...auth(), 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
    { name: 'JSON array', body: '["client_credentials"]', headers: { ...auth(), 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
    { name: 'JSON non-string member', body: '{"grant_type":"client_credentials","scope":{"$ne":1}}', headers: { ...auth(), 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
    { name: 'bad percent-encoding in form', body: 'grant_type=client%zzcredentials', headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'invalid UTF-8 in form', body: new Uint8Array([0x67, 0x72, 0x61, 0x6e, 0x74, 0x3d, 0xff, 0xfe]), headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'unsupported content type', body: 'grant_type=client_credentials', headers: { ...auth(), 'content-type': 'text/plain' }, status: 400, error: 'invalid_request' },
    { name: 'unknown client (basic)', body: form([grant]), headers: { authorization: basic('nobody', 'secret') }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'wrong secret (basic)', body: form([grant]), headers: { authorization: basic('svc', 'wrong') }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'wrong secret (post)', body: form([grant, ['client_id', 'svc'], ['client_secret', 'wrong']]), status: 401, error: 'invalid_client' },
    { name: 'very long secret', body: form([grant]), headers: { authorization: basic('svc', 'x'.repeat(5000)) }, status: 401, error: 'invalid_client', challenge: true },
    { name: '__proto__ as client id', body: form([grant]), headers: { authorization: basic('__proto__', 'x') }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'no client authentication', body: form([grant]), status: 401, error: 'invalid_client', challenge: true },
    { name: 'client_id without secret', body: form([grant, ['client_id', 'svc']]), status: 401, error: 'invalid_client' },
    { name: 'basic and client_secret together', body: form([grant, ['client_secret', svc.secret]]), headers: auth(), status: 400, error: 'invalid_request' },
    { name: 'malformed Basic header', body: form([grant]), headers: { authorization: 'Basic !!!' }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'Bearer instead of client auth', body: form([grant]), headers: { authorization: 'Bearer abc' }, status: 401, error: 'invalid_client', challenge: true },
    { name: 'scope escalation', body: form([grant, ['scope', 'read admin']]), headers: auth(), status: 400, error: 'invalid_scope' },
    { name: 'look-alike scope', body: form([grant, ['scope', 'read,write']]), headers: auth(), status: 400, error: 'invalid_scope' },
    { name: 'malformed scope (double space)', body: form([grant, ['scope', 'read  write']]), headers: auth(), status: 400, error: 'invalid_scope' },
    { name: 'malformed scope (quote)', body: form([grant, ['scope', 'read"']]), headers: auth(), status: 400, error: 'invalid_scope' },
    { name: 'disallowed audience', body: form([grant, ['audience', 'payments-api']]), headers: auth(), status: 400, error: 'invalid_target' },
    { name: 'disallowed resource', body: form([grant, ['resource', 'https://payments.example/api']]), headers: auth(), status: 400, error: 'invalid_target' },
    { name: 'one allowed and one disallowed resource', body: form([grant, ['resource', 'https://orders.example/api'], ['resource', 'https://evil.example/']]), headers: auth(), status: 400, error: 'invalid_target' },
    { name: 'relative resource', body: form([grant, ['resource', 'orders-api']]), headers: auth(), status: 400, error: 'invalid_target' },
    { name: 'resource with fragment', body: form([grant, ['resource', 'https://orders.example/api#x']]), headers: auth(), status: 400, error: 'invalid_target' },
    { name: 'no audience while several are allowed', body: form([grant]), headers: { authorization: basic(multi.id, multi.secret) }, status: 400, error: 'invalid_target' },
    { name: 'GET on the token endpoint', method: 'GET', status: 405, error: 'invalid_request' },
    { name: 'GET on the revocation endpoint', method: 'GET', path: '/oauth/revoke', status: 405, error: 'invalid_request' },
    { name: 'GET on the introspection endpoint', method: 'GET', path: '/oauth/introspect', status: 405, error: 'invalid_request' },
    { name: 'PUT on the token endpoint', method: 'PUT', body: form([grant]), headers: auth(), status: 405, error: 'invalid_request' },
    { name: 'POST on the JWKS', path: '/.well-known/jwks.json', body: form([grant]), status: 405, error: 'invalid_request' },
    { name: 'unknown endpoint', path: '/oauth/authorize', method: 'GET', status: 404, error: 'invalid_request' },
  ];

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const method = c.method ?? 'POST';
    const res = await fetch(`${server.url}${c.path ?? '/oauth/token'}`, {
      method,
      headers: { ...(method === 'GET' ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...c.headers },
      ...(c.body !== undefined ? { body: c.body } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(c.status);
    expect(body.error).toBe(c.error);
    expect(typeof body.error_description).toBe('string');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    if (c.challenge) expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="tokenguard-issuer"/);
    if (c.status === 405) expect(res.headers.get('allow')).toBeTruthy();
    // The answer never echoes the secret.
    expect(JSON.stringify(body)).not.toContain(svc.secret);
  });

  test('control: the same client gets a token with valid requests (basic, post, JSON, resource)', async () => {
    expect((await post(`${server.url}/oauth/token`, form([grant, ['scope', 'read'], ['audience', 'orders-api']]), auth())).status).toBe(200);
    expect((await post(`${server.url}/oauth/token`, form([grant, ['client_id', 'svc'], ['client_secret', svc.secret], ['resource', 'https://orders.example/api']]))).status).toBe(200);
    const json = await post(`${server.url}/oauth/token`, JSON.stringify({ grant_type: 'client_credentials', audience: 'orders-api' }), { ...auth(), 'content-type': 'application/json' });
    expect(json).toMatchObject({ status: 200, body: { token_type: 'Bearer', scope: 'read write' } });
  });

  test('raw HTTP: two Authorization headers or a huge declared length never crash the server', async () => {
    const dup = await rawRequest(server.url, {
      method: 'POST', path: '/oauth/token', body: form([grant]),
      headers: [['Content-Type', 'application/x-www-form-urlencoded'], ['Authorization', basic('svc', 'wrong')], ['Authorization', basic('svc', svc.secret)]],
    });
    expect(dup.status).toBe(400);
    expect(JSON.parse(dup.body)).toMatchObject({ error: 'invalid_request' });
    const huge = await rawRequest(server.url, {
      method: 'POST', path: '/oauth/token',
      headers: [['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', String(50 * 1024 * 1024)]],
    });
    expect(huge.status).toBe(413);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test('property: arbitrary bodies and content types never get a 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'application/x-www-form-urlencoded; charset=utf-8'),
        fc.boolean(),
        async (body, type, withAuth) => {
          const res = await fetch(`${server.url}/oauth/token`, {
            method: 'POST', body, headers: { 'content-type': type, ...(withAuth ? auth() : {}) }, signal: AbortSignal.timeout(10_000),
          });
          const json = (await res.json()) as Record<string, unknown>;
          expect(res.status).toBeLessThan(500);
          expect(typeof json.error === 'string' || typeof json.access_token === 'string').toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('failed client authentication is rate limited', () => {
  let server: IssuerServer;
  let svc: TestClient;
  let other: TestClient;
  afterEach(() => server.close());

  test('per address: after 3 failures even a correct secret gets 429 with Retry-After', async () => {
    svc = await makeClient('svc', ['read'], ['api']);
    server = await createIssuerServer({ listen: { port: 0 }, clients: [svc.config], rateLimit: { perAddress: 3, perClient: 100, window: '1m' } });
    for (let i = 0; i < 3; i++) expect((await requestToken(server.url, { ...svc, secret: 'wrong' })).status).toBe(401);
    const blocked = await requestToken(server.url, svc);
    expect(blocked).toMatchObject({ status: 429, body: { error: 'invalid_client' } });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    const metrics = parseProm(await (await fetch(`${server.url}/metrics`)).text());
    expect(sample(metrics, 'tokenguard_issuer_client_auth_failures_total', { reason: 'wrong_secret' })).toBe(3);
    expect(sample(metrics, 'tokenguard_issuer_client_auth_failures_total', { reason: 'rate_limited' })).toBe(1);
  });

  test('per client: the attacked client is locked for the window, others are not', async () => {
    svc = await makeClient('svc', ['read'], ['api']);
    other = await makeClient('other', ['read'], ['api']);
    server = await createIssuerServer({ listen: { port: 0 }, clients: [svc.config, other.config], rateLimit: { perAddress: 100, perClient: 2, window: '300ms' } });
    for (let i = 0; i < 2; i++) expect((await requestToken(server.url, { ...svc, secret: 'wrong' })).status).toBe(401);
    expect((await requestToken(server.url, svc)).status).toBe(429);
    expect((await requestToken(server.url, other)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await requestToken(server.url, svc)).status).toBe(200);
  });
});

describe('an unreachable store is a 503, never a 500', () => {
  test('token and introspection answer temporarily_unavailable while the store fails, and recover', async () => {
    const svc = await makeClient('svc', ['read'], ['api']);
    const inner = createMemoryStore();
    let broken = false;
    const fail = <T>(fn: () => Promise<T>): Promise<T> => (broken ? Promise.reject(new Error('ECONNREFUSED')) : fn());
    const store: IssuerStore = {
      ...inner,
      getClient: (id) => fail(() => inner.getClient(id)),
      isRevoked: (jti) => fail(() => inner.isRevoked(jti)),
      revoke: (jti, exp) => fail(() => inner.revoke(jti, exp)),
    };
    await inner.open();
    await inner.addClient(svc.config);
    const server = await createIssuerServer({ listen: { port: 0 }, store });
    try {
      const token = (await requestToken(server.url, svc)).body.access_token as string;
      broken = true;
      const res = await requestToken(server.url, svc);
      expect(res).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
      expect(res.headers.get('retry-after')).toBe('5');
      broken = false;
      const introspect = () => post(`${server.url}/oauth/introspect`, form([['token', token]]), { authorization: basic(svc.id, svc.secret) });
      const ok = await introspect();
      expect(ok.body.active).toBe(true);
      broken = true;
      expect((await introspect()).status).toBe(503);
      broken = false;
      expect((await requestToken(server.url, svc)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

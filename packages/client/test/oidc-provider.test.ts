/**
 * Interop with an independent, OpenID-certified token service: oidc-provider (panva) with client credentials,
 * resource indicators and JWT access tokens. The client finds the token endpoint by OpenID discovery and
 * authenticates with secrets full of characters that need form-encoding (RFC 6749 VSCHARs: printable ASCII).
 */
import { createTokenProvider, TokenUnavailableError, type TokenProvider, type TokenProviderOptions } from '@tokenguard/client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { TestServer } from '../../../test/helpers/http';
import { startOidcPeer } from '../../../test/helpers/oidc-peer';

const RESOURCE = 'https://orders.example.test/';
const BASIC = { id: 'basic:client one', secret: 'b@sic secret:+/%20&=~!-0123456789-0123456789-0123456789' };
const POST = { id: 'post-client', secret: "p0st secret:+/%20&=*'-0123456789-0123456789-0123456789" };
let server: TestServer;
const providers: TokenProvider[] = [];

beforeAll(async () => {
  server = await startOidcPeer({
    clients: [
      { client_id: BASIC.id, client_secret: BASIC.secret, token_endpoint_auth_method: 'client_secret_basic' },
      { client_id: POST.id, client_secret: POST.secret, token_endpoint_auth_method: 'client_secret_post' },
    ],
    scopes: ['orders:read', 'orders:write'],
    resource: RESOURCE,
    audience: 'orders-api',
    alg: 'ES256',
    ttl: 120,
  });
});
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});
afterAll(() => server.close());

const make = (opts: Partial<TokenProviderOptions>): TokenProvider => {
  const p = createTokenProvider({
    issuer: server.url, clientId: BASIC.id, clientSecret: BASIC.secret, audience: RESOURCE, scopes: ['orders:read'],
    retry: { retries: 1, minDelay: '10ms' }, ...opts,
  });
  providers.push(p);
  return p;
};

describe('against oidc-provider', () => {
  it.each([
    ['client_secret_basic', BASIC],
    ['client_secret_post', POST],
  ] as const)('%s: discovery, resource indicator, JWT access token', async (authMethod, client) => {
    const events: { lifetimeSeconds?: number }[] = [];
    const tokens = make({ authMethod, clientId: client.id, clientSecret: client.secret, onEvent: (e) => events.push(e) });
    const token = await tokens.getToken();
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${server.url}/jwks`)), { issuer: server.url, audience: 'orders-api' });
    expect(payload).toMatchObject({ client_id: client.id, scope: 'orders:read' });
    // the lifetime comes from expires_in and exp (120 s), minus nothing more than the request time
    expect(events[0]!.lifetimeSeconds).toBeGreaterThan(118);
    expect(events[0]!.lifetimeSeconds).toBeLessThanOrEqual(120);
    expect(await tokens.getToken()).toBe(token);
  });

  it('a wrong secret is invalid_client, not retried', async () => {
    const err = (await make({ clientSecret: 'wrong' }).getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ code: 'request_rejected', status: 401, error: 'invalid_client', attempts: 1 });
  });

  it('an unknown resource is invalid_target, not retried', async () => {
    const err = (await make({ audience: 'https://billing.example.test/' }).getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toMatchObject({ code: 'request_rejected', status: 400, error: 'invalid_target', attempts: 1 });
  });
});

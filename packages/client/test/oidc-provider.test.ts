/**
 * Interop with an independent, OpenID-certified token service: oidc-provider (panva) with client credentials,
 * resource indicators and JWT access tokens. The client finds the token endpoint by OpenID discovery and
 * authenticates with secrets full of characters that need form-encoding (RFC 6749 VSCHARs: printable ASCII).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createTokenProvider, TokenUnavailableError, type TokenProvider, type TokenProviderOptions } from '@tokenguard/client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { wrap, type TestServer } from '../../../test/helpers/http';

const RESOURCE = 'https://orders.example.test/';
const BASIC = { id: 'basic:client one', secret: 'b@sic secret:+/%20&=~!-0123456789-0123456789-0123456789' };
const POST = { id: 'post-client', secret: "p0st secret:+/%20&=*'-0123456789-0123456789-0123456789" };
let server: TestServer;
const providers: TokenProvider[] = [];

beforeAll(async () => {
  // oidc-provider warns at import (Node 20) and about its in-memory adapter; both are expected here.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  const peer = await import('oidc-provider');
  const Provider = peer.default;
  // not in the shared ambient typing of oidc-provider
  const { InvalidTarget } = (peer as unknown as { errors: { InvalidTarget: new () => Error } }).errors;
  let handler = (_req: IncomingMessage, res: ServerResponse): void => void res.writeHead(503).end();
  server = await wrap(createServer((req, res) => handler(req, res)));
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const common = { id_token_signed_response_alg: 'ES256', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'orders:read orders:write' };
  const oidc = new Provider(server.url, {
    clients: [
      { ...common, client_id: BASIC.id, client_secret: BASIC.secret, token_endpoint_auth_method: 'client_secret_basic' },
      { ...common, client_id: POST.id, client_secret: POST.secret, token_endpoint_auth_method: 'client_secret_post' },
    ],
    scopes: ['orders:read', 'orders:write'],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'peer-es256', alg: 'ES256', use: 'sig' }] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== RESOURCE) throw new InvalidTarget();
          return { scope: 'orders:read orders:write', audience: 'orders-api', accessTokenFormat: 'jwt', accessTokenTTL: 120, jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
  });
  warn.mockRestore();
  handler = oidc.callback();
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

/** The client against the project's own token service, `@tokenguard/issuer`, on 127.0.0.1:0. */
import { createTokenProvider, TokenUnavailableError, type TokenProvider, type TokenProviderOptions } from '@tokenguard/client';
import { createIssuerServer, hashClientSecret, type IssuerServer } from '@tokenguard/issuer';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { parseProm, sample } from '../../../test/helpers/prom';

// A secret with every character that form-encoding must take care of.
const SECRET = 'p@ss:wo rd+/é%20&=x';
let issuer: IssuerServer;
const providers: TokenProvider[] = [];
const make = (opts: Partial<TokenProviderOptions> = {}): TokenProvider => {
  const p = createTokenProvider({
    issuer: issuer.url, clientId: 'orders-client', clientSecret: SECRET, scopes: ['orders:read'], audience: 'orders-api',
    timeout: '2s', retry: { retries: 2, minDelay: '20ms', maxDelay: '100ms' }, ...opts,
  });
  providers.push(p);
  return p;
};

beforeAll(async () => {
  issuer = await createIssuerServer({
    listen: { host: '127.0.0.1', port: 0 },
    tokens: { defaultTtl: '5m' },
    clients: [{
      clientId: 'orders-client', clientSecretHash: await hashClientSecret(SECRET),
      scopes: ['orders:read', 'orders:write'], audiences: ['orders-api', 'https://orders.example/api'],
    }],
  });
});
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});
afterAll(() => issuer.close());

async function verify(token: string, audience: string): Promise<Record<string, unknown>> {
  const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${issuer.url}/.well-known/jwks.json`)), { issuer: issuer.url, audience });
  expect(protectedHeader.typ).toBe('at+jwt');
  return payload;
}

describe('against @tokenguard/issuer', () => {
  it.each(['client_secret_basic', 'client_secret_post'] as const)('%s with a secret full of special characters, endpoint found by discovery', async (authMethod) => {
    const token = await make({ authMethod }).getToken();
    const claims = await verify(token, 'orders-api');
    expect(claims).toMatchObject({ client_id: 'orders-client', scope: 'orders:read', aud: 'orders-api' });
  });

  it('an absolute-URI audience goes out as resource and comes back as aud', async () => {
    const token = await make({ audience: 'https://orders.example/api', scopes: ['orders:read', 'orders:write'] }).getToken();
    const claims = await verify(token, 'https://orders.example/api');
    expect(claims.scope).toBe('orders:read orders:write');
  });

  it('50 concurrent callers: one token issued', async () => {
    const registry = await (await fetch(`${issuer.url}/metrics`)).text();
    const before = sample(parseProm(registry), 'tokenguard_issuer_tokens_total', { client_id: 'orders-client', outcome: 'issued' }) ?? 0;
    const tokens = make();
    const all = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
    expect(new Set(all).size).toBe(1);
    const after = sample(parseProm(await (await fetch(`${issuer.url}/metrics`)).text()), 'tokenguard_issuer_tokens_total', { client_id: 'orders-client', outcome: 'issued' });
    expect(after).toBe(before + 1);
  });

  it.each([
    ['a wrong secret', { clientSecret: 'wrong' }, 401, 'invalid_client'],
    ['an unknown client', { clientId: 'nobody' }, 401, 'invalid_client'],
    ['a scope beyond the allowed ones', { scopes: ['orders:admin'] }, 400, 'invalid_scope'],
    ['a disallowed audience', { audience: 'billing-api' }, 400, 'invalid_target'],
    ['a disallowed resource', { audience: 'https://billing.example/' }, 400, 'invalid_target'],
  ])('%s is a clear TokenUnavailableError, not retried', async (_name, opts, status, error) => {
    const err = (await make(opts).getToken().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ code: 'request_rejected', status, error, attempts: 1 });
    expect(err.message).not.toContain(SECRET);
  });

  it('keeps getting valid tokens across a key rotation', async () => {
    const tokens = make();
    const before = await tokens.getToken();
    await issuer.rotateKeys({ now: true });
    tokens.invalidate();
    const after = await tokens.getToken();
    expect(after).not.toBe(before);
    await expect(verify(after, 'orders-api')).resolves.toMatchObject({ client_id: 'orders-client' });
  });
});

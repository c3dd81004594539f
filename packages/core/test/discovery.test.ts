/**
 * Discovery against a real metadata + key-set server on 127.0.0.1: OIDC Discovery, then RFC 8414; exact
 * issuer match; jwks_uri checks; metadata cached like key sets; one timeout for discovery and fetch together.
 */
import { createKeySource } from '../src/lib/key-sources';
import { discoveryUrls } from '../src/lib/discovery';
import type { KeySource } from '../src/lib/key-source';
import { makeKey, jwks, type TestKey } from '../../../test/helpers/keys';
import { startJwksServer, recordTelemetry, outcome, sleep, type JwksServer } from '../../../test/helpers/jwks-server';

const OIDC = '/.well-known/openid-configuration';
const AS = '/.well-known/oauth-authorization-server';
const TIMEOUT_MS = 400;

let server: JwksServer;
let other: JwksServer;
let a: TestKey, b: TestKey;
const sources: KeySource[] = [];

function source(issuer: string, jwksExtra: Record<string, unknown> = {}) {
  const telemetry = recordTelemetry();
  const src = createKeySource({ issuer, algorithms: ['RS256'], jwks: { timeout: `${TIMEOUT_MS}ms`, cooldown: '100ms', ...jwksExtra } }, { telemetry });
  sources.push(src);
  return { src, telemetry };
}

beforeAll(async () => {
  [a, b] = await Promise.all([makeKey('RS256'), makeKey('RS256')]);
  server = await startJwksServer(jwks(a));
  other = await startJwksServer(jwks(a));
});
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  server.reset(jwks(a));
});
afterAll(() => Promise.all([server.close(), other.close()]));

/** Removes a served document (the server then answers 404). */
function unset(path: string) {
  server.fault({ type: 'status', status: 404 }, path);
}

describe('discovery', () => {
  it('lists the OIDC and RFC 8414 locations, inserting the well-known segment for issuers with a path', () => {
    expect(discoveryUrls('https://idp.test').map(String)).toEqual(['https://idp.test/.well-known/openid-configuration', 'https://idp.test/.well-known/oauth-authorization-server']);
    expect(discoveryUrls('https://idp.test/').map(String)).toEqual(['https://idp.test/.well-known/openid-configuration', 'https://idp.test/.well-known/oauth-authorization-server']);
    expect(discoveryUrls('https://idp.test/t/1').map(String)).toEqual(['https://idp.test/t/1/.well-known/openid-configuration', 'https://idp.test/.well-known/oauth-authorization-server/t/1']);
  });

  it('finds keys through OpenID Connect discovery', async () => {
    server.set({ issuer: server.url, jwks_uri: server.jwksUrl }, OIDC);
    const { src } = source(server.url);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('resolved');
    expect(server.hits(OIDC)).toBeGreaterThanOrEqual(1);
  });

  it('falls back to RFC 8414 when the OIDC document is missing', async () => {
    unset(OIDC);
    const issuer = `${server.url}/tenant`;
    server.set({ issuer, jwks_uri: other.jwksUrl }, `${AS}/tenant`);
    const before = { oidc: server.hits(`/tenant${OIDC}`), as: server.hits(`${AS}/tenant`), keys: other.hits() };
    const { src } = source(issuer);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('resolved');
    expect(server.hits(`/tenant${OIDC}`) - before.oidc).toBe(1);
    expect(server.hits(`${AS}/tenant`) - before.as).toBe(1);
    expect(other.hits() - before.keys).toBe(1);
  });

  it.each([
    ['a trailing slash', (u: string) => `${u}/`],
    ['another case', (u: string) => u.toUpperCase()],
    ['another host', () => 'http://127.0.0.1:1'],
    ['a missing issuer', () => undefined],
  ])('refuses metadata whose issuer differs by %s, and fetches no keys', async (_n, issuerOf) => {
    server.set({ issuer: issuerOf(server.url), jwks_uri: other.jwksUrl }, OIDC);
    server.set({ issuer: issuerOf(server.url), jwks_uri: other.jwksUrl }, AS);
    const before = other.hits();
    const { src } = source(server.url);
    const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(o.code).toBe('jwks_unavailable');
    expect(src.health().lastError).toMatch(/issuer does not match/);
    expect(other.hits()).toBe(before);
  });

  it.each([['ftp://127.0.0.1/jwks'], ['not a url'], ['javascript:alert(1)'], [42], [undefined], ['http://user:pw@127.0.0.1/jwks']])(
    'refuses a jwks_uri of %p',
    async (jwksUri) => {
      server.set({ issuer: server.url, jwks_uri: jwksUri }, OIDC);
      unset(AS);
      const { src } = source(server.url);
      expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('jwks_unavailable');
      expect(src.health().lastError).toMatch(/jwks_uri is missing or not an http\(s\) URL/);
    },
  );

  it('answers 503 when neither metadata document exists', async () => {
    unset(OIDC);
    unset(AS);
    const { src } = source(server.url);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('jwks_unavailable');
    expect(src.health().lastError).toBe('discovery failed: HTTP 404; HTTP 404');
  });

  it('caches the metadata like a key set: refetching keys does not rediscover within cacheMaxAge', async () => {
    server.set({ issuer: server.url, jwks_uri: server.jwksUrl }, OIDC);
    const { src } = source(server.url);
    const m0 = server.hits(OIDC);
    const k0 = server.hits();
    await src.resolve({ alg: 'RS256', kid: a.kid });
    server.set(jwks(a, b));
    await sleep(150);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: b.kid }))).code).toBe('resolved');
    expect(server.hits(OIDC) - m0).toBe(1);
    expect(server.hits() - k0).toBe(2);
  });

  it('keeps using the last jwks_uri when the metadata endpoint fails later (stale-if-error)', async () => {
    server.set({ issuer: server.url, jwks_uri: server.jwksUrl }, OIDC);
    const { src } = source(server.url, { cacheMaxAge: '100ms' });
    await src.resolve({ alg: 'RS256', kid: a.kid });
    server.fault({ type: 'status', status: 500 }, OIDC);
    server.fault({ type: 'status', status: 500 }, AS);
    server.set(jwks(a, b));
    await sleep(150);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: b.kid }))).code).toBe('resolved');
  });

  it('one timeout covers discovery and the key fetch together', async () => {
    server.set({ issuer: server.url, jwks_uri: server.jwksUrl }, OIDC);
    server.fault({ type: 'delay', ms: 250 }, OIDC);
    server.fault({ type: 'delay', ms: 250 });
    const { src } = source(server.url);
    const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(o.code).toBe('jwks_unavailable');
    expect(o.ms).toBeLessThan(TIMEOUT_MS + 300); // each step alone fits in the timeout: only a shared deadline fails here
  });

  it('does not follow a redirect of the metadata document', async () => {
    server.fault({ type: 'redirect', location: `${other.url}${OIDC}` }, OIDC);
    server.fault({ type: 'redirect', location: `${other.url}${AS}` }, AS);
    const before = other.hits('*');
    const { src } = source(server.url);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('jwks_unavailable');
    expect(other.hits('*')).toBe(before);
  });
});

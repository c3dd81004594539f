import { Registry, type OpenMetricsContentType } from 'prom-client';
import { createTokenVerifier, type VerifierOptions } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';

describe('createTokenVerifier option validation', () => {
  let key: TestKey;
  beforeAll(async () => {
    key = await makeKey('ES256');
  });
  const base = (): VerifierOptions => ({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false });

  it.each<[string, () => unknown, RegExp]>([
    ['options not an object', () => null, /"options" must be an object/],
    ['issuer missing', () => ({ ...base(), issuer: undefined }), /"issuer" must be/],
    ['issuer empty', () => ({ ...base(), issuer: '' }), /"issuer" must be a non-empty string/],
    ['issuer empty array', () => ({ ...base(), issuer: [] }), /"issuer" must be/],
    ['issuer config without issuer', () => ({ ...base(), keys: undefined, issuer: [{ keys: jwks(key) }, { issuer: 'x' }] }), /"issuer\[0\]\.issuer"/],
    ['issuer config not an object', () => ({ ...base(), keys: undefined, issuer: [42] }), /"issuer\[0\]"/],
    ['same issuer twice', () => ({ ...base(), keys: undefined, issuer: [{ issuer: ISS, keys: jwks(key) }, { issuer: ISS, keys: jwks(key) }] }), /same issuer twice/],
    ['top-level keys with several issuers', () => ({ ...base(), issuer: [ISS, 'https://b.example.test/'] }), /single issuer/],
    ['audience missing', () => ({ ...base(), audience: undefined }), /"audience" must be/],
    ['audience empty', () => ({ ...base(), audience: '' }), /"audience"/],
    ['audience array with a number', () => ({ ...base(), audience: ['a', 1] }), /"audience"/],
    ['algorithms empty', () => ({ ...base(), algorithms: [] }), /"algorithms" must be a non-empty array/],
    ['algorithms with none', () => ({ ...base(), algorithms: ['RS256', 'none'] }), /"algorithms" must not contain 'none'/],
    ['algorithms with NONE', () => ({ ...base(), algorithms: ['NONE'] }), /'none'/],
    ['algorithms with rs256', () => ({ ...base(), algorithms: ['rs256'] }), /"algorithms" holds an unsupported algorithm/],
    ['HS256 with a key set', () => ({ ...base(), algorithms: ['RS256', 'HS256'] }), /HS\* algorithms only .* "secret"/],
    ['secret without HS algorithms', () => ({ ...base(), keys: undefined, secret: 'x'.repeat(40) }), /"algorithms" must list only HS256/],
    ['secret too short', () => ({ ...base(), keys: undefined, secret: 'short', algorithms: ['HS256'] }), /"secret" must be at least 32 bytes/],
    ['per-issuer algorithms invalid', () => ({ ...base(), keys: undefined, issuer: [{ issuer: ISS, keys: jwks(key), algorithms: 'ES256' }] }), /"issuer\[0\]\.algorithms"/],
    ['per-issuer jwks not an object', () => ({ ...base(), keys: undefined, issuer: [{ issuer: ISS, keys: jwks(key), jwks: 5 }] }), /"issuer\[0\]\.jwks"/],
    ['clockTolerance negative', () => ({ ...base(), clockTolerance: -1 }), /"clockTolerance"/],
    ['clockTolerance garbage', () => ({ ...base(), clockTolerance: '5 parsecs' }), /"clockTolerance"/],
    ['maxTokenAge garbage', () => ({ ...base(), maxTokenAge: {} }), /"maxTokenAge"/],
    ['maxTokenLifetime zero', () => ({ ...base(), maxTokenLifetime: 0 }), /"maxTokenLifetime"/],
    ['strict not a boolean', () => ({ ...base(), strict: 'yes' }), /"strict" must be a boolean/],
    ['scopeClaims not an array', () => ({ ...base(), scopeClaims: 'scope' }), /"scopeClaims"/],
    ['claims a string', () => ({ ...base(), claims: 'tenant' }), /"claims"/],
    ['getToken not a function', () => ({ ...base(), getToken: 'cookie' }), /"getToken"/],
    ['credentialsRequired not a boolean', () => ({ ...base(), credentialsRequired: 0 }), /"credentialsRequired"/],
    ['allowQueryToken not a boolean', () => ({ ...base(), allowQueryToken: 'true' }), /"allowQueryToken"/],
    ['allowBodyToken not a boolean', () => ({ ...base(), allowBodyToken: 1 }), /"allowBodyToken"/],
    ['maxTokenLength zero', () => ({ ...base(), maxTokenLength: 0 }), /"maxTokenLength" must be a positive integer/],
    ['maxTokenLength fractional', () => ({ ...base(), maxTokenLength: 10.5 }), /"maxTokenLength"/],
    ['realm a number', () => ({ ...base(), realm: 1 }), /"realm"/],
    ['cache garbage', () => ({ ...base(), cache: 'big' }), /"cache"/],
    ['cache.maxEntries zero', () => ({ ...base(), cache: { maxEntries: 0 } }), /"cache.maxEntries"/],
    ['jwks not an object', () => ({ ...base(), jwks: 'fast' }), /"jwks"/],
    ['jwks.timeout garbage', () => ({ ...base(), jwks: { timeout: 'soon' } }), /"jwks.timeout"/],
    ['revocation without isRevoked', () => ({ ...base(), revocation: { revoke() {} } }), /"revocation"/],
    ['revocation failMode garbage', () => ({ ...base(), revocation: { isRevoked: () => false, revoke: async () => {}, failMode: 'ajar' } }), /"revocation.failMode"/],
    ['metrics garbage', () => ({ ...base(), metrics: 'on' }), /"metrics"/],
    ['logger without methods', () => ({ ...base(), logger: { info() {} } }), /"logger"/],
    ['onEvent not a function', () => ({ ...base(), onEvent: {} }), /"onEvent"/],
    ['engine unknown', () => ({ ...base(), engine: 'wasm' }), /"engine"/],
    ['offload not a boolean', () => ({ ...base(), offload: 'yes' }), /"offload" must be a boolean/],
    ['jwksUri not a URL', () => ({ ...base(), keys: undefined, jwksUri: 'file:///etc/passwd' }), /"jwksUri"/],
    ['keys not a key set', () => ({ ...base(), keys: { keys: 'none' } }), /"keys"/],
  ])('%s → TypeError naming it', (_n, build, message) => {
    expect(() => createTokenVerifier(build() as never)).toThrow(TypeError);
    expect(() => createTokenVerifier(build() as never)).toThrow(message);
  });

  it('accepts the documented shapes and exposes frozen options', async () => {
    const opts: VerifierOptions = { ...base(), clockTolerance: '5s', maxTokenAge: '1h', maxTokenLifetime: '2h', cache: { maxEntries: 10 }, strict: true, scopeClaims: ['scope', 'scp', 'permissions'], claims: { tenant: 'acme' }, engine: 'jose', realm: 'orders' };
    const v = createTokenVerifier(opts);
    expect(Object.isFrozen(v.options)).toBe(true);
    expect(v.options.audience).toBe(AUD);
    expect(v.health()).toEqual([expect.objectContaining({ issuer: ISS })]);
    await v.close();
    const v2 = createTokenVerifier({ ...base(), cache: false, audience: [AUD, 'other'] });
    await v2.close();
  });

  it('metrics.registry takes an OpenMetrics registry (typed and at run time)', async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const v = createTokenVerifier({ ...base(), metrics: { registry } });
    await v.verify(await signToken(key, { iss: ISS, aud: AUD }));
    const text = await registry.metrics();
    expect(text).toMatch(/^tokenguard_validations_total\{[^}]*outcome="accepted"[^}]*\} 1$/m);
    expect(text.trimEnd().endsWith('# EOF')).toBe(true);
    await v.close();
  });
});

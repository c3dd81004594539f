/**
 * Regression: misspelt options used to be accepted silently (`clockTolarance: 60` left the default 5 s in
 * force). Every level — top-level options, `jwks`, `cache`, `metrics`, each issuer config and its `jwks`, and
 * the key source's own `jwks` — now throws a TypeError naming the unknown option, with a hint.
 */
import { Registry } from 'prom-client';
import { createTokenVerifier, createMemoryRevocationStore, type VerifierOptions } from '@tokenguard/core';
import { createKeySource } from '../src/lib/key-sources';
import { noopTelemetry } from '../src/lib/telemetry';
import { jwks, makeKey, type TestKey } from '../../../test/helpers/keys';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';

let key: TestKey;
beforeAll(async () => {
  key = await makeKey('ES256');
});
const base = (): VerifierOptions => ({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false });

describe('misspelt options are rejected, not ignored', () => {
  it.each<[string, () => unknown, RegExp]>([
    ['clockTolarance (top level)', () => ({ ...base(), clockTolarance: 60 }), /unknown option "clockTolarance" \(did you mean "clockTolerance"\?\)/],
    ['scopeClaim (top level)', () => ({ ...base(), scopeClaim: ['permissions'] }), /unknown option "scopeClaim" \(did you mean "scopeClaims"\?\)/],
    ['audiance (top level, even with the real one missing)', () => ({ issuer: ISS, keys: jwks(key), audiance: AUD }), /unknown option "audiance" \(did you mean "audience"\?\)/],
    ['jwks.cacheMaxage', () => ({ ...base(), jwks: { cacheMaxage: '1m' } }), /unknown option "jwks\.cacheMaxage" \(did you mean "jwks\.cacheMaxAge"\?\)/],
    ['cache.maxEntry', () => ({ ...base(), cache: { maxEntry: 5 } }), /unknown option "cache\.maxEntry" \(did you mean "cache\.maxEntries"\?\)/],
    ['metrics.prefx', () => ({ ...base(), metrics: { prefx: 'x_' } }), /unknown option "metrics\.prefx" \(did you mean "metrics\.prefix"\?\)/],
    ['metrics.path (a Fastify-only option)', () => ({ ...base(), metrics: { path: '/metrics' } }), /unknown option "metrics\.path": it is an option of the Fastify plugin/],
    ['issuer[1] field', () => ({ ...base(), keys: undefined, issuer: [{ issuer: ISS, keys: jwks(key) }, { issuer: 'https://b.example.test/', jwksUrl: 'https://b.example.test/jwks' }] }), /unknown option "issuer\[1\]\.jwksUrl" \(did you mean "issuer\[1\]\.jwksUri"\?\)/],
    ['issuer[0].jwks field', () => ({ ...base(), keys: undefined, issuer: [{ issuer: ISS, keys: jwks(key), jwks: { cooldwon: '1s' } }] }), /unknown option "issuer\[0\]\.jwks\.cooldwon" \(did you mean "issuer\[0\]\.jwks\.cooldown"\?\)/],
    ['a name far from any option: no hint, the known list', () => ({ ...base(), zzzzzzzz: 1 }), /unknown option "zzzzzzzz"; known options: issuer, audience/],
    ['passErrors given to the core', () => ({ ...base(), passErrors: true }), /unknown option "passErrors": it is an option of the framework adapters/],
    ['hook given to the core', () => ({ ...base(), hook: 'onRequest' }), /unknown option "hook": it is an option of the Fastify plugin/],
    ['unknown option even when its value is undefined', () => ({ ...base(), clockTolarance: undefined }), /unknown option "clockTolarance"/],
  ])('%s → TypeError naming it', (_n, build, message) => {
    expect(() => createTokenVerifier(build() as never)).toThrow(TypeError);
    expect(() => createTokenVerifier(build() as never)).toThrow(message);
  });

  it('the key source rejects an unknown jwks option too', () => {
    const make = () => createKeySource({ issuer: ISS, jwksUri: 'https://idp.example.test/jwks', algorithms: ['ES256'], jwks: { timeOut: '2s' } as never }, { telemetry: noopTelemetry });
    expect(make).toThrow(TypeError);
    expect(make).toThrow(/unknown option "jwks\.timeOut" \(did you mean "jwks\.timeout"\?\)/);
  });

  it('every documented option is accepted at every level', async () => {
    const all: Required<VerifierOptions> = {
      issuer: ISS, audience: AUD, jwksUri: 'https://idp.example.test/jwks', keys: jwks(key) as never, secret: 'x'.repeat(40),
      algorithms: ['ES256'], clockTolerance: '5s', maxTokenAge: '1h', maxTokenLifetime: '2h', engine: 'jose', offload: false, strict: true,
      scopeClaims: ['scope'], claims: { tenant: 'acme' }, getToken: () => undefined, credentialsRequired: true, allowQueryToken: false,
      allowBodyToken: true, maxTokenLength: 4096, realm: 'orders', cache: { maxEntries: 10 },
      jwks: { cacheMaxAge: '10m', cooldown: '30s', timeout: '5s', staleIfError: '1d', maxBytes: 65_536, maxKeys: 10 },
      revocation: createMemoryRevocationStore(), metrics: { registry: new Registry(), prefix: 'x_' },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined } as never, onEvent: () => undefined,
    };
    // construction only: nothing is fetched until a request (or health()) needs keys
    const v = createTokenVerifier(all);
    expect(v.options.audience).toBe(AUD);
    await v.close();
    const multi = createTokenVerifier({
      ...base(), keys: undefined,
      issuer: [
        { issuer: ISS, keys: jwks(key) as never, algorithms: ['ES256'], jwks: { maxKeys: 5 } },
        { issuer: 'https://b.example.test/', jwksUri: 'https://b.example.test/jwks', jwks: { cooldown: '10s', timeout: '1s', cacheMaxAge: '1m', staleIfError: '1h', maxBytes: 1000 } },
        { issuer: 'https://c.example.test/', secret: 'y'.repeat(40), algorithms: ['HS256'] },
      ],
    });
    expect(multi.options.audience).toBe(AUD);
    await multi.close();
  });
});

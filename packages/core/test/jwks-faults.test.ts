/**
 * Key-set endpoint faults (THREATS.md "Key-set endpoint faults") against a real key-set server on 127.0.0.1:
 * every fault gives an exact code within a bounded time, and nothing but the configured URL is ever asked.
 */
import { exportJWK } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { createKeySource } from '../src/lib/key-sources';
import type { KeySource } from '../src/lib/key-source';
import { makeKey, jwks, type TestKey } from '../../../test/helpers/keys';
import { startJwksServer, recordTelemetry, outcome, sleep, until, type JwksServer } from '../../../test/helpers/jwks-server';

const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const TIMEOUT_MS = 400;
/** Event-loop slack on a busy 2-core CI machine. */
const SLACK_MS = 400;
const jwksOpts = { timeout: `${TIMEOUT_MS}ms`, cooldown: '200ms', cacheMaxAge: '10m' };

let server: JwksServer;
let other: JwksServer;
let a: TestKey, b: TestKey, ec: TestKey;
const sources: KeySource[] = [];

function source(extra: Record<string, unknown> = {}, jwksExtra: Record<string, unknown> = {}) {
  const telemetry = recordTelemetry();
  const src = createKeySource({ issuer: server.url, jwksUri: server.jwksUrl, algorithms: ALGS, jwks: { ...jwksOpts, ...jwksExtra }, ...extra }, { telemetry });
  sources.push(src);
  return { src, telemetry };
}

beforeAll(async () => {
  [a, b, ec] = await Promise.all([makeKey('RS256'), makeKey('RS256'), makeKey('ES256')]);
  server = await startJwksServer(jwks(a));
  other = await startJwksServer(jwks(a));
});
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  server.reset(jwks(a));
});
afterAll(() => Promise.all([server.close(), other.close()]));

describe('cold start: the key set cannot be had', () => {
  const faults: [string, () => void, RegExp][] = [
    ['500', () => server.fault({ type: 'status', status: 500 }), /HTTP 500/],
    ['404', () => server.fault({ type: 'status', status: 404 }), /HTTP 404/],
    ['204', () => server.fault({ type: 'status', status: 204 }), /HTTP 204/],
    ['invalid JSON', () => server.fault({ type: 'raw', body: '{"keys":[' }), /not valid JSON/],
    ['HTML', () => server.fault({ type: 'raw', body: '<html>hi</html>', contentType: 'text/html' }), /not valid JSON/],
    ['null', () => server.set(null), /not a JSON object/],
    ['an array', () => server.set([a.jwk]), /not a JSON object/],
    ['{}', () => server.set({}), /no "keys" array/],
    ['{keys:null}', () => server.set({ keys: null }), /no "keys" array/],
    ['{keys:[null]}', () => server.set({ keys: [null] }), /no usable/],
    ['{keys:[]}', () => server.set({ keys: [] }), /no usable/],
    ['only an oct key', () => server.set({ keys: [{ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0', kid: a.kid }] }), /no usable/],
    ['a huge body (declared length)', () => server.fault({ type: 'huge', bytes: 300_000 }), /body over 262144 bytes/],
    ['a huge body (chunked)', () => server.fault({ type: 'huge', bytes: 300_000, declareLength: false }), /body over 262144 bytes/],
    ['a reset connection', () => server.fault({ type: 'reset' }), /request failed|body read failed/],
  ];
  it.each(faults)('%s → jwks_unavailable (503) quickly, with the reason in health()', async (_name, apply, reason) => {
    apply();
    const { src, telemetry } = source();
    const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(o.code).toBe('jwks_unavailable');
    expect(o.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(o.retryAfter).toBeGreaterThanOrEqual(1);
    const h = src.health();
    expect(h.state).toBe('unavailable');
    expect(h.lastError).toMatch(reason);
    expect(telemetry.fetches).toEqual([expect.objectContaining({ outcome: 'error', keys: 0 })]);
    expect(telemetry.events).toEqual([expect.objectContaining({ type: 'jwks.failed', outcome: 'error' })]);
  });

  it('refused connection → jwks_unavailable at once', async () => {
    const gone = await startJwksServer(jwks(a));
    await gone.close();
    const telemetry = recordTelemetry();
    const src = createKeySource({ issuer: gone.url, jwksUri: gone.jwksUrl, algorithms: ALGS, jwks: jwksOpts }, { telemetry });
    sources.push(src);
    const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(o.code).toBe('jwks_unavailable');
    expect(o.ms).toBeLessThan(TIMEOUT_MS);
    expect(src.health().lastError).toMatch(/ECONNREFUSED/);
  });

  it.each([
    ['hangs', { type: 'hang' as const }],
    ['drips one byte per 50 ms', { type: 'drip' as const, intervalMs: 50 }],
    ['answers after the timeout', { type: 'delay' as const, ms: 2000 }],
  ])('endpoint %s → jwks_unavailable within the timeout', async (_name, fault) => {
    server.fault(fault);
    const { src } = source();
    const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(o.code).toBe('jwks_unavailable');
    expect(o.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(o.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    // the fetch gives up at the same deadline; its failure lands a moment later
    expect(await until(() => src.health().lastError !== undefined, 500)).toBe(true);
    expect(src.health().lastError).toMatch(/timed out/);
  });

  it('a redirect to another host is not followed', async () => {
    for (const status of [301, 302, 307, 308]) {
      server.fault({ type: 'redirect', location: other.jwksUrl, status });
      const { src } = source();
      const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
      expect(o.code).toBe('jwks_unavailable');
      expect(src.health().lastError).toBe(`redirect (HTTP ${status}) not followed`);
    }
    expect(other.hits('*')).toBe(0);
  });

  it('a set with more keys than jwks.maxKeys is refused as a whole', async () => {
    const many = { keys: Array.from({ length: 1000 }, (_, i) => ({ ...ec.jwk, kid: `k${i}` })) };
    server.set(many);
    const { src } = source();
    const o = await outcome(src.resolve({ alg: 'ES256', kid: 'k1' }));
    expect(o.code).toBe('jwks_unavailable');
    expect(src.health().lastError).toMatch(/1000 keys, more than the cap of 100/);
    // a raised cap takes them (the body is still under the byte cap)
    const raised = source({}, { maxKeys: 1000 }).src;
    expect((await outcome(raised.resolve({ alg: 'ES256', kid: 'k999' }))).code).toBe('resolved');
    expect(raised.health().keys).toBe(1000);
  });
});

describe('bad keys inside a good set', () => {
  it('private keys are refused and alerted; the rest of the set serves', async () => {
    const priv = { ...(await exportJWK(ec.privateKey)), kid: 'leaked', alg: 'ES256' };
    server.set({ keys: [priv, a.jwk] });
    const { src, telemetry } = source();
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('resolved');
    expect((await outcome(src.resolve({ alg: 'ES256', kid: 'leaked' }))).code).toBe('key_not_found');
    expect(telemetry.events.filter((e) => e.type === 'anomaly')).toEqual([expect.objectContaining({ kind: 'jwks_private_key', kid: 'leaked' })]);
    expect(telemetry.warnings.map((w) => w.msg).join()).toMatch(/private/);
    expect(JSON.stringify(telemetry)).not.toContain(String(priv.d));
  });

  it('wrong use, key_ops, alg, kty, curve, weak RSA, off-curve points and duplicate kids are refused', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const y = Buffer.from(ec.jwk.y!, 'base64url');
    y[3] = y[3]! ^ 0xff;
    server.set({
      keys: [
        { ...a.jwk, kid: 'use-enc', use: 'enc' },
        { ...a.jwk, kid: 'ops-sign', key_ops: ['sign'] },
        { ...a.jwk, kid: 'alg-es', alg: 'ES256' },
        { ...a.jwk, kid: 'alg-num', alg: 7 },
        { ...a.jwk, kid: 'kty-xyz', kty: 'XYZ' },
        { ...ec.jwk, kid: 'crv-k1', crv: 'secp256k1' },
        { ...weak, kid: 'weak', alg: 'RS256' },
        { ...ec.jwk, kid: 'off-curve', y: y.toString('base64url') },
        { ...a.jwk, kid: 'dup' },
        { ...b.jwk, kid: 'dup' },
        { ...a.jwk, kid: 42 },
        b.jwk,
      ],
    });
    const { src, telemetry } = source();
    expect((await outcome(src.resolve({ alg: 'RS256', kid: b.kid }))).code).toBe('resolved');
    for (const kid of ['use-enc', 'ops-sign', 'alg-es', 'alg-num', 'kty-xyz', 'crv-k1', 'weak', 'off-curve', 'dup']) {
      expect([kid, (await outcome(src.resolve({ alg: kid === 'crv-k1' || kid === 'off-curve' || kid === 'alg-es' ? 'ES256' : 'RS256', kid }))).code]).toEqual([kid, 'key_not_found']);
    }
    expect(src.health().keys).toBe(1);
    const reasons = telemetry.warnings.map((w) => w.key).join(' ');
    for (const r of ['bad_use', 'bad_key_ops', 'bad_alg', 'unsupported_kty', 'weak_rsa', 'import_failed', 'duplicate_kid', 'bad_kid']) expect(reasons).toContain(r);
  });
});

describe('endpoint down after a warm cache', () => {
  it.each([
    ['500', (s: JwksServer) => s.fault({ type: 'status', status: 500 })],
    ['hang', (s: JwksServer) => s.fault({ type: 'hang' })],
    ['garbage', (s: JwksServer) => s.fault({ type: 'raw', body: 'garbage' })],
  ])('%s: known kids keep verifying (stale), unknown kids get 503 within the timeout', async (_name, apply) => {
    server.set(jwks(a));
    const { src, telemetry } = source();
    const ra = await src.resolve({ alg: 'RS256', kid: a.kid });
    apply(server);
    await sleep(250); // past the cooldown
    const unknown = await outcome(src.resolve({ alg: 'RS256', kid: b.kid }));
    expect(unknown.code).toBe('jwks_unavailable');
    expect(unknown.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    const known = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(known.code).toBe('resolved');
    expect(known.ms).toBeLessThan(TIMEOUT_MS / 2); // never waits on the failing fetch
    expect(await src.resolve({ alg: 'RS256', kid: a.kid })).toBe(ra);
    expect(src.isCurrent(ra)).toBe(true);
    expect(await until(() => src.health().state === 'stale', 500)).toBe(true);
    expect(telemetry.fetches.map((f) => f.outcome)).toEqual(['ok', 'stale']);
    expect(telemetry.events.filter((e) => e.type === 'jwks.failed')).toEqual([expect.objectContaining({ outcome: 'stale', keys: 1 })]);
  });
});

describe('endpoint refusing connections after a warm cache, then coming back', () => {
  it('serves known keys while down, answers 503 for unknown ones, and picks up new keys once it is back', async () => {
    server.set(jwks(a));
    const { src, telemetry } = source();
    await src.resolve({ alg: 'RS256', kid: a.kid });
    await server.down();
    try {
      await sleep(250);
      const unknown = await outcome(src.resolve({ alg: 'RS256', kid: b.kid }));
      expect(unknown.code).toBe('jwks_unavailable');
      expect(unknown.ms).toBeLessThan(TIMEOUT_MS);
      expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('resolved');
      expect(src.health()).toMatchObject({ state: 'stale', keys: 1, lastError: expect.stringMatching(/ECONNREFUSED/) });
    } finally {
      await server.up();
    }
    server.set(jwks(a, b));
    // after the backoff (200 ms, then 400 ms) the next unknown-kid request refetches
    const end = Date.now() + 2000;
    let last = '';
    while (Date.now() < end && last !== 'resolved') {
      last = (await outcome(src.resolve({ alg: 'RS256', kid: b.kid }))).code;
      if (last !== 'resolved') await sleep(100);
    }
    expect(last).toBe('resolved');
    expect(src.health().state).toBe('fresh');
    expect(telemetry.fetches.at(-1)?.outcome).toBe('ok');
  });
});

/**
 * tokenguard_verify_duration_seconds without two clock reads per cache hit: one request in eight is timed from its
 * start, an untimed synchronous hit is recorded with the last timed hit's duration (counts stay exact), and whatever
 * is not a synchronous hit (a miss, a hit waiting on an asynchronous revocation store) is still timed.
 * Real keys, real verifications, and the prom-client registry read back as text.
 */
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { createTokenVerifier, type RevocationStore, type Telemetry } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';
import { parseProm, sample } from '../../../test/helpers/prom';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';

interface Timed { cache: 'hit' | 'miss'; seconds: number }

function recorder(): { telemetry: Telemetry; accepted: Timed[]; rejected: (Timed & { code: string })[] } {
  const accepted: Timed[] = [];
  const rejected: (Timed & { code: string })[] = [];
  const telemetry: Telemetry = {
    auditing: false,
    accepted: (e) => { accepted.push({ cache: e.cache, seconds: e.seconds }); },
    rejected: (e) => { rejected.push({ cache: e.cache, seconds: e.seconds, code: e.code }); },
    scopeDenied() {}, jwksFetch() {}, event() {}, keySet() {}, cacheEntries() {}, warnOnce() {},
  };
  return { telemetry, accepted, rejected };
}

describe('request timing for tokenguard_verify_duration_seconds', () => {
  let key: TestKey;
  beforeAll(async () => {
    key = await makeKey('ES256');
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  const opts = (extra: object = {}) => ({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false as const, ...extra });

  it('reads the clock for one synchronous hit in eight; the others repeat the last measured duration', async () => {
    const { telemetry, accepted } = recorder();
    const v = createTokenVerifier(opts(), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 's1' });
    await v.verify(token); // a miss: verified and cached
    const now = jest.spyOn(performance, 'now');
    for (let i = 0; i < 80; i++) await v.verify(token);
    const hits = accepted.slice(1);
    expect(accepted[0]!.cache).toBe('miss');
    expect(hits).toHaveLength(80);
    expect(hits.every((h) => h.cache === 'hit')).toBe(true);
    // Each timed hit reads the clock twice (start, end); 80 hits hold 10 or 11 timed ones (the first hit too, since
    // none had been timed yet).
    expect(now.mock.calls.length).toBeLessThanOrEqual(2 * 11);
    expect(now.mock.calls.length).toBeGreaterThanOrEqual(2 * 10);
    // Every duration is a real measurement of some hit: positive, microseconds, and it changes at most at a timed hit.
    expect(hits[0]!.seconds).toBeGreaterThan(0);
    expect(hits.every((h) => Number.isFinite(h.seconds) && h.seconds > 0 && h.seconds < 0.05)).toBe(true);
    const changes = hits.filter((h, i) => i > 0 && h.seconds !== hits[i - 1]!.seconds).length;
    expect(changes).toBeLessThanOrEqual(11);
  });

  it('times every miss, from its cache lookup at the latest', async () => {
    const { telemetry, accepted } = recorder();
    const v = createTokenVerifier(opts(), { telemetry });
    const tokens = await Promise.all(Array.from({ length: 16 }, (_, i) => signToken(key, { iss: ISS, aud: AUD, sub: `m${i}` })));
    for (const t of tokens) await v.verify(t);
    expect(accepted.map((a) => a.cache)).toEqual(tokens.map(() => 'miss'));
    // An ES256 signature check alone takes tens of microseconds: no miss is recorded below 5 µs.
    expect(accepted.every((a) => a.seconds > 5e-6)).toBe(true);
  });

  it('times every hit that waits on an asynchronous revocation store, the wait included', async () => {
    const { telemetry, accepted } = recorder();
    const slowStore: RevocationStore = {
      revoke: async () => {},
      isRevoked: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15)),
    };
    const v = createTokenVerifier(opts({ revocation: slowStore }), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 's2', jti: 'j-1' });
    for (let i = 0; i < 10; i++) await v.verify(token);
    expect(accepted.map((a) => a.cache)).toEqual(['miss', ...Array(9).fill('hit')]);
    expect(accepted.every((a) => a.seconds >= 0.014)).toBe(true);
  });

  it('counts every request exactly in the scraped histogram, through verifyRequest()', async () => {
    const registry = new Registry();
    const v = createTokenVerifier({ ...opts(), metrics: { registry } });
    const tokens = await Promise.all(Array.from({ length: 3 }, (_, i) => signToken(key, { iss: ISS, aud: AUD, sub: `r${i}` })));
    for (let i = 0; i < 100; i++) await v.verifyRequest({ headers: { authorization: `Bearer ${tokens[i % 3]}` } });
    for (let i = 0; i < 5; i++) await expect(v.verifyRequest({ headers: {} })).rejects.toMatchObject({ code: 'token_missing' });
    const p = parseProm(await registry.metrics());
    expect(sample(p, 'tokenguard_verify_duration_seconds_count', { cache: 'miss' })).toBe(3 + 5);
    expect(sample(p, 'tokenguard_verify_duration_seconds_count', { cache: 'hit' })).toBe(97);
    expect(sample(p, 'tokenguard_validations_total', { issuer: ISS, outcome: 'accepted' })).toBe(100);
    expect(sample(p, 'tokenguard_rejections_total', { reason: 'token_missing' })).toBe(5);
    // Hits are microseconds: the sum of 97 of them is positive and well under a millisecond each.
    const hitSum = sample(p, 'tokenguard_verify_duration_seconds_sum', { cache: 'hit' })!;
    expect(hitSum).toBeGreaterThan(0);
    expect(hitSum / 97).toBeLessThan(0.001);
    await v.close();
  });
});

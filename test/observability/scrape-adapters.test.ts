/**
 * One scripted mix, three frameworks: the conformance apps (Express, Koa, Fastify; three guards each sharing one
 * registry) get N accepted requests, M rejections by known reasons and K scope denials; `/metrics` is scraped
 * over HTTP before and after and the increments must be the same, exactly, on every framework — including the
 * route template each adapter reports for scope denials.
 */
import { Registry } from 'prom-client';
import type { VerifierOptions } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../helpers/keys';
import { jsonServer, type TestServer } from '../helpers/http';
import { increments, parseProm, promtoolCheck, samplesOf, type PromText } from '../helpers/prom';
import { startExpress, startFastify, startKoa, type AppUnderTest } from '../conformance/apps';

const AUDIENCE = 'orders-api';
let key: TestKey;
let rogue: TestKey;
let idp: TestServer & { hits: () => number };

beforeAll(async () => {
  key = await makeKey('ES256');
  rogue = await makeKey('ES256', key.kid);
  idp = await jsonServer(jwks(key));
});

afterAll(async () => {
  await idp?.close();
});

const FRAMEWORKS = [
  ['express', startExpress],
  ['koa', startKoa],
  ['fastify', startFastify],
] as const;

describe.each(FRAMEWORKS)('%s: metrics after a scripted mix', (_name, start) => {
  const registry = new Registry();
  let app: AppUnderTest;
  let before: PromText;
  let after: PromText;
  let afterText: string;
  let fetchesBefore: number;

  const get = async (path: string, token?: string): Promise<number> => {
    const res = await fetch(`${app.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    const base: VerifierOptions = { issuer: idp.url, audience: AUDIENCE, jwksUri: `${idp.url}/jwks.json`, algorithms: ['ES256'], metrics: { registry } };
    fetchesBefore = idp.hits();
    app = await start(base, registry);
    before = parseProm(await scrape());
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: idp.url, aud: AUDIENCE, sub: 'svc-a', client_id: 'client-a', scope: 'orders:read' };

    // N = 5 accepted: 3 distinct tokens, 2 repeats.
    const tokens = await Promise.all([1, 2, 3].map(() => signToken(key, claims)));
    for (const t of [...tokens, tokens[0]!, tokens[1]!]) expect(await get('/me', t)).toBe(200);
    // M = 4 rejected.
    expect(await get('/me', await signToken(key, { ...claims, iat: now - 900, exp: now - 600 }))).toBe(401);
    expect(await get('/me', await signToken(rogue, claims))).toBe(401);
    expect(await get('/me', 'a.b')).toBe(401);
    expect(await get('/me')).toBe(401);
    // K = 3 scope denials.
    const noScope = await signToken(key, { ...claims, scope: undefined });
    expect(await get('/orders', noScope)).toBe(403);
    expect(await get('/orders', noScope)).toBe(403);
    expect(await get('/any', tokens[2])).toBe(403);

    afterText = await scrape();
    after = parseProm(afterText);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('counts validations per issuer and outcome exactly', () => {
    expect(increments(before, after, 'tokenguard_validations_total')).toEqual({
      [`issuer=${idp.url},outcome=accepted`]: 5 + 3,
      [`issuer=${idp.url},outcome=rejected`]: 2,
      'issuer=unknown,outcome=rejected': 2,
    });
  });

  it('counts rejections by reason exactly', () => {
    expect(increments(before, after, 'tokenguard_rejections_total')).toEqual({
      'reason=token_expired': 1,
      'reason=signature_invalid': 1,
      'reason=token_malformed': 1,
      'reason=token_missing': 1,
      // the 3 scope denials: a 403 is a rejection by reason too (the token itself counted as accepted)
      'reason=insufficient_scope': 3,
    });
  });

  it('counts scope denials by the route template', () => {
    expect(increments(before, after, 'tokenguard_scope_denials_total')).toEqual({ 'route=/orders': 2, 'route=/any': 1 });
  });

  it('observes every verification once, hits apart from misses', () => {
    const counts = increments(before, after, 'tokenguard_verify_duration_seconds_count');
    expect((counts['cache=hit'] ?? 0) + (counts['cache=miss'] ?? 0)).toBe(12);
    // The two repeats and the repeated no-scope token at least come from the cache.
    expect(counts['cache=hit']).toBeGreaterThanOrEqual(3);
  });

  it('counts exactly the key-set fetches the JWKS server saw, all ok', () => {
    const fetched = idp.hits() - fetchesBefore;
    expect(fetched).toBeGreaterThanOrEqual(1);
    const byOutcome = (outcome: string) =>
      samplesOf(after, 'tokenguard_jwks_fetches_total').filter((s) => s.labels.outcome === outcome).reduce((n, s) => n + s.value, 0);
    expect(byOutcome('ok')).toBe(fetched);
    expect(byOutcome('error') + byOutcome('stale')).toBe(0);
  });

  it('has exactly one family per metric although three guards share the registry, and passes promtool', async () => {
    expect(afterText.match(/^# TYPE tokenguard_validations_total /gm)).toHaveLength(1);
    const { code, output } = await promtoolCheck(afterText);
    expect(output).toBe('');
    expect(code).toBe(0);
  });
});

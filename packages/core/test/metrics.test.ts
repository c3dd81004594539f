import { Counter, Gauge, Registry, register as globalRegistry, type OpenMetricsContentType } from 'prom-client';
import { createTelemetry, metricsRegistry, renderMetrics, tokenguardMetrics, ERROR_CODES, type Telemetry } from '@tokenguard/core';
import { parseProm, sample, samplesOf, increments, type PromText } from '../../../test/helpers/prom';

const A = 'https://idp-a.example.com/';
const B = 'https://idp-b.example.com/';

async function scrape(registry: Registry<any>): Promise<PromText> {
  return parseProm(await registry.metrics());
}

function acceptOnce(t: Telemetry, issuer: string, cache: 'hit' | 'miss', seconds: number, remainingSeconds = 240): void {
  t.accepted({ issuer, cache, seconds, remainingSeconds, event: {} });
}

describe('createTelemetry metrics on a fresh registry', () => {
  it('counts accepted and rejected per configured issuer and reason, exactly', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A, B], metrics: { registry } });
    acceptOnce(t, A, 'hit', 0.000002);
    acceptOnce(t, A, 'hit', 0.000004);
    acceptOnce(t, B, 'miss', 0.0008);
    t.rejected({ issuer: A, code: 'token_expired', cache: 'miss', seconds: 0.0003, event: {} });
    t.rejected({ issuer: undefined, code: 'signature_invalid', cache: 'miss', seconds: 0.0002, event: {} });
    t.rejected({ issuer: undefined, code: 'token_missing', cache: 'miss', seconds: 0.000001, event: {} });
    const p = await scrape(registry);

    expect(sample(p, 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(2);
    expect(sample(p, 'tokenguard_validations_total', { issuer: B, outcome: 'accepted' })).toBe(1);
    expect(sample(p, 'tokenguard_validations_total', { issuer: A, outcome: 'rejected' })).toBe(1);
    expect(sample(p, 'tokenguard_validations_total', { issuer: B, outcome: 'rejected' })).toBe(0);
    expect(sample(p, 'tokenguard_validations_total', { issuer: 'unknown', outcome: 'rejected' })).toBe(2);
    expect(sample(p, 'tokenguard_rejections_total', { reason: 'token_expired' })).toBe(1);
    expect(sample(p, 'tokenguard_rejections_total', { reason: 'signature_invalid' })).toBe(1);
    expect(sample(p, 'tokenguard_rejections_total', { reason: 'token_missing' })).toBe(1);
    // Every code exists from the start (at 0), and only the codes of the table.
    const reasons = samplesOf(p, 'tokenguard_rejections_total').map((s) => s.labels.reason).sort();
    expect(reasons).toEqual([...ERROR_CODES].sort());
    expect(samplesOf(p, 'tokenguard_rejections_total').reduce((n, s) => n + s.value, 0)).toBe(3);

    expect(sample(p, 'tokenguard_verify_duration_seconds_count', { cache: 'hit' })).toBe(2);
    expect(sample(p, 'tokenguard_verify_duration_seconds_count', { cache: 'miss' })).toBe(4);
    // µs buckets: 2 µs and 1 µs fall in le=5e-06; 4 µs too.
    expect(sample(p, 'tokenguard_verify_duration_seconds_bucket', { cache: 'hit', le: '0.000005' })).toBe(2);
    expect(sample(p, 'tokenguard_verify_duration_seconds_bucket', { cache: 'miss', le: '0.000005' })).toBe(1);
    expect(sample(p, 'tokenguard_verify_duration_seconds_bucket', { cache: 'miss', le: '0.00025' })).toBe(2);
    expect(sample(p, 'tokenguard_verify_duration_seconds_bucket', { cache: 'miss', le: '0.001' })).toBe(4);
    expect(sample(p, 'tokenguard_verify_duration_seconds_sum', { cache: 'hit' })).toBeCloseTo(0.000006, 9);

    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_count', { issuer: A })).toBe(2);
    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_sum', { issuer: A })).toBe(480);
    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_bucket', { issuer: A, le: '120' })).toBe(0);
    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_bucket', { issuer: A, le: '300' })).toBe(2);
    expect(p.types.get('tokenguard_validations_total')).toBe('counter');
    expect(p.types.get('tokenguard_verify_duration_seconds')).toBe('histogram');
    expect(p.types.get('tokenguard_jwks_keys')).toBe('gauge');
  });

  it('never puts an unconfigured (unverified) issuer in a label', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    acceptOnce(t, 'https://evil.example/', 'miss', 0.001);
    t.rejected({ issuer: 'https://evil.example/', code: 'issuer_invalid', cache: 'miss', seconds: 0.0001, event: {} });
    t.jwksFetch({ issuer: 'https://evil.example/', outcome: 'error', keys: 0 });
    const text = await registry.metrics();
    expect(text).not.toContain('evil');
    const p = parseProm(text);
    expect(sample(p, 'tokenguard_validations_total', { issuer: 'unknown', outcome: 'accepted' })).toBe(1);
    expect(sample(p, 'tokenguard_validations_total', { issuer: 'unknown', outcome: 'rejected' })).toBe(1);
    expect(sample(p, 'tokenguard_jwks_fetches_total', { issuer: 'unknown', outcome: 'error' })).toBe(1);
  });

  it('starts both outcomes and the key-set fetch outcomes of each configured issuer at 0', async () => {
    const registry = new Registry();
    createTelemetry({ issuers: [A, B], metrics: { registry } });
    const p = await scrape(registry);
    expect(samplesOf(p, 'tokenguard_validations_total').map((s) => [s.labels.issuer, s.labels.outcome, s.value])).toEqual(
      expect.arrayContaining([[A, 'accepted', 0], [A, 'rejected', 0], [B, 'accepted', 0], [B, 'rejected', 0]]),
    );
    expect(samplesOf(p, 'tokenguard_validations_total')).toHaveLength(4);
    expect(samplesOf(p, 'tokenguard_jwks_fetches_total').map((s) => `${s.labels.issuer} ${s.labels.outcome} ${s.value}`).sort()).toEqual(
      [`${A} error 0`, `${A} ok 0`, `${A} stale 0`, `${B} error 0`, `${B} ok 0`, `${B} stale 0`],
    );
  });

  it('observes a negative remaining lifetime (accepted within clock tolerance) as 0', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    acceptOnce(t, A, 'miss', 0.001, -3);
    const p = await scrape(registry);
    expect(sample(p, 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(1);
    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_count', { issuer: A })).toBe(1);
    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_sum', { issuer: A })).toBe(0);
    expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_bucket', { issuer: A, le: '5' })).toBe(1);
  });
});

describe('metrics are created once per registry and shared', () => {
  it('lets several telemetries share one registry and sums their counts', async () => {
    const registry = new Registry();
    const t1 = createTelemetry({ issuers: [A], metrics: { registry } });
    const t2 = createTelemetry({ issuers: [A, B], metrics: { registry } });
    expect(tokenguardMetrics(registry)).toBe(tokenguardMetrics(registry, 'tokenguard_'));
    acceptOnce(t1, A, 'hit', 0.00001);
    acceptOnce(t2, A, 'miss', 0.001);
    acceptOnce(t2, B, 'miss', 0.001);
    const p = await scrape(registry);
    expect(sample(p, 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(2);
    expect(sample(p, 'tokenguard_validations_total', { issuer: B, outcome: 'accepted' })).toBe(1);
    // One family per metric in the text, however many telemetries.
    expect((await registry.metrics()).match(/^# TYPE tokenguard_validations_total /gm)).toHaveLength(1);
  });

  it('keeps registries and prefixes apart', async () => {
    const r1 = new Registry();
    const r2 = new Registry();
    const t1 = createTelemetry({ issuers: [A], metrics: { registry: r1 } });
    const t2 = createTelemetry({ issuers: [A], metrics: { registry: r1, prefix: 'orders_' } });
    createTelemetry({ issuers: [A], metrics: { registry: r2 } });
    acceptOnce(t1, A, 'hit', 0.00001);
    acceptOnce(t2, A, 'hit', 0.00001);
    acceptOnce(t2, A, 'hit', 0.00001);
    const p1 = await scrape(r1);
    const p2 = await scrape(r2);
    expect(sample(p1, 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(1);
    expect(sample(p1, 'orders_validations_total', { issuer: A, outcome: 'accepted' })).toBe(2);
    expect(sample(p2, 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(0);
  });

  it('reuses a same-named metric registered elsewhere, and refuses one of another type', async () => {
    const registry = new Registry();
    const foreign = new Counter({ name: 'tokenguard_rejections_total', help: 'registered by another copy', labelNames: ['reason'], registers: [registry] });
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    t.rejected({ issuer: A, code: 'token_revoked', cache: 'hit', seconds: 0.000003, event: {} });
    expect((await foreign.get()).values.find((v) => v.labels.reason === 'token_revoked')?.value).toBe(1);

    const other = new Registry();
    new Gauge({ name: 'tokenguard_validations_total', help: 'wrong type', registers: [other] });
    expect(() => createTelemetry({ issuers: [A], metrics: { registry: other } })).toThrow(TypeError);
  });

  it('uses the global registry by default and renders it', async () => {
    const before = parseProm(await globalRegistry.metrics());
    const t = createTelemetry({ issuers: [A] });
    createTelemetry({ issuers: [A], metrics: {} });
    acceptOnce(t, A, 'hit', 0.00001);
    const { contentType, body } = await renderMetrics();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(increments(before, parseProm(body), 'tokenguard_validations_total')).toEqual({ [`issuer=${A},outcome=accepted`]: 1 });
    globalRegistry.clear();
  });

  it('registers again after registry.clear() (regression: metrics silently lost between tests)', async () => {
    const registry = new Registry();
    createTelemetry({ issuers: [A], metrics: { registry } });
    registry.clear();
    expect((await registry.metrics()).trim()).toBe('');
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    acceptOnce(t, A, 'hit', 0.00001);
    expect(sample(await scrape(registry), 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(1);
  });

  it('renders an OpenMetrics registry with its own content type', async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    acceptOnce(t, A, 'miss', 0.001);
    const { contentType, body } = await renderMetrics(registry);
    expect(contentType).toMatch(/^application\/openmetrics-text/);
    expect(body.trimEnd().endsWith('# EOF')).toBe(true);
    expect(sample(parseProm(body), 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(1);
    // A second telemetry on the same registry still finds and shares the metrics after a scrape renamed them.
    const shared = tokenguardMetrics(registry);
    const t2 = createTelemetry({ issuers: [A], metrics: { registry } });
    acceptOnce(t2, A, 'miss', 0.001);
    expect(tokenguardMetrics(registry)).toBe(shared);
    expect(sample(parseProm((await renderMetrics(registry)).body), 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(2);
  });

  it('metrics: false registers nothing', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A], metrics: false });
    acceptOnce(t, A, 'hit', 0.00001);
    expect(t.auditing).toBe(false);
    expect((await registry.metrics()).trim()).toBe('');
    expect(metricsRegistry(false)).toBeUndefined();
    expect(metricsRegistry(undefined)).toBe(globalRegistry);
    expect(metricsRegistry({ registry })).toBe(registry);
  });

  it('rejects bad options with a TypeError naming them', () => {
    expect(() => metricsRegistry({ registry: {} as Registry })).toThrow(/"metrics.registry"/);
    expect(() => metricsRegistry('yes' as never)).toThrow(/"metrics"/);
    expect(() => createTelemetry({ issuers: [A], metrics: { registry: new Registry(), prefix: '9bad-' } })).toThrow(/"metrics.prefix"/);
    expect(() => createTelemetry({ issuers: 'x' as never })).toThrow(/"issuers"/);
  });
});

describe('scope denials, key sets, cache and anomalies', () => {
  it('labels scope denials by route template, bounded', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    t.scopeDenied({ route: '/orders/:id', event: {} });
    t.scopeDenied({ route: '/orders/:id', event: {} });
    t.scopeDenied({ route: undefined, event: {} });
    t.scopeDenied({ route: '/search?q=secret-stuff', event: {} });
    for (let i = 0; i < 250; i++) t.scopeDenied({ route: `/r/${i}`, event: {} });
    const text = await registry.metrics();
    expect(text).not.toContain('secret-stuff');
    const p = parseProm(text);
    expect(sample(p, 'tokenguard_scope_denials_total', { route: '/orders/:id' })).toBe(2);
    expect(sample(p, 'tokenguard_scope_denials_total', { route: 'unknown' })).toBe(1);
    expect(sample(p, 'tokenguard_scope_denials_total', { route: '/search' })).toBe(1);
    expect(samplesOf(p, 'tokenguard_scope_denials_total').length).toBeLessThanOrEqual(202);
    // 200 distinct routes at most: /orders/:id, /search and 198 of /r/*; the other 52 went to "other".
    expect(sample(p, 'tokenguard_scope_denials_total', { route: 'other' })).toBe(52);
  });

  it('counts key-set fetches, keeps the key gauge and computes the key-set age at scrape time', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A, B], metrics: { registry } });
    t.jwksFetch({ issuer: A, outcome: 'ok', keys: 2 });
    t.jwksFetch({ issuer: A, outcome: 'error', keys: 2, message: 'HTTP 500' });
    t.jwksFetch({ issuer: A, outcome: 'stale', keys: 2 });
    t.jwksFetch({ issuer: A, outcome: 'stale', keys: 2 });
    t.keySet(B, 0, undefined);
    t.keySet(A, 3, 120);
    const p = await scrape(registry);
    expect(sample(p, 'tokenguard_jwks_fetches_total', { issuer: A, outcome: 'ok' })).toBe(1);
    expect(sample(p, 'tokenguard_jwks_fetches_total', { issuer: A, outcome: 'error' })).toBe(1);
    expect(sample(p, 'tokenguard_jwks_fetches_total', { issuer: A, outcome: 'stale' })).toBe(2);
    expect(sample(p, 'tokenguard_jwks_keys', { issuer: A })).toBe(3);
    expect(sample(p, 'tokenguard_jwks_keys', { issuer: B })).toBe(0);
    const age = sample(p, 'tokenguard_jwks_age_seconds', { issuer: A })!;
    expect(age).toBeGreaterThanOrEqual(120);
    expect(age).toBeLessThan(125);
    expect(sample(p, 'tokenguard_jwks_age_seconds', { issuer: B })).toBeUndefined();
    // Static keys (age undefined) drop the series again.
    t.keySet(A, 3, undefined);
    expect(sample(await scrape(registry), 'tokenguard_jwks_age_seconds', { issuer: A })).toBeUndefined();
  });

  it('sums cache entries over every verifier of a registry', async () => {
    const registry = new Registry();
    const t1 = createTelemetry({ issuers: [A], metrics: { registry } });
    const t2 = createTelemetry({ issuers: [A], metrics: { registry } });
    t1.cacheEntries(5);
    t2.cacheEntries(3);
    expect(sample(await scrape(registry), 'tokenguard_cache_entries')).toBe(8);
    t1.cacheEntries(2);
    t2.cacheEntries(0);
    t2.cacheEntries(Number.NaN);
    expect(sample(await scrape(registry), 'tokenguard_cache_entries')).toBe(2);
  });

  it('counts anomalies by known kind, others as "other"', async () => {
    const registry = new Registry();
    const t = createTelemetry({ issuers: [A], metrics: { registry } });
    t.event({ type: 'anomaly', kind: 'token_shared', clientId: 'c1' });
    t.event({ type: 'anomaly', kind: 'made_up<script>' });
    t.event({ type: 'key.added', issuer: A, kid: 'k1' });
    const p = await scrape(registry);
    expect(sample(p, 'tokenguard_anomalies_total', { kind: 'token_shared' })).toBe(1);
    expect(sample(p, 'tokenguard_anomalies_total', { kind: 'other' })).toBe(1);
    expect(sample(p, 'tokenguard_anomalies_total', { kind: 'forgery_attempt' })).toBe(0);
    expect(await registry.metrics()).not.toContain('script');
  });
});

describe('label hygiene', () => {
  it('never exposes a token, subject, jti, client id or fingerprint', async () => {
    const registry = new Registry();
    const events: unknown[] = [];
    const t = createTelemetry({ issuers: [A], metrics: { registry }, onEvent: (e) => events.push(e) });
    const secrets = { subject: 'user-4711', jti: 'jti-secret-99', clientId: 'client-xyz', fingerprint: 'fp0123abcd', kid: 'kid-77' };
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQ3MTEifQ.c2lnbmF0dXJlLXZhbHVl';
    acceptOnce(t, A, 'miss', 0.001);
    t.accepted({ issuer: A, cache: 'hit', seconds: 0.00001, remainingSeconds: 10, event: { ...secrets, token } });
    t.rejected({ issuer: A, code: 'token_revoked', cache: 'miss', seconds: 0.001, event: { ...secrets, token, message: `bad ${token}` } });
    t.scopeDenied({ route: '/orders', event: { ...secrets, token } });
    t.event({ type: 'anomaly', kind: 'token_shared', ...secrets, token });
    const text = await registry.metrics();
    for (const value of [...Object.values(secrets), token, 'eyJ']) expect(text).not.toContain(value);
    expect(events).toHaveLength(5);
    expect(JSON.stringify(events)).not.toContain('eyJ');
  });
});

describe('hot path', () => {
  it('counts a cache-hit acceptance without calling prom-client (metrics on, no auditing)', async () => {
    // Calling prom-client's labelled children on every request cost ~1.7 µs a hit (README); the slots of
    // lib/deferred-metrics add up locally and fold into prom-client only when the registry is read.
    // Spied before the metrics exist: prom-client binds `inc` (and its children's) at construction.
    const inc = jest.spyOn(Counter.prototype as unknown as { incWithoutExemplar: (...args: unknown[]) => void }, 'incWithoutExemplar');
    try {
      const registry = new Registry();
      const t = createTelemetry({ issuers: [A, B], metrics: { registry } });
      const e = { issuer: A, cache: 'hit' as const, seconds: 0.000002, remainingSeconds: 200, event: {} };
      inc.mockClear(); // the series created at 0
      for (let i = 0; i < 1_000; i++) t.accepted(e);
      expect(inc).not.toHaveBeenCalled();
      // Nothing reached prom-client's own histogram state yet (what a labelled child's observe() writes at once).
      const hist = registry.getSingleMetric('tokenguard_verify_duration_seconds') as unknown as { hashMap: Record<string, { labels: Record<string, string>; count: number }> };
      expect(Object.values(hist.hashMap).find((x) => x.labels.cache === 'hit')?.count).toBe(0);
      const p = await scrape(registry);
      expect(sample(p, 'tokenguard_validations_total', { issuer: A, outcome: 'accepted' })).toBe(1_000);
      expect(sample(p, 'tokenguard_verify_duration_seconds_count', { cache: 'hit' })).toBe(1_000);
      expect(sample(p, 'tokenguard_token_remaining_lifetime_seconds_count', { issuer: A })).toBe(1_000);
    } finally {
      inc.mockRestore();
    }
  });
});

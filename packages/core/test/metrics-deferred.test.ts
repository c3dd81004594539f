/**
 * The hot-path slots of lib/deferred-metrics.ts must render exactly what prom-client itself renders for the
 * same updates, on every read path, across resets, without double counting.
 */
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { counterSlot, deferredCounter, deferredHistogram, histogramSlot } from '../src/lib/deferred-metrics';
import { VERIFY_DURATION_BUCKETS, REMAINING_LIFETIME_BUCKETS } from '@tokenguard/core';
import { parseProm } from '../../../test/helpers/prom';

// Same series in the same order with the same values; `_sum` may differ in the last bits (the slots add a
// batch first, prom-client one by one: floating-point addition is not associative).
function expectSameExposition(actual: string, expected: string): void {
  const a = parseProm(actual).samples;
  const e = parseProm(expected).samples;
  expect(a.map((x) => [x.name, x.labels])).toEqual(e.map((x) => [x.name, x.labels]));
  a.forEach((x, i) => {
    const want = e[i]!.value;
    if (x.name.endsWith('_sum')) expect(Math.abs(x.value - want)).toBeLessThanOrEqual(Math.abs(want) * 1e-12);
    else expect(x.value).toBe(want);
  });
}

function pair(buckets: readonly number[]) {
  const fastReg = new Registry();
  const plainReg = new Registry();
  const fast = deferredHistogram({ name: 'h_seconds', help: 'h', labelNames: ['cache'], buckets, registers: [fastReg] });
  const plain = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['cache'], buckets: [...buckets], registers: [plainReg] });
  return { fastReg, plainReg, fast, plain };
}

describe('deferred histogram', () => {
  it('renders exactly what prom-client renders for the same observations (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(VERIFY_DURATION_BUCKETS, REMAINING_LIFETIME_BUCKETS),
        fc.array(fc.tuple(fc.constantFrom('hit', 'miss'), fc.oneof(fc.double({ min: 0, max: 100_000, noNaN: true }), fc.constantFrom(0, 5, 0.001, 5e-6, 86400, 1e9))), { maxLength: 60 }),
        fc.integer({ min: 0, max: 3 }),
        async (buckets, observations, scrapeEvery) => {
          const { fastReg, plainReg, fast, plain } = pair(buckets);
          const slots = { hit: histogramSlot(fast, { cache: 'hit' }), miss: histogramSlot(fast, { cache: 'miss' }) };
          plain.zero({ cache: 'hit' });
          plain.zero({ cache: 'miss' });
          let i = 0;
          for (const [cache, value] of observations) {
            slots[cache].observe(value);
            plain.labels(cache).observe(value);
            // Scrapes in between must not lose or double anything.
            if (scrapeEvery > 0 && ++i % scrapeEvery === 0) await fastReg.metrics();
          }
          expectSameExposition(await fastReg.metrics(), await plainReg.metrics());
          expectSameExposition(await fastReg.metrics(), await plainReg.metrics());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('folds pending observations in on every read path', async () => {
    const reg = new Registry();
    const h = deferredHistogram({ name: 'x_seconds', help: 'x', labelNames: ['cache'], buckets: [1, 2], registers: [reg] });
    const slot = histogramSlot(h, { cache: 'hit' });
    slot.observe(1.5);
    const got = await h.get();
    expect(got.values.find((v) => v.metricName === 'x_seconds_count')?.value).toBe(1);
    slot.observe(0.5);
    expect(await reg.getSingleMetricAsString('x_seconds')).toContain('x_seconds_bucket{le="1",cache="hit"} 1');
    slot.observe(3);
    expect(await reg.metrics()).toContain('x_seconds_bucket{le="+Inf",cache="hit"} 3');
    expect(await reg.metrics()).toContain('x_seconds_sum{cache="hit"} 5');
  });

  it('starts a bound series at 0, survives resetMetrics, ignores non-finite values', async () => {
    const reg = new Registry();
    const h = deferredHistogram({ name: 'y_seconds', help: 'y', labelNames: ['cache'], buckets: [1], registers: [reg] });
    const slot = histogramSlot(h, { cache: 'miss' });
    expect(await reg.metrics()).toContain('y_seconds_count{cache="miss"} 0');
    slot.observe(0.5);
    slot.observe(Number.NaN);
    slot.observe(Infinity);
    reg.resetMetrics();
    slot.observe(2);
    const text = await reg.metrics();
    expect(text).toContain('y_seconds_count{cache="miss"} 1');
    expect(text).toContain('y_seconds_bucket{le="1",cache="miss"} 0');
    expect(text).toContain('y_seconds_sum{cache="miss"} 2');
  });

  it('shares one slot per label set and falls back to prom-client for foreign histograms', async () => {
    const reg = new Registry();
    const h = deferredHistogram({ name: 'z_seconds', help: 'z', labelNames: ['cache'], buckets: [1], registers: [reg] });
    expect(histogramSlot(h, { cache: 'hit' })).toBe(histogramSlot(h, { cache: 'hit' }));
    const foreign = new Histogram({ name: 'f_seconds', help: 'f', labelNames: ['cache'], buckets: [1], registers: [reg] });
    histogramSlot(foreign, { cache: 'hit' }).observe(0.5);
    expect((await foreign.get()).values.find((v) => v.metricName === 'f_seconds_count')?.value).toBe(1);
  });
});

describe('deferred counter', () => {
  it('counts exactly like prom-client, across scrapes and resets', async () => {
    const fastReg = new Registry();
    const plainReg = new Registry();
    const fast = deferredCounter({ name: 'c_total', help: 'c', labelNames: ['issuer', 'outcome'], registers: [fastReg] });
    const plain = new Counter({ name: 'c_total', help: 'c', labelNames: ['issuer', 'outcome'], registers: [plainReg] });
    const a = counterSlot(fast, { issuer: 'a', outcome: 'accepted' });
    const r = counterSlot(fast, { outcome: 'rejected', issuer: 'a' });
    expect(counterSlot(fast, { outcome: 'accepted', issuer: 'a' })).toBe(a);
    for (let i = 0; i < 25; i++) {
      a.inc();
      plain.labels('a', 'accepted').inc();
      if (i % 3 === 0) {
        r.inc();
        plain.labels('a', 'rejected').inc();
      }
      if (i % 7 === 0) expect(await fastReg.metrics()).toBe(await plainReg.metrics());
    }
    expect(await fastReg.metrics()).toBe(await plainReg.metrics());
    fastReg.resetMetrics();
    a.inc();
    expect(await fastReg.metrics()).toContain('c_total{issuer="a",outcome="accepted"} 1');
    expect((await fast.get()).values.find((v) => v.labels.outcome === 'accepted')?.value).toBe(1);
  });

  it('falls back to prom-client for a foreign counter', async () => {
    const reg = new Registry();
    const foreign = new Counter({ name: 'f_total', help: 'f', labelNames: ['reason'], registers: [reg] });
    counterSlot(foreign, { reason: 'x' }).inc();
    expect((await foreign.get()).values[0]?.value).toBe(1);
  });
});

describe('two copies of the core in one process (two installed versions, or a bundled and an installed one)', () => {
  type DeferredModule = typeof import('../src/lib/deferred-metrics');
  type CoreModule = typeof import('@tokenguard/core');

  async function otherCopy<T>(load: () => Promise<T>): Promise<T> {
    let copy: T | undefined;
    await jest.isolateModulesAsync(async () => {
      copy = await load();
    });
    return copy!;
  }

  it("hands the other copy the same slots for a metric this one created, not prom-client's children", async () => {
    const other = await otherCopy<DeferredModule>(() => import('../src/lib/deferred-metrics'));
    expect(other.counterSlot).not.toBe(counterSlot); // really a second module instance
    const reg = new Registry();
    const counter = deferredCounter({ name: 'c_total', help: 'c', labelNames: ['outcome'], registers: [reg] });
    const hist = deferredHistogram({ name: 'h_seconds', help: 'h', labelNames: ['cache'], buckets: [0.001, 1], registers: [reg] });
    const mine = counterSlot(counter, { outcome: 'accepted' });
    expect(other.counterSlot(counter, { outcome: 'accepted' })).toBe(mine);
    expect(other.histogramSlot(hist, { cache: 'hit' })).toBe(histogramSlot(hist, { cache: 'hit' }));

    // Updates through either copy, and a label set only the other copy has asked for, are each rendered once.
    mine.inc();
    other.counterSlot(counter, { outcome: 'accepted' }).inc();
    other.counterSlot(counter, { outcome: 'rejected' }).inc();
    histogramSlot(hist, { cache: 'hit' }).observe(0.0005);
    other.histogramSlot(hist, { cache: 'hit' }).observe(0.5);
    other.histogramSlot(hist, { cache: 'miss' }).observe(2);
    const text = await reg.metrics();
    expect(text).toContain('c_total{outcome="accepted"} 2');
    expect(text).toContain('c_total{outcome="rejected"} 1');
    expect(text).toContain('h_seconds_bucket{le="0.001",cache="hit"} 1');
    expect(text).toContain('h_seconds_bucket{le="1",cache="hit"} 2');
    expect(text).toContain('h_seconds_count{cache="hit"} 2');
    expect(text).toContain('h_seconds_bucket{le="1",cache="miss"} 0');
    expect(text).toContain('h_seconds_count{cache="miss"} 1');
    // Nothing is folded twice by a second scrape.
    expect(await reg.metrics()).toBe(text);
  });

  it('counts every verification of two core copies sharing one registry exactly once', async () => {
    const core = await import('@tokenguard/core');
    const other = await otherCopy<CoreModule>(() => import('@tokenguard/core'));
    expect(other.createTelemetry).not.toBe(core.createTelemetry);
    const registry = new Registry();
    const issuer = 'https://idp.example.com/';
    const first = core.createTelemetry({ issuers: [issuer], metrics: { registry } });
    const second = other.createTelemetry({ issuers: [issuer], metrics: { registry } });
    const hit = (seconds: number) => ({ issuer, cache: 'hit' as const, seconds, remainingSeconds: 240, event: {} });
    for (let i = 0; i < 3; i++) first.accepted(hit(2e-6));
    for (let i = 0; i < 4; i++) second.accepted(hit(3e-6));
    second.rejected({ issuer, code: 'token_expired', cache: 'hit', seconds: 2e-6, event: {} });
    const samples = parseProm(await registry.metrics()).samples;
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value('tokenguard_validations_total', { issuer, outcome: 'accepted' })).toBe(7);
    expect(value('tokenguard_validations_total', { issuer, outcome: 'rejected' })).toBe(1);
    expect(value('tokenguard_rejections_total', { reason: 'token_expired' })).toBe(1);
    expect(value('tokenguard_verify_duration_seconds_count', { cache: 'hit' })).toBe(8);
    expect(value('tokenguard_verify_duration_seconds_bucket', { cache: 'hit', le: '0.000005' })).toBe(8);
    expect(value('tokenguard_token_remaining_lifetime_seconds_count', { issuer })).toBe(7);
  });
});

/**
 * Hot-path counters and histograms: plain prom-client metrics whose per-request updates are first added up
 * in pre-bound slots (a number, or a small array of bucket counts) and folded into prom-client when the
 * metric is collected — on every scrape, `registry.metrics()` or `metric.get()`. A prom-client `inc()` or
 * `observe()` with labels hashes and validates the label set on every call (~150 ns each); a slot update is a
 * few nanoseconds and allocates nothing.
 *
 * Slots are shared per metric and label set (bounded by the label values, so nothing grows per verifier).
 * Only metrics created here get slots; for a metric registered elsewhere (reused by name), `counterSlot` and
 * `histogramSlot` return prom-client's own labelled child, so counts are never lost.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** A pre-bound counter child. */
export interface CounterSlot {
  inc(): void;
}

/** A pre-bound histogram child. */
export interface HistogramSlot {
  observe(value: number): void;
}

type Labels = Record<string, string>;

class PendingCount implements CounterSlot {
  n = 0;
  constructor(readonly labels: Labels) {}
  inc(): void {
    this.n++;
  }
}

class PendingObservations implements HistogramSlot {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /**
   * `bounds`: the histogram's bucket bounds, shared by its slots. A typed array, not a frozen array: V8 left indexed
   * reads of a frozen array to its generic keyed-load builtin in `observe`, ~50 ns of a ~350 ns cache hit (two
   * observations per hit).
   */
  constructor(readonly labels: Labels, readonly bounds: Float64Array) {
    // One slot per bucket plus one for values above the last bound (they only count in +Inf).
    this.counts = new Float64Array(bounds.length + 1);
  }
  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface Deferred<S> {
  readonly slots: Map<string, S>;
  readonly labelNames: readonly string[];
}

/** The slots of every deferred metric, by metric object: what `counterSlot` and `histogramSlot` look up. */
interface DeferredState {
  readonly counters: WeakMap<object, Deferred<PendingCount>>;
  readonly histograms: WeakMap<object, Deferred<PendingObservations> & { readonly bounds: Float64Array }>;
}

/**
 * Kept on the global object under a registered symbol, so every copy of this module in the process shares it. Two
 * copies of `@tokenguard/core` (two versions installed side by side, or a bundled and an installed one) share a
 * registry's metrics by name (see `reuseOrCreate` in metrics.ts); with module-local maps the copy that did not
 * create them got prom-client's own children, which hash their labels on every update: +2.5 µs per cache hit in a
 * Fastify server (bench/README.md, session 16). The key carries the slot protocol's version (the fields `collect`
 * reads: `n` and `labels`; `counts`, `sum`, `count`, `bounds` and `clear()`): a copy with another protocol must use
 * another key, and then falls back to prom-client's children (correct, only slower).
 */
const SHARED = Symbol.for('tokenguard.deferred-metrics.v1');
const shared = ((globalThis as { [SHARED]?: DeferredState })[SHARED] ??= { counters: new WeakMap(), histograms: new WeakMap() });
const { counters, histograms } = shared;

// The label set in the metric's own label order (prom-client renders labels in object order), and its key.
function normalise(labelNames: readonly string[], labels: Labels): { labels: Labels; key: string } {
  const out: Labels = {};
  let key = '';
  for (const name of labelNames) {
    const value = labels[name];
    if (value === undefined) continue;
    out[name] = value;
    key += `${name}\u0000${value}\u0001`;
  }
  return { labels: out, key };
}

// prom-client's reset() (also run by registry.resetMetrics()) must drop what is pending too.
function alsoOnReset(metric: { reset(): void }, clear: () => void): void {
  const reset = metric.reset.bind(metric);
  metric.reset = () => {
    clear();
    reset();
  };
}

/** A prom-client Counter whose slots are folded in at collect time. */
export function deferredCounter<L extends string>(config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }): Counter<L> {
  const slots = new Map<string, PendingCount>();
  const counter = new Counter<L>({
    ...config,
    collect(this: Counter<L>) {
      for (const slot of slots.values()) {
        if (slot.n === 0) continue;
        const n = slot.n;
        slot.n = 0;
        this.inc(slot.labels as Partial<Record<L, string>>, n);
      }
    },
  });
  counters.set(counter, { slots, labelNames: config.labelNames });
  alsoOnReset(counter, () => {
    for (const slot of slots.values()) slot.n = 0;
  });
  return counter;
}

/** The pre-bound child of `counter` for `labels`, shared by everyone asking for the same label set. */
export function counterSlot<L extends string>(counter: Counter<L>, labels: Record<L, string>): CounterSlot {
  const deferred = counters.get(counter);
  if (deferred === undefined) return counter.labels(labels);
  const { labels: ordered, key } = normalise(deferred.labelNames, labels);
  let slot = deferred.slots.get(key);
  if (slot === undefined) deferred.slots.set(key, (slot = new PendingCount(ordered)));
  return slot;
}

// What prom-client 15 keeps per label set of a histogram. Checked before use; anything else falls back.
interface HistogramEntry {
  labels: Labels;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

function entriesOf(h: Histogram<string>): Record<string, HistogramEntry> | undefined {
  const map = (h as unknown as { hashMap?: unknown }).hashMap;
  return map !== null && typeof map === 'object' ? (map as Record<string, HistogramEntry>) : undefined;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function entryFor(h: Histogram<string>, labels: Labels): HistogramEntry | undefined {
  const find = () => Object.values(entriesOf(h) ?? {}).find((e) => e !== null && typeof e === 'object' && sameLabels(e.labels ?? {}, labels));
  let entry = find();
  if (entry === undefined) {
    h.zero(labels);
    entry = find();
  }
  const ok = entry !== undefined && typeof entry.sum === 'number' && typeof entry.count === 'number' && entry.bucketValues !== null && typeof entry.bucketValues === 'object';
  return ok ? entry : undefined;
}

/** A prom-client Histogram whose slots are folded in at collect time. */
export function deferredHistogram<L extends string>(config: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registers: Registry[] }): Histogram<L> {
  const slots = new Map<string, PendingObservations>();
  const histogram = new Histogram<L>({
    ...config,
    buckets: [...config.buckets],
    collect(this: Histogram<L>) {
      for (const slot of slots.values()) {
        if (slot.count === 0) continue;
        const entry = entryFor(this as unknown as Histogram<string>, slot.labels);
        if (entry === undefined) continue; // cannot happen: histogramSlot only hands out slots once the shape checked out
        for (let i = 0; i < slot.bounds.length; i++) {
          const c = slot.counts[i]!;
          if (c !== 0) entry.bucketValues[slot.bounds[i]!] = (entry.bucketValues[slot.bounds[i]!] ?? 0) + c;
        }
        entry.sum += slot.sum;
        entry.count += slot.count;
        slot.clear();
      }
    },
  });
  histograms.set(histogram, { slots, labelNames: config.labelNames, bounds: Float64Array.from(config.buckets) });
  alsoOnReset(histogram, () => {
    for (const slot of slots.values()) slot.clear();
  });
  return histogram;
}

/**
 * The pre-bound child of `histogram` for `labels` (its series starts at 0 at once). Falls back to prom-client's
 * own child when the histogram is not ours or its internals are not the ones this was written against.
 */
export function histogramSlot<L extends string>(histogram: Histogram<L>, labels: Record<L, string>): HistogramSlot {
  const deferred = histograms.get(histogram);
  if (deferred === undefined) return histogram.labels(labels);
  const { labels: ordered, key } = normalise(deferred.labelNames, labels);
  let slot = deferred.slots.get(key);
  if (slot === undefined) {
    if (entryFor(histogram as unknown as Histogram<string>, ordered) === undefined) {
      histograms.delete(histogram); // unknown prom-client internals: every later slot of it goes the slow way
      return histogram.labels(labels);
    }
    deferred.slots.set(key, (slot = new PendingObservations(ordered, deferred.bounds)));
  }
  return slot;
}

/**
 * tokenguard's Prometheus metrics (prom-client, a peer dependency so there is one registry).
 *
 * Each metric is created once per registry and prefix: every verifier, guard or plugin on the same registry
 * shares the same objects, because prom-client throws on a second registration of a name. A metric of the same
 * name that something else already registered (another copy of this package, say) is reused when its type fits.
 */
import { Counter, Gauge, register as globalRegistry, type Histogram, type Registry, type RegistryContentType } from 'prom-client';
import { ERROR_CODES } from './errors.js';
import { deferredCounter, deferredHistogram } from './lib/deferred-metrics.js';

/** Default metric-name prefix. */
export const DEFAULT_METRICS_PREFIX = 'tokenguard_';

/**
 * Buckets of `tokenguard_verify_duration_seconds`: a cache hit takes microseconds, a signature check tens of
 * microseconds to a millisecond, a key-set fetch milliseconds to seconds.
 */
export const VERIFY_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5,
]);

/** Buckets of `tokenguard_token_remaining_lifetime_seconds` (seconds from acceptance to `exp`). */
export const REMAINING_LIFETIME_BUCKETS: readonly number[] = Object.freeze([
  5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400,
]);

/** `kind` values of `tokenguard_anomalies_total` (API.md usage analytics, plus key-set findings); anything else counts as `other`. */
export const ANOMALY_KINDS: readonly string[] = Object.freeze([
  'token_shared', 'rejection_burst', 'scope_probing', 'revoked_token_use', 'forgery_attempt', 'expired_token_reuse',
  // Sent by the key sources when an issuer's key set publishes a private or symmetric key.
  'jwks_private_key',
]);

/** The fixed label value used when no configured issuer applies (never an unverified `iss`). */
export const UNKNOWN_LABEL = 'unknown';
/** The label value for routes beyond {@link MAX_ROUTE_LABELS} distinct ones, and for unknown anomaly kinds. */
export const OTHER_LABEL = 'other';
/** At most this many distinct `route` label values per registry, so a misbehaving adapter cannot blow up cardinality. */
export const MAX_ROUTE_LABELS = 200;

/** A prom-client registry of either exposition format (Prometheus text or OpenMetrics). */
export type AnyRegistry = Registry<RegistryContentType>;

/** The `metrics` option of the verifier and the adapters: `false` disables metrics. */
export type MetricsOption = false | { registry?: AnyRegistry; prefix?: string } | undefined;

/** All tokenguard metrics of one registry and prefix. */
export interface TokenguardMetrics {
  readonly registry: AnyRegistry;
  readonly prefix: string;
  /** `validations_total{issuer,outcome}`. */
  readonly validations: Counter<'issuer' | 'outcome'>;
  /** `rejections_total{reason}`. */
  readonly rejections: Counter<'reason'>;
  /** `verify_duration_seconds{cache}`. */
  readonly verifyDuration: Histogram<'cache'>;
  /** `token_remaining_lifetime_seconds{issuer}`. */
  readonly remainingLifetime: Histogram<'issuer'>;
  /** `jwks_fetches_total{issuer,outcome}`. */
  readonly jwksFetches: Counter<'issuer' | 'outcome'>;
  /** `jwks_keys{issuer}`. */
  readonly jwksKeys: Gauge<'issuer'>;
  /** `jwks_age_seconds{issuer}`, computed at collect time from {@link TokenguardMetrics.jwksLastGood}. */
  readonly jwksAge: Gauge<'issuer'>;
  /** `scope_denials_total{route}`. */
  readonly scopeDenials: Counter<'route'>;
  /** `cache_entries` (the sum over every verifier on the registry). */
  readonly cacheEntries: Gauge;
  /** `anomalies_total{kind}`. */
  readonly anomalies: Counter<'kind'>;
  /** Epoch milliseconds of the last good key-set fetch per issuer label. */
  readonly jwksLastGood: Map<string, number>;
  /** Route label values seen so far (bounded by {@link MAX_ROUTE_LABELS}). */
  readonly routes: Set<string>;
}

const byRegistry = new WeakMap<AnyRegistry, Map<string, TokenguardMetrics>>();

/**
 * The registry a `metrics` option points at: undefined for `false`, the given one, else prom-client's global
 * `register`. Adapters use it for their `metricsHandler()`.
 * @example
 * const registry = metricsRegistry(options.metrics); // prom-client's `register` by default
 */
export function metricsRegistry(option: MetricsOption): AnyRegistry | undefined {
  if (option === false) return undefined;
  if (option !== undefined && (option === null || typeof option !== 'object')) {
    throw new TypeError('"metrics" must be false or an object { registry?, prefix? }');
  }
  const registry = option?.registry ?? globalRegistry;
  if (typeof (registry as Partial<AnyRegistry>).getSingleMetric !== 'function' || typeof (registry as Partial<AnyRegistry>).metrics !== 'function') {
    throw new TypeError('"metrics.registry" must be a prom-client Registry');
  }
  return registry;
}

/**
 * Renders a registry in the Prometheus text format (or OpenMetrics, if the registry is set so), ready to send.
 * @example
 * const { contentType, body } = await renderMetrics(registry);
 * res.setHeader('content-type', contentType); res.end(body);
 */
export async function renderMetrics(registry: AnyRegistry = globalRegistry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

// Registered name (after the prefix) of each metric; prom-client renames counters in place on an OpenMetrics
// scrape, so `metric.name` cannot be trusted for look-ups.
const NAMES = {
  validations: 'validations_total', rejections: 'rejections_total', verifyDuration: 'verify_duration_seconds',
  remainingLifetime: 'token_remaining_lifetime_seconds', jwksFetches: 'jwks_fetches_total', jwksKeys: 'jwks_keys',
  jwksAge: 'jwks_age_seconds', scopeDenials: 'scope_denials_total', cacheEntries: 'cache_entries', anomalies: 'anomalies_total',
} as const satisfies Partial<Record<keyof TokenguardMetrics, string>>;

function stillRegistered(m: TokenguardMetrics): boolean {
  return (Object.keys(NAMES) as (keyof typeof NAMES)[]).every((k) => m.registry.getSingleMetric(m.prefix + NAMES[k]) === (m[k] as unknown));
}

function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_METRICS_PREFIX;
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new TypeError('"metrics.prefix" must be a string of letters, digits, "_" or ":" not starting with a digit');
  }
  return prefix;
}

type MetricKind = 'counter' | 'gauge' | 'histogram';

function reuseOrCreate<T>(registry: AnyRegistry, name: string, type: MetricKind, labelNames: readonly string[], create: () => T): T {
  const existing = registry.getSingleMetric(name) as unknown as { type?: string; labelNames?: readonly string[] } | undefined;
  if (existing === undefined) return create();
  const labels = existing.labelNames ?? [];
  if (existing.type !== type || labelNames.some((l) => !labels.includes(l))) {
    throw new TypeError(`metric "${name}" is already registered with another type or other labels; use another "metrics.prefix"`);
  }
  return existing as unknown as T;
}

/**
 * The tokenguard metrics of `registry` under `prefix`, created on first use and shared from then on.
 * @example
 * const m = tokenguardMetrics(new Registry()); m.validations.labels('https://idp/', 'accepted').inc();
 */
export function tokenguardMetrics(registry: AnyRegistry = globalRegistry, prefix?: string): TokenguardMetrics {
  const p = checkPrefix(prefix);
  let perPrefix = byRegistry.get(registry);
  if (perPrefix === undefined) byRegistry.set(registry, (perPrefix = new Map()));
  const known = perPrefix.get(p);
  // After `registry.clear()` (common between tests) the cached objects are no longer registered: build again.
  if (known !== undefined && stillRegistered(known)) return known;

  const registers = [registry as Registry];
  // Kept across a rebuild, so a reused jwks_age_seconds gauge (whose collect reads this map) stays right.
  const jwksLastGood = known?.jwksLastGood ?? new Map<string, number>();
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    reuseOrCreate(registry, p + name, 'counter', labelNames, () => new Counter<L>({ name: p + name, help, labelNames, registers }));
  // Hot-path metrics: updated through pre-bound slots, folded into prom-client at collect time.
  const hotCounter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    reuseOrCreate(registry, p + name, 'counter', labelNames, () => deferredCounter<L>({ name: p + name, help, labelNames, registers }));
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: Gauge<L>) => void): Gauge<L> =>
    reuseOrCreate(registry, p + name, 'gauge', labelNames, () =>
      new Gauge<L>({ name: p + name, help, labelNames, registers, ...(collect ? { collect } : {}) }));
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> =>
    reuseOrCreate(registry, p + name, 'histogram', labelNames, () =>
      deferredHistogram<L>({ name: p + name, help, labelNames, buckets, registers }));

  const metrics: TokenguardMetrics = {
    registry,
    prefix: p,
    validations: hotCounter(NAMES.validations, 'Token validations by configured issuer and outcome (accepted|rejected); cache hits included.', ['issuer', 'outcome']),
    rejections: hotCounter(NAMES.rejections, 'Rejected requests by error code.', ['reason']),
    verifyDuration: histogram(NAMES.verifyDuration, 'Time to verify a request, by verified-token cache hit or miss.', ['cache'], VERIFY_DURATION_BUCKETS),
    remainingLifetime: histogram(NAMES.remainingLifetime, 'Seconds left until exp of accepted tokens.', ['issuer'], REMAINING_LIFETIME_BUCKETS),
    jwksFetches: counter(NAMES.jwksFetches, 'Key-set fetches by issuer and outcome (ok|error|stale: last good set kept serving).', ['issuer', 'outcome']),
    jwksKeys: gauge(NAMES.jwksKeys, 'Keys in the current key set of each issuer.', ['issuer']),
    jwksAge: gauge(NAMES.jwksAge, 'Seconds since the key set of each issuer was last fetched successfully.', ['issuer'], function collect() {
      const now = Date.now();
      for (const [issuer, at] of jwksLastGood) this.labels(issuer).set(Math.max(0, (now - at) / 1000));
    }),
    scopeDenials: counter(NAMES.scopeDenials, 'Authenticated requests denied for missing scopes, by route template.', ['route']),
    cacheEntries: gauge(NAMES.cacheEntries, 'Entries in the verified-token caches.', []),
    anomalies: counter(NAMES.anomalies, 'Usage anomalies detected, by kind.', ['kind']),
    jwksLastGood,
    routes: known?.routes ?? new Set(),
  };
  // Series that exist from the start at 0, so `increase()` in alert rules sees the first event too.
  for (const code of ERROR_CODES) metrics.rejections.labels(code).inc(0);
  for (const kind of ANOMALY_KINDS) metrics.anomalies.labels(kind).inc(0);
  perPrefix.set(p, metrics);
  return metrics;
}

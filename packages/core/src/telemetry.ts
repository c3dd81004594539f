/**
 * `createTelemetry()`: the one object through which the verifier, key sources and adapters count and audit.
 * Metrics come from {@link tokenguardMetrics} (shared per registry), events from {@link createAudit}.
 *
 * Hot path: every labelled child is bound once here (per configured issuer, per error code, per cache value) as a
 * slot that adds up locally and is folded into prom-client at scrape time (lib/deferred-metrics.ts), so
 * `accepted()` on a cache hit is three additions and, only when auditing, one event.
 */
import type { Gauge } from 'prom-client';
import type { AuditEvent, Logger } from './types.js';
import type { Telemetry } from './lib/telemetry.js';
import { noopTelemetry } from './lib/telemetry.js';
import { ERROR_TABLE, type TokenErrorCode } from './errors.js';
import { createAudit, isAuditEventType } from './lib/audit.js';
import { counterSlot, histogramSlot, type CounterSlot, type HistogramSlot } from './lib/deferred-metrics.js';
import { tokenguardMetrics, metricsRegistry, ANOMALY_KINDS, MAX_ROUTE_LABELS, OTHER_LABEL, UNKNOWN_LABEL, type TokenguardMetrics, type MetricsOption } from './metrics.js';

/** Options of {@link createTelemetry}. */
export interface TelemetryOptions {
  /** `false` disables metrics. Default: prom-client's global `register`, prefix `tokenguard_`. */
  metrics?: MetricsOption;
  /** A pino-compatible logger. */
  logger?: Logger;
  /** Called with every audit event. */
  onEvent?: (e: AuditEvent) => void;
  /** The configured issuers: the only values the `issuer` label takes (besides `unknown`). */
  issuers: readonly string[];
}

type Inc = CounterSlot;
type Observe = HistogramSlot;

interface IssuerChildren {
  readonly label: string;
  readonly accepted: Inc;
  readonly rejected: Inc;
  readonly lifetime: Observe;
}

function bindIssuer(m: TokenguardMetrics, label: string): IssuerChildren {
  // Both outcomes appear at 0 from the start, so rate() and increase() see the first request.
  m.validations.labels(label, 'accepted').inc(0);
  m.validations.labels(label, 'rejected').inc(0);
  return {
    label,
    accepted: counterSlot(m.validations, { issuer: label, outcome: 'accepted' }),
    rejected: counterSlot(m.validations, { issuer: label, outcome: 'rejected' }),
    lifetime: histogramSlot(m.remainingLifetime, { issuer: label }),
  };
}

interface Bound {
  readonly issuers: Map<string, IssuerChildren>;
  readonly hit: Observe;
  readonly miss: Observe;
  readonly reasons: Map<TokenErrorCode, Inc>;
  /** Children of a configured issuer, else of `unknown`. */
  issuer(issuer: string | undefined): IssuerChildren;
}

function bindAll(m: TokenguardMetrics, configured: readonly string[]): Bound {
  const issuers = new Map<string, IssuerChildren>();
  for (const issuer of configured) {
    issuers.set(issuer, bindIssuer(m, issuer));
    // Key-set fetch outcomes also start at 0: `increase()` in the alert rules then sees the very first failure.
    for (const outcome of ['ok', 'error', 'stale'] as const) m.jwksFetches.labels(issuer, outcome).inc(0);
  }
  const reasons = new Map<TokenErrorCode, Inc>();
  for (const code of Object.keys(ERROR_TABLE) as TokenErrorCode[]) reasons.set(code, counterSlot(m.rejections, { reason: code }));
  let unknown: IssuerChildren | undefined;
  return {
    issuers,
    hit: histogramSlot(m.verifyDuration, { cache: 'hit' }),
    miss: histogramSlot(m.verifyDuration, { cache: 'miss' }),
    reasons,
    issuer: (issuer) => (issuer !== undefined ? issuers.get(issuer) : undefined) ?? (unknown ??= bindIssuer(m, UNKNOWN_LABEL)),
  };
}

function routeLabel(m: TokenguardMetrics, route: string | undefined): string {
  if (typeof route !== 'string' || route === '') return UNKNOWN_LABEL;
  // A template never has a query; if an adapter passed a raw URL by mistake, keep the path only.
  const q = route.indexOf('?');
  const r = (q === -1 ? route : route.slice(0, q)).slice(0, 200);
  if (m.routes.has(r)) return r;
  if (m.routes.size >= MAX_ROUTE_LABELS) return OTHER_LABEL;
  m.routes.add(r);
  return r;
}

/**
 * Builds the {@link Telemetry} of one verifier. Metrics are registered once per registry and prefix and
 * shared by every verifier on it; labels only take bounded values (configured issuers or `unknown`, error
 * codes, route templates). With `metrics: false` and neither `logger` nor `onEvent`, returns the no-op.
 *
 * @example
 * const telemetry = createTelemetry({ issuers: ['https://idp.example.com/'], metrics: { registry }, logger });
 * telemetry.accepted({ issuer, cache: 'hit', seconds: 2e-6, remainingSeconds: 240, event: {} });
 */
export function createTelemetry(opts: TelemetryOptions): Telemetry {
  if (opts === null || typeof opts !== 'object' || !Array.isArray(opts.issuers) || opts.issuers.some((i) => typeof i !== 'string')) {
    throw new TypeError('"issuers" must be an array of issuer strings');
  }
  const registry = metricsRegistry(opts.metrics);
  const audit = createAudit({ logger: opts.logger, onEvent: opts.onEvent });
  if (registry === undefined && !audit.enabled) return noopTelemetry;

  const m = registry === undefined ? undefined : tokenguardMetrics(registry, opts.metrics ? opts.metrics.prefix : undefined);
  const auditing = audit.enabled;

  const b = m === undefined ? undefined : bindAll(m, opts.issuers);
  const issuerLabel = (issuer: string): string => (b !== undefined && b.issuers.has(issuer) ? issuer : UNKNOWN_LABEL);

  let cacheSize = 0;
  const withKeys = (gauge: Gauge<'issuer'>, issuer: string, keys: number): void => {
    if (Number.isFinite(keys) && keys >= 0) gauge.labels(issuerLabel(issuer)).set(keys);
  };

  return {
    auditing,

    accepted(e) {
      if (b !== undefined) {
        const c = b.issuer(e.issuer);
        c.accepted.inc();
        (e.cache === 'hit' ? b.hit : b.miss).observe(e.seconds);
        // Accepted within the clock tolerance after `exp`: count it as 0 seconds left.
        if (e.remainingSeconds > 0) c.lifetime.observe(e.remainingSeconds);
        else if (e.remainingSeconds <= 0) c.lifetime.observe(0);
      }
      if (auditing) audit.emit('token.accepted', e.event);
    },

    rejected(e) {
      if (b !== undefined) {
        b.issuer(e.issuer).rejected.inc();
        (e.cache === 'hit' ? b.hit : b.miss).observe(e.seconds);
        const reason = b.reasons.get(e.code);
        if (reason !== undefined) reason.inc();
        else audit.warnOnce(`reason:${String(e.code).slice(0, 40)}`, { code: String(e.code).slice(0, 40) }, 'rejection with an unknown code not counted in rejections_total');
      }
      if (auditing) audit.emit('token.rejected', e.event.code === undefined ? { ...e.event, code: e.code } : e.event);
    },

    scopeDenied(e) {
      if (m !== undefined) m.scopeDenials.labels(routeLabel(m, e.route)).inc();
      // A 403 is a rejection too: `rejections_total{reason="insufficient_scope"}` counts it (the token itself
      // was valid, so `validations_total` keeps it under `accepted`).
      b?.reasons.get('insufficient_scope')?.inc();
      if (auditing) audit.emit('scope.denied', e.event.route === undefined && e.route !== undefined ? { ...e.event, route: e.route } : e.event);
    },

    jwksFetch(e) {
      // Metrics only: the key source sends the jwks.refreshed / jwks.failed event (with added/removed counts).
      if (m !== undefined) {
        const label = issuerLabel(e.issuer);
        m.jwksFetches.labels(label, e.outcome).inc();
        withKeys(m.jwksKeys, e.issuer, e.keys);
        if (e.outcome === 'ok') m.jwksLastGood.set(label, Date.now());
      }
    },

    event(e) {
      if (m !== undefined && e.type === 'anomaly') {
        const kind = typeof e.kind === 'string' && ANOMALY_KINDS.includes(e.kind) ? e.kind : OTHER_LABEL;
        m.anomalies.labels(kind).inc();
      }
      if (auditing) {
        const { type, ...fields } = e;
        if (isAuditEventType(type)) audit.emit(type, fields);
      }
    },

    keySet(issuer, keys, ageSeconds) {
      if (m === undefined) return;
      withKeys(m.jwksKeys, issuer, keys);
      const label = issuerLabel(issuer);
      if (ageSeconds === undefined || !Number.isFinite(ageSeconds)) {
        if (m.jwksLastGood.delete(label)) m.jwksAge.remove(label);
      } else {
        m.jwksLastGood.set(label, Date.now() - Math.max(0, ageSeconds) * 1000);
      }
    },

    cacheEntries(n) {
      if (m === undefined || !Number.isFinite(n) || n < 0) return;
      // The gauge is the sum over every verifier on the registry: each one adds its own change.
      m.cacheEntries.inc(n - cacheSize);
      cacheSize = n;
    },

    warnOnce(key, obj, msg) {
      audit.warnOnce(key, obj, msg);
    },
  };
}

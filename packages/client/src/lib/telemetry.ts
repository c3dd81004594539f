import { createRequire } from 'node:module';
import type { TokenUnavailableCode } from '../errors.js';

/** A pino-compatible logger: each level takes `(obj, msg)`. Every level is optional. */
export interface ClientLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/** What happened to a provider's token. */
export type TokenEventType = 'token.fetched' | 'token.refresh_failed' | 'token.unavailable';

/**
 * An event of a token provider. Never carries a token or a secret: `fingerprint` is a short hash of the token.
 * - `token.fetched`: a new token was obtained.
 * - `token.refresh_failed`: a refresh ahead of expiry failed; the current token (`fingerprint`) keeps being
 *   served until `expiresAt`.
 * - `token.unavailable`: no valid token could be had; `getToken()` rejected with `code`.
 */
export interface TokenEvent {
  type: TokenEventType;
  time: Date;
  clientId: string;
  /** The token endpoint (once known). */
  tokenUrl: string | undefined;
  /** Fingerprint of the new token (`token.fetched`) or of the token still served (`token.refresh_failed`). */
  fingerprint?: string;
  /** When the token stops being handed out (its expiry minus the safety margin). */
  expiresAt?: Date;
  /** Seconds the new token is valid for (`token.fetched`). */
  lifetimeSeconds?: number;
  /** Token requests made for this outcome. */
  attempts: number;
  /** Failure reason (`token.refresh_failed`, `token.unavailable`). */
  code?: TokenUnavailableCode;
  /** HTTP status of the last answer, if any. */
  status?: number;
  /** OAuth `error` of the last answer, if any. */
  error?: string;
  /** Human-readable reason. */
  message?: string;
}

/** The part of a prom-client `Registry` the client uses (structural, so prom-client stays an optional peer). */
export interface MetricsRegistry {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: unknown): void;
}

/** Metrics options: `true` uses prom-client's default registry. */
export interface ClientMetricsOptions {
  /** A prom-client `Registry`. Default: prom-client's global `register`. */
  registry?: MetricsRegistry;
  /** Metric name prefix. Default `'tokenguard_'`. */
  prefix?: string;
}

interface CounterLike { inc(labels: Record<string, string>, value?: number): void }
interface HistogramLike { observe(value: number): void }
interface PromClient {
  register: MetricsRegistry;
  Counter: new (cfg: object) => CounterLike;
  Histogram: new (cfg: object) => HistogramLike;
}

/** Outcome label of `token_fetches_total`: one per token request. */
export type FetchOutcome = 'ok' | 'error' | 'retry';

/** Where the provider reports to: metrics, logger, onEvent. */
export interface ClientTelemetry {
  fetchAttempt(outcome: FetchOutcome): void;
  refreshStarted(validitySeconds: number): void;
  emit(event: TokenEvent): void;
  warnOnce(key: string, obj: object, msg: string): void;
}

/** Buckets (seconds of validity left when a refresh starts), from "already expired" to an hour. */
const VALIDITY_BUCKETS = [0, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

function loadPromClient(): PromClient {
  try {
    // prom-client is an optional peer: loaded only when metrics are asked for.
    return createRequire(import.meta.url)('prom-client') as PromClient;
  } catch (cause) {
    throw new TypeError('"metrics" needs the optional peer dependency prom-client (npm install prom-client)', { cause });
  }
}

function metricsOf(options: boolean | ClientMetricsOptions | undefined): { fetches: CounterLike; validity: HistogramLike } | undefined {
  if (options === undefined || options === false) return undefined;
  if (options !== true && (typeof options !== 'object' || options === null)) throw new TypeError('"metrics" must be a boolean or { registry, prefix }');
  const opts = options === true ? {} : options;
  if (opts.prefix !== undefined && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(opts.prefix)) throw new TypeError('"metrics.prefix" must be a valid Prometheus name prefix');
  const pc = loadPromClient();
  const registry = opts.registry ?? pc.register;
  if (typeof registry?.getSingleMetric !== 'function') throw new TypeError('"metrics.registry" must be a prom-client Registry');
  const prefix = opts.prefix ?? 'tokenguard_';
  const fetchesName = `${prefix}client_token_fetches_total`;
  const validityName = `${prefix}client_token_validity_at_refresh_seconds`;
  // One metric per registry: several providers share it (prom-client throws on a second registration).
  const fetches = (registry.getSingleMetric(fetchesName) as CounterLike | undefined) ??
    new pc.Counter({ name: fetchesName, help: 'Token requests to the token endpoint, by outcome (retry: failed, will be retried)', labelNames: ['outcome'], registers: [registry] });
  const validity = (registry.getSingleMetric(validityName) as HistogramLike | undefined) ??
    new pc.Histogram({ name: validityName, help: 'Seconds of validity the current token had left when a refresh started', buckets: VALIDITY_BUCKETS, registers: [registry] });
  for (const outcome of ['ok', 'error', 'retry']) fetches.inc({ outcome }, 0);
  return { fetches, validity };
}

const LEVEL: Record<TokenEventType, 'debug' | 'warn' | 'error'> = {
  'token.fetched': 'debug',
  'token.refresh_failed': 'warn',
  'token.unavailable': 'error',
};

const MESSAGE: Record<TokenEventType, string> = {
  'token.fetched': 'access token fetched',
  'token.refresh_failed': 'token refresh failed; serving the current token until it expires',
  'token.unavailable': 'no access token available',
};

/** Builds the telemetry of one provider. Throws a `TypeError` for bad `metrics` options. */
export function createClientTelemetry(opts: {
  metrics?: boolean | ClientMetricsOptions | undefined;
  logger?: ClientLogger | undefined;
  onEvent?: ((event: TokenEvent) => void) | undefined;
}): ClientTelemetry {
  const metrics = metricsOf(opts.metrics);
  const { logger, onEvent } = opts;
  const warned = new Set<string>();
  const log = (level: 'debug' | 'info' | 'warn' | 'error', obj: object, msg: string): void => {
    const fn = logger?.[level] ?? (level === 'debug' ? logger?.info : undefined);
    try {
      fn?.call(logger, obj, msg);
    } catch {
      // a broken logger must not break token delivery
    }
  };
  return {
    fetchAttempt: (outcome) => metrics?.fetches.inc({ outcome }),
    refreshStarted: (seconds) => metrics?.validity.observe(Math.max(0, seconds)),
    emit(event) {
      // pino adds its own `time`; the rest of the event is safe to log as it is (no token, no secret).
      const { time: _time, ...fields } = event;
      log(LEVEL[event.type], fields, MESSAGE[event.type]);
      try {
        onEvent?.(event);
      } catch {
        // a throwing onEvent must not break token delivery
      }
    },
    warnOnce(key, obj, msg) {
      if (warned.has(key)) return;
      warned.add(key);
      log('warn', obj, msg);
    },
  };
}

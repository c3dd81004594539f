import type { AuditEvent } from '../types.js';
import type { TokenErrorCode } from '../errors.js';

/**
 * The one place metrics and audit events go through. Built once per verifier by `createTelemetry()`
 * (metrics.ts + audit.ts); the verifier, the key sources and the adapters call it and never touch prom-client
 * or the logger themselves.
 */
export interface Telemetry {
  /**
   * True when audit events go somewhere (`logger` or `onEvent` set). When false, callers may pass one shared
   * empty object as `event` instead of building one per request. Undefined counts as true.
   */
  readonly auditing?: boolean;
  /** A token was accepted (counted once per request, cached or not). */
  accepted(e: { issuer: string; cache: 'hit' | 'miss'; seconds: number; remainingSeconds: number; event: Omit<AuditEvent, 'type' | 'time'> }): void;
  /** A request was rejected. `issuer` is a configured issuer or undefined (never an unverified `iss`). */
  rejected(e: { issuer: string | undefined; code: TokenErrorCode; cache: 'hit' | 'miss'; seconds: number; event: Omit<AuditEvent, 'type' | 'time'> }): void;
  /** A route's scope requirement denied an authenticated request. `route` is a template, never a raw URL. */
  scopeDenied(e: { route: string | undefined; event: Omit<AuditEvent, 'type' | 'time'> }): void;
  /**
   * One key-set fetch finished (metrics only). `stale` means the last good set kept serving after a failure.
   * The matching `jwks.refreshed` / `jwks.failed` audit events go through `event()`.
   */
  jwksFetch(e: { issuer: string; outcome: 'ok' | 'error' | 'stale'; keys: number; message?: string }): void;
  /**
   * Key-set change and health events (`key.added`, `key.removed`, `jwks.refreshed`, `jwks.failed`, `anomaly`).
   * An `anomaly` with a `kind` also counts `anomalies_total{kind}`.
   */
  event(e: Omit<AuditEvent, 'time'>): void;
  /** Current number of keys and age (seconds since last good fetch) of an issuer's key set. */
  keySet(issuer: string, keys: number, ageSeconds: number | undefined): void;
  /** Current size of the verified-token cache. */
  cacheEntries(n: number): void;
  /** Logs once per key (e.g. non-loopback http:// issuer). */
  warnOnce(key: string, obj: object, msg: string): void;
}

/** A Telemetry that does nothing (metrics: false and no logger/onEvent). */
export const noopTelemetry: Telemetry = {
  auditing: false,
  accepted() {}, rejected() {}, scopeDenied() {}, jwksFetch() {}, event() {}, keySet() {}, cacheEntries() {}, warnOnce() {},
};

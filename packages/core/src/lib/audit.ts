/**
 * Audit events: one {@link AuditEvent} per acceptance, rejection, scope denial and key-set event, to the user's
 * `onEvent` and, at a level fitting the event, to a pino-shaped logger.
 *
 * Levels: `token.accepted` goes to `logger.debug` only (when the logger has one) — an info line per request
 * would flood the logs and cost the hot path; rejections, scope denials, refreshes and key changes are `info`;
 * `jwks.failed` and `anomaly` are `warn`.
 *
 * Nothing here may break verification: a throwing (or rejecting) `onEvent` or logger is caught, reported once
 * through `logger.warn` (itself guarded, never through `onEvent` again) and otherwise ignored.
 */
import type { AuditEvent, AuditEventType, Logger } from '../types.js';

/** Fields of an event as the verifier hands them over (`type` and `time` are added here). */
export type AuditFields = Omit<AuditEvent, 'type' | 'time'>;

/** What the telemetry uses to emit events. */
export interface Audit {
  /** True when events go anywhere (an `onEvent` or a logger is set): callers skip building fields otherwise. */
  readonly enabled: boolean;
  /** Emits one event. Never throws. */
  emit(type: AuditEventType, fields: AuditFields): void;
  /** Logs `msg` at warn once per `key` (bounded). Never throws. */
  warnOnce(key: string, obj: object, msg: string): void;
}

type Level = 'debug' | 'info' | 'warn';

const LEVELS: Record<AuditEventType, Level> = {
  'token.accepted': 'debug',
  'token.rejected': 'info',
  'scope.denied': 'info',
  'jwks.refreshed': 'info',
  'jwks.failed': 'warn',
  'key.added': 'info',
  'key.removed': 'info',
  anomaly: 'warn',
};

const MESSAGES: Record<AuditEventType, string> = {
  'token.accepted': 'token accepted',
  'token.rejected': 'token rejected',
  'scope.denied': 'scope denied',
  'jwks.refreshed': 'key set refreshed',
  'jwks.failed': 'key set fetch failed',
  'key.added': 'key added',
  'key.removed': 'key removed',
  anomaly: 'usage anomaly',
};

// Fields that must never reach an event, whatever a caller passes by mistake.
const FORBIDDEN = new Set(['token', 'access_token', 'accessToken', 'authorization', 'secret', 'client_secret', 'clientSecret', 'password', 'd', 'k']);
// A compact JWS/JWE (two or four dots, base64url segments) anywhere in a string value.
const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
/** Longest string value kept in an event; longer ones are cut. */
const MAX_STRING = 512;
/** warnOnce remembers at most this many keys. */
const MAX_ONCE_KEYS = 1000;

/** True for the event types of API.md. */
export function isAuditEventType(value: unknown): value is AuditEventType {
  return typeof value === 'string' && Object.hasOwn(LEVELS, value);
}

function clean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const cut = value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
  return cut.includes('.') ? cut.replace(JWT_LIKE, '[redacted]') : cut;
}

function swallow(result: unknown): void {
  // An async handler's rejection would otherwise be an unhandled rejection and take the process down.
  if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
    (result as Promise<unknown>).then(undefined, () => {});
  }
}

/**
 * Builds the event emitter for a `logger` and/or `onEvent`; with neither, `enabled` is false and `emit` does nothing.
 * @example
 * const audit = createAudit({ logger: pino(), onEvent: (e) => queue.push(e) });
 * audit.emit('token.rejected', { issuer, code: 'token_expired', fingerprint });
 */
export function createAudit(opts: { logger?: Logger | undefined; onEvent?: ((e: AuditEvent) => void) | undefined }): Audit {
  const { logger, onEvent } = opts;
  if (logger !== undefined && (logger === null || typeof logger !== 'object' || typeof logger.info !== 'function' || typeof logger.warn !== 'function')) {
    throw new TypeError('"logger" must be a pino-compatible logger with info(obj, msg) and warn(obj, msg)');
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') throw new TypeError('"onEvent" must be a function');

  const once = new Set<string>();
  const warn = (obj: object, msg: string): void => {
    try {
      swallow(logger?.warn(obj, msg));
    } catch {
      // A logger that throws gets no second chance to throw: nothing else to do.
    }
  };
  const warnOnce = (key: string, obj: object, msg: string): void => {
    if (logger === undefined || once.has(key) || once.size >= MAX_ONCE_KEYS) return;
    once.add(key);
    warn(obj, msg);
  };

  if (logger === undefined && onEvent === undefined) {
    return { enabled: false, emit() {}, warnOnce() {} };
  }

  const hasDebug = typeof logger?.debug === 'function';
  const maybeLevel = (logger as { isLevelEnabled?: unknown } | undefined)?.isLevelEnabled;
  const isLevelEnabled = typeof maybeLevel === 'function' ? (maybeLevel as (this: Logger, level: string) => boolean) : undefined;
  let handlerFailures = 0;
  let lastMs = 0;
  let lastIso = '';

  return {
    enabled: true,
    warnOnce,
    emit(type, fields) {
      if (!isAuditEventType(type)) return;
      const level = LEVELS[type];
      // pino's `isLevelEnabled` lets a logger at info skip building the per-request debug event entirely.
      const toLogger = logger !== undefined && (level !== 'debug' || (hasDebug && (isLevelEnabled === undefined || isLevelEnabled.call(logger, 'debug'))));
      if (!toLogger && onEvent === undefined) return;
      const now = Date.now();
      // Formatting a date costs more than the rest of the event: reuse it within the same millisecond.
      if (now !== lastMs) {
        lastMs = now;
        lastIso = new Date(now).toISOString();
      }
      const event: AuditEvent = { type, time: lastIso };
      for (const key in fields) {
        if (!Object.hasOwn(fields, key) || FORBIDDEN.has(key)) continue;
        const value = clean(fields[key]);
        if (value !== undefined) event[key] = value;
      }
      if (onEvent !== undefined) {
        try {
          swallow(onEvent(event));
        } catch (err) {
          if (handlerFailures++ === 0) {
            warn({ type: 'audit.handler_failed', error: err instanceof Error ? err.name : typeof err }, 'onEvent threw; events keep flowing, the error is ignored');
          }
        }
      }
      if (toLogger && logger !== undefined) {
        // pino writes its own `time`; a second one would make a duplicate JSON key.
        const { time: _time, ...line } = event;
        try {
          swallow(logger[level]?.(line, type === 'token.rejected' && fields.code !== undefined ? `${MESSAGES[type]}: ${String(fields.code)}` : MESSAGES[type]));
        } catch {
          // Logging must never break verification.
        }
      }
    },
  };
}

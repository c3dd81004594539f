import { TokenUnavailableError } from './errors.js';
import { discoverTokenEndpoint } from './lib/discovery.js';
import { fingerprint } from './lib/fingerprint.js';
import type { HttpLimits } from './lib/http.js';
import { jwtExpiry } from './lib/jwt-expiry.js';
import { resolveOptions, type RequestOptionsInput } from './lib/options.js';
import { withRetry } from './lib/retry.js';
import { createClientTelemetry, type ClientLogger, type ClientMetricsOptions, type TokenEvent } from './lib/telemetry.js';
import { requestToken } from './lib/token-request.js';
import { isInvalidTokenChallenge } from './lib/www-authenticate.js';

/**
 * Options of {@link createTokenProvider}. Give exactly one of `tokenUrl` and `issuer`.
 * Durations are seconds (number) or strings with a unit (`'500ms'`, `'30s'`, `'10m'`).
 */
export interface TokenProviderOptions extends RequestOptionsInput {
  /** prom-client metrics: `true` (default registry) or `{ registry, prefix }`. Default off. */
  metrics?: boolean | ClientMetricsOptions;
  /** A pino-compatible logger. Default none. */
  logger?: ClientLogger;
  /** Called with every {@link TokenEvent}. Exceptions it throws are ignored. */
  onEvent?: (event: TokenEvent) => void;
  /** The fetch used for the token endpoint and `tokens.fetch`. Default the global `fetch`. */
  fetch?: typeof globalThis.fetch;
}

/** A source of access tokens for one client, scope set and audience. */
export interface TokenProvider {
  /** The client id (the secret is not exposed). */
  readonly clientId: string;
  /**
   * A valid access token: the cached one, or a new one (one request in flight however many callers wait).
   * Rejects with a {@link TokenUnavailableError} when none can be had.
   */
  getToken(): Promise<string>;
  /**
   * `fetch` with `Authorization: Bearer <token>`. On a 401 whose `WWW-Authenticate` says
   * `error="invalid_token"`, gets a new token and retries once, if the body can be sent again
   * (none, string, URLSearchParams, Blob, FormData, ArrayBuffer or typed array). At most one such forced
   * refresh per `forcedRefreshCooldown`; within it a 401 for the current token is returned as it is.
   * A 403 is never retried.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Drops the cached token (only if it is `token`, when given), so the next `getToken()` fetches a new one. */
  invalidate(token?: string): void;
  /** Stops timers and aborts requests in flight; `getToken()` then rejects with code `closed`. */
  close(): Promise<void>;
}

interface CachedToken {
  token: string;
  fingerprint: string;
  receivedAt: number;
  /** The token's real expiry (ms): the earlier of `expires_in` and the JWT `exp`. */
  expiresAt: number;
  /** Last instant it is handed out: `expiresAt` minus the safety margin. */
  usableUntil: number;
  /** When to refresh ahead of expiry (jittered). */
  refreshAt: number;
}

/** setTimeout's largest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;
const noop = (): void => undefined;
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

function replayableBody(input: string | URL | Request, init: RequestInit | undefined): boolean {
  const body = init?.body;
  if (body === undefined && input instanceof Request) return input.body === null;
  return body === undefined || body === null || typeof body === 'string' || body instanceof URLSearchParams ||
    body instanceof Blob || body instanceof FormData || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

/**
 * Creates a token provider: client-credentials tokens on demand, cached in memory, refreshed ahead of
 * expiry with jitter, retried with backoff, never handed out expired. Providers share nothing.
 * Throws a `TypeError` naming a bad option.
 *
 * @example
 * const tokens = createTokenProvider({ tokenUrl, clientId, clientSecret, scopes: ['orders:read'], audience: 'orders-api' });
 * const res = await tokens.fetch('http://orders/api/orders');
 * await tokens.close();
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const cfg = resolveOptions(options);
  const telemetry = createClientTelemetry(options);
  const fetchImpl: typeof globalThis.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  if (typeof fetchImpl !== 'function') throw new TypeError('"fetch" must be a function');
  const clientId = cfg.request.clientId;
  const lifecycle = new AbortController();
  const limits: HttpLimits = { fetch: fetchImpl, timeoutMs: cfg.timeoutMs, maxBytes: 64 * 1024, signal: lifecycle.signal };

  let tokenUrl = cfg.tokenUrl;
  let current: CachedToken | undefined;
  let inflight: Promise<CachedToken> | undefined;
  let lastFailure: { error: TokenUnavailableError; at: number } | undefined;
  let nextBackgroundAttempt = 0;
  let lastUseAt = 0;
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function warnIfPlainHttp(url: string): void {
    const { protocol, hostname } = new URL(url);
    if (protocol === 'http:' && !LOOPBACK.test(hostname)) {
      telemetry.warnOnce(`http:${url}`, { clientId, tokenUrl: url }, 'the client secret goes to a non-loopback http:// token endpoint; use https unless TLS is terminated on the way');
    }
  }
  if (tokenUrl !== undefined) warnIfPlainHttp(tokenUrl);

  const event = (e: Omit<TokenEvent, 'time' | 'clientId' | 'tokenUrl'>): void =>
    telemetry.emit({ time: new Date(), clientId, tokenUrl, ...e });

  function schedule(at: number): void {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onTimer, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())));
    timer.unref();
  }

  function onTimer(): void {
    timer = undefined;
    const c = current;
    if (lifecycle.signal.aborted || !c) return;
    const now = Date.now();
    if (now < c.refreshAt || now < nextBackgroundAttempt) return schedule(Math.max(c.refreshAt, nextBackgroundAttempt));
    // Idle providers stop refreshing: only when a token was asked for during this token's lifetime or the one before.
    if (now < c.usableUntil && lastUseAt >= c.receivedAt - (c.expiresAt - c.receivedAt)) refresh().catch(noop);
  }

  /** Turns an answer into a cached token, or throws if it cannot be handed out at all. */
  function cache(token: string, expiresIn: number | undefined, expiresInGarbage: boolean, requestedAt: number): CachedToken {
    const candidates: number[] = [];
    if (expiresIn !== undefined) candidates.push(requestedAt + expiresIn * 1000);
    const exp = jwtExpiry(token);
    if (exp !== undefined) candidates.push(exp * 1000);
    if (expiresInGarbage) telemetry.warnOnce('expires_in', { clientId, tokenUrl }, 'token endpoint sent an unusable expires_in; using the JWT exp or defaultLifetime');
    if (candidates.length === 0) candidates.push(requestedAt + cfg.defaultLifetimeMs);
    const expiresAt = Math.min(...candidates);
    const lifetime = expiresAt - requestedAt;
    const usableUntil = expiresAt - Math.min(cfg.expiryMarginMs, lifetime / 5);
    const now = Date.now();
    if (usableUntil <= now) {
      throw new TokenUnavailableError('invalid_response', 'token endpoint issued a token that expires on arrival (check clock skew and token lifetime)');
    }
    const share = cfg.refreshAhead + (Math.random() * 2 - 1) * cfg.refreshJitter;
    const refreshAt = Math.min(requestedAt + lifetime * share, usableUntil - (usableUntil - requestedAt) * 0.05);
    return { token, fingerprint: fingerprint(token), receivedAt: now, expiresAt, usableUntil, refreshAt };
  }

  async function attempt(): Promise<CachedToken> {
    if (tokenUrl === undefined) {
      tokenUrl = await discoverTokenEndpoint(cfg.issuer!, limits);
      warnIfPlainHttp(tokenUrl);
    }
    const requestedAt = Date.now();
    const answer = await requestToken({ ...cfg.request, tokenUrl }, limits);
    return cache(answer.accessToken, answer.expiresIn, answer.expiresInGarbage, requestedAt);
  }

  function explain(err: TokenUnavailableError, previous: CachedToken | undefined): TokenUnavailableError {
    if (!previous) return err;
    const expiredAt = new Date(previous.usableUntil);
    return new TokenUnavailableError(err.code, `no valid access token: the last one expired at ${expiredAt.toISOString()} and a new one could not be had: ${err.message}`, {
      status: err.status, error: err.error, errorDescription: err.errorDescription, attempts: err.attempts,
      retryAfter: err.retryAfter, retryable: err.retryable, cause: err.cause, expiredAt,
    });
  }

  /** Fetches a new token; single flight. */
  function refresh(): Promise<CachedToken> {
    if (inflight) return inflight;
    const previous = current;
    if (previous) telemetry.refreshStarted((previous.expiresAt - Date.now()) / 1000);
    inflight = (async () => {
      try {
        const { value, attempts } = await withRetry(attempt, cfg.retry, lifecycle.signal, () => telemetry.fetchAttempt('retry'));
        telemetry.fetchAttempt('ok');
        if (lifecycle.signal.aborted) throw new TokenUnavailableError('closed', 'the token provider was closed');
        current = value;
        lastFailure = undefined;
        nextBackgroundAttempt = 0;
        event({ type: 'token.fetched', fingerprint: value.fingerprint, expiresAt: new Date(value.usableUntil), lifetimeSeconds: (value.expiresAt - value.receivedAt) / 1000, attempts });
        schedule(value.refreshAt);
        return value;
      } catch (caught) {
        const err = caught instanceof TokenUnavailableError ? caught : new TokenUnavailableError('invalid_response', 'token request failed', { cause: caught });
        if (err.code === 'closed') throw err;
        telemetry.fetchAttempt('error');
        const now = Date.now();
        const failure = { code: err.code, attempts: err.attempts ?? 1, message: err.message, ...(err.status ? { status: err.status } : {}), ...(err.error ? { error: err.error } : {}) };
        const served = current;
        if (served && now < served.usableUntil) {
          // Keep serving the current token until its own expiry; try again in a while.
          nextBackgroundAttempt = now + Math.min(cfg.retry.maxDelayMs || 1000, (served.usableUntil - now) / 2);
          event({ type: 'token.refresh_failed', fingerprint: served.fingerprint, expiresAt: new Date(served.usableUntil), ...failure });
          schedule(nextBackgroundAttempt);
          throw err;
        }
        const final = explain(err, previous);
        lastFailure = { error: final, at: now };
        event({ type: 'token.unavailable', ...failure, message: final.message });
        throw final;
      }
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  async function getToken(): Promise<string> {
    if (lifecycle.signal.aborted) throw new TokenUnavailableError('closed', 'the token provider was closed');
    const now = Date.now();
    lastUseAt = now;
    const c = current;
    if (c && now < c.usableUntil) {
      if (now >= c.refreshAt && now >= nextBackgroundAttempt) refresh().catch(noop);
      return c.token;
    }
    if (!inflight && lastFailure && now - lastFailure.at < cfg.failureCooldownMs) {
      const e = lastFailure.error;
      throw new TokenUnavailableError(e.code, e.message, {
        status: e.status, error: e.error, errorDescription: e.errorDescription, attempts: 0, retryAfter: e.retryAfter, retryable: e.retryable, cause: e, expiredAt: e.expiredAt,
      });
    }
    const fetched = await refresh();
    if (Date.now() < fetched.usableUntil) return fetched.token;
    // A token that arrived with little life left (a whole-second exp) ran out while this call waited for it (a busy
    // event loop): fetch once more rather than hand out a token that is already expired.
    return (await refresh()).token;
  }

  function invalidate(token?: string): void {
    if (current && (token === undefined || current.token === token)) {
      current = undefined;
      nextBackgroundAttempt = 0;
    }
  }

  function send(input: string | URL | Request, init: RequestInit | undefined, token: string): Promise<Response> {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set('authorization', `Bearer ${token}`);
    return fetchImpl(input, { ...init, headers });
  }

  async function authorizedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const token = await getToken();
    const res = await send(input, init, token);
    if (res.status !== 401 || !isInvalidTokenChallenge(res.headers.get('www-authenticate')) || !replayableBody(input, init)) return res;
    if (current?.token === token) {
      // A downstream that rejects every token must not turn each call into a token request.
      if (Date.now() - lastForcedAt < cfg.forcedRefreshCooldownMs) return res;
      lastForcedAt = Date.now();
      invalidate(token);
    } // else the rejected token was already replaced (or is being replaced): use the new one
    await res.body?.cancel().catch(noop);
    return send(input, init, await getToken());
  }

  async function close(): Promise<void> {
    lifecycle.abort();
    if (timer) clearTimeout(timer);
    timer = undefined;
    current = undefined;
    await inflight?.catch(noop);
  }

  return { clientId, getToken, fetch: authorizedFetch, invalidate, close };
}

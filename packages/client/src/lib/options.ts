import { durationMs, type Duration } from './duration.js';
import type { RetryPolicy } from './retry.js';
import type { TokenRequest } from './token-request.js';

/** Retry options of the token request. `false` disables retries. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** First backoff. Default `'200ms'`; each retry doubles it, with jitter. */
  minDelay?: Duration;
  /** Largest single backoff; also caps a `Retry-After`. Default `'5s'`. */
  maxDelay?: Duration;
  /** No retry starts later than this after the first attempt. Default `'20s'`. */
  maxElapsed?: Duration;
}

/** Token-request settings every provider resolves from its options (validated). */
export interface ResolvedOptions {
  request: Omit<TokenRequest, 'tokenUrl'>;
  tokenUrl: string | undefined;
  issuer: string | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
  refreshAhead: number;
  refreshJitter: number;
  expiryMarginMs: number;
  defaultLifetimeMs: number;
  failureCooldownMs: number;
  forcedRefreshCooldownMs: number;
}

/**
 * What a provider asks for and how it fetches, refreshes and retries (validated by `createTokenProvider`).
 * Give exactly one of `tokenUrl` and `issuer`. Durations are seconds (number) or strings with a unit
 * (`'500ms'`, `'30s'`, `'10m'`).
 */
export interface RequestOptionsInput {
  /** The token endpoint, e.g. `'https://issuer.example/oauth/token'`. */
  tokenUrl?: string;
  /** The issuer; its `token_endpoint` is found by OIDC discovery, then RFC 8414 metadata. */
  issuer?: string;
  /** The client id. */
  clientId: string;
  /** The client secret. Never logged, never put in an error or event. */
  clientSecret: string;
  /** Scopes to ask for: an array or a space-delimited string. Default: none (the server's default). */
  scopes?: string | readonly string[];
  /** The audience: sent as RFC 8707 `resource` when an absolute URI, otherwise as `audience`. */
  audience?: string;
  /** RFC 8707 resource indicator(s), absolute URIs. */
  resource?: string | readonly string[];
  /** How the client authenticates. Default `'client_secret_basic'`. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Extra form parameters for the token request. Default none. */
  extraParams?: Record<string, string>;
  /** Refresh when this fraction of the lifetime has passed. Default 0.8. */
  refreshAhead?: number;
  /** ± jitter on `refreshAhead`, as a fraction of the lifetime, so a fleet does not refresh in lockstep. Default 0.05. */
  refreshJitter?: number;
  /** A token is never handed out this close to its expiry (capped at a fifth of its lifetime). Default `'5s'`. */
  expiryMargin?: Duration;
  /** Lifetime assumed when neither `expires_in` nor a JWT `exp` says. Default `'60s'`. */
  defaultLifetime?: Duration;
  /** Time limit of one request to the token endpoint (body included). Default `'5s'`. */
  timeout?: Duration;
  /** Retries on network errors, timeouts, 408/429/5xx and garbage answers. Default `{ retries: 3, minDelay: '200ms', maxDelay: '5s', maxElapsed: '20s' }`. */
  retry?: RetryOptions | false;
  /** After a failed fetch with no valid token, callers get the same error without a new request for this long. Default `'1s'`. */
  failureCooldown?: Duration;
  /** Least time between two refreshes forced by a downstream 401 `invalid_token` in `tokens.fetch`. Default `'1s'`. */
  forcedRefreshCooldown?: Duration;
}

const RESERVED_PARAMS = new Set(['grant_type', 'client_id', 'client_secret', 'scope', 'resource', 'audience']);

function httpUrl(value: unknown, option: string): string {
  if (typeof value !== 'string' || !URL.canParse(value)) throw new TypeError(`"${option}" must be an absolute http(s) URL`);
  const url = new URL(value);
  if (!/^https?:$/.test(url.protocol)) throw new TypeError(`"${option}" must be an absolute http(s) URL`);
  if (url.username || url.password) throw new TypeError(`"${option}" must not carry credentials; use clientId/clientSecret`);
  return value;
}

function nonEmpty(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`"${option}" must be a non-empty string`);
  return value;
}

/** RFC 8707 §2: a resource is an absolute URI without a fragment. */
export function isResourceUri(value: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(value) && URL.canParse(value) && !value.includes('#');
}

function list(value: string | readonly string[] | undefined, option: string): string[] {
  if (value === undefined) return [];
  const items = typeof value === 'string' ? value.split(' ').filter(Boolean) : value;
  if (!Array.isArray(items) || items.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError(`"${option}" must be a string or an array of non-empty strings`);
  }
  return [...items];
}

function fraction(value: number | undefined, option: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`"${option}" must be a number from ${min} to ${max}`);
  }
  return value;
}

function retryPolicy(retry: RetryOptions | false | undefined): RetryPolicy {
  if (retry === false) return { retries: 0, minDelayMs: 0, maxDelayMs: 0, maxElapsedMs: 0 };
  if (retry !== undefined && (typeof retry !== 'object' || retry === null)) throw new TypeError('"retry" must be an object or false');
  const retries = retry?.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0 || retries > 20) throw new TypeError('"retry.retries" must be an integer from 0 to 20');
  return {
    retries,
    minDelayMs: durationMs(retry?.minDelay, 'retry.minDelay', 200),
    maxDelayMs: durationMs(retry?.maxDelay, 'retry.maxDelay', 5000),
    maxElapsedMs: durationMs(retry?.maxElapsed, 'retry.maxElapsed', 20_000),
  };
}

/** Validates every option up front; a bad one throws a `TypeError` naming it. */
export function resolveOptions(o: RequestOptionsInput): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError('createTokenProvider needs an options object');
  if ((o.tokenUrl === undefined) === (o.issuer === undefined)) throw new TypeError('exactly one of "tokenUrl" and "issuer" must be given');
  const tokenUrl = o.tokenUrl === undefined ? undefined : httpUrl(o.tokenUrl, 'tokenUrl');
  const issuer = o.issuer === undefined ? undefined : httpUrl(o.issuer, 'issuer');
  const clientId = nonEmpty(o.clientId, 'clientId');
  const clientSecret = nonEmpty(o.clientSecret, 'clientSecret');
  const authMethod = o.authMethod ?? 'client_secret_basic';
  if (authMethod !== 'client_secret_basic' && authMethod !== 'client_secret_post') {
    throw new TypeError('"authMethod" must be \'client_secret_basic\' or \'client_secret_post\'');
  }
  const scopes = list(o.scopes, 'scopes');
  if (scopes.some((s) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) throw new TypeError('"scopes" must be RFC 6749 scope tokens (printable ASCII, no space, quote or backslash)');
  const resources = list(o.resource, 'resource');
  for (const r of resources) if (!isResourceUri(r)) throw new TypeError('"resource" must be absolute URIs without a fragment (RFC 8707)');
  let audience: string | undefined;
  if (o.audience !== undefined) {
    // RFC 8707: an absolute URI goes out as `resource`; anything else as `audience`.
    if (isResourceUri(nonEmpty(o.audience, 'audience'))) {
      if (!resources.includes(o.audience)) resources.push(o.audience);
    } else audience = o.audience;
  }
  const extraParams = { ...(o.extraParams ?? {}) };
  for (const [k, v] of Object.entries(extraParams)) {
    if (RESERVED_PARAMS.has(k) || typeof v !== 'string') throw new TypeError(`"extraParams.${k}" must be a string and not a parameter the client sets itself`);
  }
  const refreshAhead = fraction(o.refreshAhead, 'refreshAhead', 0.8, 0.1, 0.95);
  const refreshJitter = fraction(o.refreshJitter, 'refreshJitter', 0.05, 0, 0.25);
  if (refreshAhead - refreshJitter <= 0 || refreshAhead + refreshJitter > 0.99) {
    throw new TypeError('"refreshAhead" ± "refreshJitter" must stay between 0 and 0.99 of the lifetime');
  }
  const timeoutMs = durationMs(o.timeout, 'timeout', 5000);
  if (timeoutMs < 1) throw new TypeError('"timeout" must be at least 1 ms');
  const defaultLifetimeMs = durationMs(o.defaultLifetime, 'defaultLifetime', 60_000);
  if (defaultLifetimeMs < 1000) throw new TypeError('"defaultLifetime" must be at least 1s');
  return {
    request: { clientId, clientSecret, authMethod, scope: scopes.length ? scopes.join(' ') : undefined, resources, audience, extraParams },
    tokenUrl,
    issuer,
    timeoutMs,
    retry: retryPolicy(o.retry),
    refreshAhead,
    refreshJitter,
    expiryMarginMs: durationMs(o.expiryMargin, 'expiryMargin', 5000),
    defaultLifetimeMs,
    failureCooldownMs: durationMs(o.failureCooldown, 'failureCooldown', 1000),
    forcedRefreshCooldownMs: durationMs(o.forcedRefreshCooldown, 'forcedRefreshCooldown', 1000),
  };
}

/**
 * Stable reasons a token could not be had. Each says what to do about it:
 * - `request_rejected`: the token endpoint refused the request (4xx, e.g. `invalid_client`,
 *   `invalid_scope`, `invalid_target`); a configuration problem, never retried.
 * - `endpoint_unavailable`: network error, 5xx or 429 after every retry.
 * - `timeout`: the token endpoint did not answer within `timeout`, after every retry.
 * - `invalid_response`: the endpoint answered 2xx with something that is not a usable token
 *   (not JSON, no `access_token`, not a Bearer token, already expired, a redirect).
 * - `discovery_failed`: the issuer's metadata could not be read or has no usable `token_endpoint`.
 * - `closed`: `close()` was called.
 */
export type TokenUnavailableCode =
  | 'request_rejected'
  | 'endpoint_unavailable'
  | 'timeout'
  | 'invalid_response'
  | 'discovery_failed'
  | 'closed';

/** Fields of a {@link TokenUnavailableError} besides its message. */
export interface TokenUnavailableDetails {
  /** HTTP status of the last answer, when there was one. */
  status?: number | undefined;
  /** The OAuth `error` of the last answer (RFC 6749 §5.2), e.g. `'invalid_client'`. */
  error?: string | undefined;
  /** The OAuth `error_description`, sanitised (printable ASCII, at most 200 characters). */
  errorDescription?: string | undefined;
  /** How many requests were made before giving up. */
  attempts?: number | undefined;
  /** When the last token handed out expired (or stops being handed out), if there was one. */
  expiredAt?: Date | undefined;
  /** The underlying error (a fetch `TypeError`, an `AbortError`, a `SyntaxError`, ...). */
  cause?: unknown;
  /** Seconds from the last answer's `Retry-After` header, if any. */
  retryAfter?: number | undefined;
  /** Whether another attempt might succeed. Default: true for `endpoint_unavailable`, `timeout`, `invalid_response`. */
  retryable?: boolean | undefined;
}

/**
 * Thrown (as a rejection) by `getToken()` and `fetch()` when no valid access token can be had.
 * The message says why; it never contains the client secret or a token.
 *
 * @example
 * try { await tokens.getToken() } catch (err) {
 *   if (err instanceof TokenUnavailableError && err.error === 'invalid_client') alertOps(err.message)
 * }
 */
export class TokenUnavailableError extends Error {
  override readonly name = 'TokenUnavailableError';
  /** Stable reason, see {@link TokenUnavailableCode}. */
  readonly code: TokenUnavailableCode;
  /** HTTP status of the token endpoint's last answer, if any. */
  readonly status: number | undefined;
  /** OAuth `error` from the token endpoint, if any (e.g. `'invalid_client'`). */
  readonly error: string | undefined;
  /** OAuth `error_description` from the token endpoint, sanitised. */
  readonly errorDescription: string | undefined;
  /** Number of token requests made for this failure. */
  readonly attempts: number | undefined;
  /** When the previous token expired, if one had been handed out. */
  readonly expiredAt: Date | undefined;
  /** Whether another attempt might succeed (network errors, 5xx, 429, timeouts, garbage answers). */
  readonly retryable: boolean;
  /** Seconds from the token endpoint's `Retry-After` header, if it sent one. */
  readonly retryAfter: number | undefined;

  /** Builds the error; `details.cause` becomes the standard `cause`. */
  constructor(code: TokenUnavailableCode, message: string, details: TokenUnavailableDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.attempts = details.attempts;
    this.expiredAt = details.expiredAt;
    this.retryAfter = details.retryAfter;
    this.retryable = details.retryable ?? (code === 'endpoint_unavailable' || code === 'timeout' || code === 'invalid_response');
  }
}

/** Narrows an unknown error to a {@link TokenUnavailableError}. */
export function isTokenUnavailableError(err: unknown): err is TokenUnavailableError {
  return err instanceof TokenUnavailableError;
}

/**
 * Stable error codes of tokenguard, with the HTTP status and RFC 6750 / RFC 9449 error each maps to.
 * The table is the public contract of `../shared/API.md`: never rename a code.
 */
export const ERROR_TABLE = {
  token_missing: { status: 401, error: undefined },
  invalid_request: { status: 400, error: 'invalid_request' },
  token_malformed: { status: 401, error: 'invalid_token' },
  alg_not_allowed: { status: 401, error: 'invalid_token' },
  signature_invalid: { status: 401, error: 'invalid_token' },
  key_not_found: { status: 401, error: 'invalid_token' },
  jwks_unavailable: { status: 503, error: 'temporarily_unavailable' },
  token_expired: { status: 401, error: 'invalid_token' },
  token_not_yet_valid: { status: 401, error: 'invalid_token' },
  token_too_old: { status: 401, error: 'invalid_token' },
  issuer_invalid: { status: 401, error: 'invalid_token' },
  audience_invalid: { status: 401, error: 'invalid_token' },
  claim_invalid: { status: 401, error: 'invalid_token' },
  token_revoked: { status: 401, error: 'invalid_token' },
  revocation_unavailable: { status: 503, error: 'temporarily_unavailable' },
  dpop_invalid: { status: 401, error: 'invalid_dpop_proof' },
  insufficient_scope: { status: 403, error: 'insufficient_scope' },
} as const satisfies Record<string, { status: number; error: string | undefined }>;

/** One of the stable error codes, e.g. `'token_expired'`. */
export type TokenErrorCode = keyof typeof ERROR_TABLE;

/** Every error code, in table order (handy for metric label pre-initialisation and tests). */
export const ERROR_CODES = Object.freeze(Object.keys(ERROR_TABLE) as TokenErrorCode[]);

/** Default `Retry-After` seconds for 503 answers. */
export const DEFAULT_RETRY_AFTER = 30;

/** Options for building a {@link TokenError}. */
export interface TokenErrorOptions {
  /** The underlying error (a jose error, a TypeError from fetch, ...). Never shown to clients. */
  cause?: unknown;
  /** `realm` of the challenge. Default `'api'`. */
  realm?: string;
  /** Scopes the route requires; rendered as `scope="..."` in an `insufficient_scope` challenge. */
  scopes?: readonly string[];
  /** Seconds for the `Retry-After` header of a 503. Default 30. */
  retryAfter?: number;
  /** Challenge scheme. Default `'Bearer'`; `'DPoP'` for DPoP errors. */
  scheme?: 'Bearer' | 'DPoP';
  /** For DPoP challenges: the allowed proof algorithms. */
  algs?: readonly string[];
}

// RFC 6750 §3: the values of error, error_description and scope are limited to
// %x20-21 / %x23-5B / %x5D-7E. We drop anything else so no header injection is possible.
function quote(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\x00-\x1f\x7f-\uffff]/g, '').replace(/["\\]/g, '')}"`;
}

/**
 * The one error type for a rejected request. `code` is stable, `status` is the HTTP status,
 * `challenge` is the `WWW-Authenticate` value, `description` is safe to send to the client:
 * it never contains the token, a kid, a claim value or key material.
 *
 * @example
 * try { await verifier.verify(token) } catch (err) {
 *   if (err instanceof TokenError) res.status(err.status).set(err.headers).json(err.toJSON())
 * }
 */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;
  readonly status: number;
  readonly description: string;
  /** RFC 6750 / 9449 `error` value, undefined for `token_missing`. */
  readonly error: string | undefined;
  /** The `WWW-Authenticate` header value (undefined for 503 answers, which carry `Retry-After`). */
  readonly challenge: string | undefined;
  /** Seconds for `Retry-After` on 503 answers. */
  readonly retryAfter: number | undefined;
  /** Scopes the route required (for `insufficient_scope`). */
  readonly scopes: readonly string[] | undefined;
  /** Koa honours `expose` to send `message` to clients; our messages are always safe. */
  readonly expose = true;

  constructor(code: TokenErrorCode, description: string, options: TokenErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    const entry = ERROR_TABLE[code];
    this.code = code;
    this.status = entry.status;
    this.error = entry.error;
    this.description = description;
    this.scopes = options.scopes;
    this.retryAfter = entry.status === 503 ? (options.retryAfter ?? DEFAULT_RETRY_AFTER) : undefined;
    this.challenge = entry.status === 503 ? undefined : buildChallenge(code, description, options);
  }

  /** Headers to send with the error: `WWW-Authenticate` or `Retry-After`, plus `Cache-Control: no-store`. */
  get headers(): Record<string, string> {
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (this.challenge !== undefined) headers['www-authenticate'] = this.challenge;
    if (this.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(this.retryAfter)));
    return headers;
  }

  /** The JSON body: `{ error?, error_description, code }` (no `error` for `token_missing`). */
  toJSON(): ErrorBody {
    const body: ErrorBody = { error_description: this.description, code: this.code };
    if (this.error !== undefined) return { error: this.error, ...body };
    return body;
  }
}

/**
 * A rejection as tokenguard itself raises it: a {@link TokenError} without stack frames (`err.stack` is
 * `TokenError: <description>`). A rejection is an expected answer, not a fault: the frames would only name
 * tokenguard's own functions and the framework's below them, and capturing them was half of what rejecting an
 * unknown kid cost (~10 of ~20 µs inside the core; bench/README.md, session 24). The error a rejection was made
 * from (a jose error, a fetch failure, a thrown predicate) stays its `cause`, with its own stack. A `TokenError`
 * constructed by user code keeps its stack as any Error does.
 */
export function rejection(code: TokenErrorCode, description: string, options?: TokenErrorOptions): TokenError {
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 0;
  } catch {
    // A hardened realm froze Error: the rejection keeps its stack.
    return new TokenError(code, description, options);
  }
  try {
    return new TokenError(code, description, options);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Throws {@link rejection}`(code, description)`: the verifier's and the claim checks' way to refuse. */
export function reject(code: TokenErrorCode, description: string): never {
  throw rejection(code, description);
}

/** The JSON body every adapter answers an error with. */
export interface ErrorBody {
  error?: string;
  error_description: string;
  code: TokenErrorCode;
}

function buildChallenge(code: TokenErrorCode, description: string, options: TokenErrorOptions): string {
  const scheme = options.scheme ?? (code === 'dpop_invalid' ? 'DPoP' : 'Bearer');
  const parts = [`realm=${quote(options.realm ?? 'api')}`];
  if (scheme === 'DPoP' && options.algs?.length) parts.push(`algs=${quote(options.algs.join(' '))}`);
  const error = ERROR_TABLE[code].error;
  if (error !== undefined) {
    parts.push(`error=${quote(error)}`, `error_description=${quote(description)}`);
    if (code === 'insufficient_scope' && options.scopes?.length) parts.push(`scope=${quote(options.scopes.join(' '))}`);
  }
  return `${scheme} ${parts.join(', ')}`;
}

/** Type guard for {@link TokenError} that works across package copies. */
export function isTokenError(err: unknown): err is TokenError {
  return err instanceof TokenError || (err instanceof Error && err.name === 'TokenError' && typeof (err as TokenError).code === 'string' && (err as TokenError).code in ERROR_TABLE);
}

/**
 * The framework-free response for an error: what every adapter sends.
 * @example
 * const { status, headers, body } = errorResponse(err)
 */
export function errorResponse(err: TokenError): { status: number; headers: Record<string, string>; body: ErrorBody } {
  return { status: err.status, headers: { ...err.headers, 'content-type': 'application/json; charset=utf-8' }, body: err.toJSON() };
}

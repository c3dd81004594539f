import { TokenUnavailableError } from '../errors.js';
import { basicAuthorization } from './form.js';
import { exchange, jsonObject, retryAfterSeconds, type HttpLimits } from './http.js';

/** What is sent in a client-credentials token request. */
export interface TokenRequest {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
  /** Space-delimited scope, or undefined to send none. */
  scope: string | undefined;
  /** RFC 8707 `resource` values. */
  resources: readonly string[];
  /** `audience` parameter (a non-URI audience). */
  audience: string | undefined;
  /** Extra form parameters. */
  extraParams: Readonly<Record<string, string>>;
}

/** A token answer that passed every check. */
export interface TokenAnswer {
  accessToken: string;
  /** `expires_in` in seconds, or undefined when absent or garbage. */
  expiresIn: number | undefined;
  /** True when `expires_in` was present but unusable. */
  expiresInGarbage: boolean;
  /** Granted scope, if the server said. */
  scope: string | undefined;
}

/** RFC 6750 §2.1 b64token: what may follow `Bearer ` without breaking the header. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 6749 §5.2: the characters allowed in `error`. */
const OAUTH_ERROR = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}$/;
/** Longest lifetime believed from `expires_in` (a year); more is treated as garbage. */
const MAX_EXPIRES_IN = 365 * 86_400;

function parseExpiresIn(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  return Number.isFinite(n) && n > 0 && n <= MAX_EXPIRES_IN ? n : undefined;
}

function oauthError(body: Record<string, unknown> | undefined, secret: string): { error?: string; errorDescription?: string } {
  const error = typeof body?.error === 'string' && OAUTH_ERROR.test(body.error) ? body.error : undefined;
  let errorDescription: string | undefined;
  if (typeof body?.error_description === 'string') {
    // Printable ASCII only, bounded, and never the secret even if a broken server echoes it.
    errorDescription = body.error_description.split(secret).join('[redacted]').replace(/[^\x20-\x7e]/g, '').slice(0, 200) || undefined;
  }
  return { ...(error ? { error } : {}), ...(errorDescription ? { errorDescription } : {}) };
}

function buildRequest(req: TokenRequest): { headers: Record<string, string>; body: string } {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (req.scope) form.set('scope', req.scope);
  for (const resource of req.resources) form.append('resource', resource);
  if (req.audience !== undefined) form.set('audience', req.audience);
  for (const [k, v] of Object.entries(req.extraParams)) form.set(k, v);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (req.authMethod === 'client_secret_basic') {
    headers.authorization = basicAuthorization(req.clientId, req.clientSecret);
  } else {
    form.set('client_id', req.clientId);
    form.set('client_secret', req.clientSecret);
  }
  return { headers, body: form.toString() };
}

/**
 * Makes one client-credentials token request (RFC 6749 §4.4) and checks the answer. Throws a
 * {@link TokenUnavailableError}: retryable for network errors, timeouts, 408/429/5xx and unreadable 2xx
 * answers; not retryable for other 4xx (`request_rejected`, with the OAuth `error`), redirects and
 * non-Bearer tokens.
 */
export async function requestToken(req: TokenRequest, limits: HttpLimits): Promise<TokenAnswer> {
  const { headers, body } = buildRequest(req);
  const answer = await exchange(req.tokenUrl, { method: 'POST', headers, body }, limits, 'token endpoint');
  const { status } = answer;
  const json = jsonObject(answer.text);
  if (status >= 300 && status < 400) {
    throw new TokenUnavailableError('invalid_response', `token endpoint answered ${status} (redirect not followed)`, { status, retryable: false });
  }
  if (status === 408 || status === 429 || status >= 500) {
    const { error, errorDescription } = oauthError(json, req.clientSecret);
    throw new TokenUnavailableError('endpoint_unavailable', `token endpoint answered ${status}${error ? ` ${error}` : ''}`, {
      status, error, errorDescription, retryAfter: retryAfterSeconds(answer.headers),
    });
  }
  if (status >= 400 || status < 200) {
    const { error, errorDescription } = oauthError(json, req.clientSecret);
    const why = [error ?? 'no OAuth error', errorDescription].filter(Boolean).join(': ');
    throw new TokenUnavailableError('request_rejected', `token endpoint rejected the request (${status} ${why})`, { status, error, errorDescription });
  }
  if (!json) throw new TokenUnavailableError('invalid_response', `token endpoint answered ${status} with a body that is not a JSON object`, { status });
  const token = json.access_token;
  if (typeof token !== 'string' || token.length > 16_384 || !B64TOKEN.test(token)) {
    throw new TokenUnavailableError('invalid_response', 'token endpoint answer has no usable access_token', { status });
  }
  if (json.token_type !== undefined && (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer')) {
    throw new TokenUnavailableError('invalid_response', 'token endpoint issued a token that is not a Bearer token', { status, retryable: false });
  }
  const expiresIn = parseExpiresIn(json.expires_in);
  return {
    accessToken: token,
    expiresIn,
    expiresInGarbage: expiresIn === undefined && json.expires_in !== undefined,
    scope: typeof json.scope === 'string' ? json.scope : undefined,
  };
}

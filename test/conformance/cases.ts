/**
 * THE conformance table: one list of HTTP requests and what every adapter must answer. It runs unchanged
 * against Express, Koa and Fastify (conformance.test.ts), which must also agree byte for byte on the
 * status, the relevant headers and the body.
 */
import type { TokenErrorCode } from '@tokenguard/core';
import type { RawRequest } from '../helpers/raw-http';

/** Tokens and values the cases use, minted once per run (see conformance.test.ts). */
export interface Fixtures {
  /** RS256, scope `orders:read`, sub `svc-a`, client `client-a`. */
  valid: string;
  /** ES256 (second published key), scope `orders:read orders:write`. */
  readWrite: string;
  /** scope `orders:admin`. */
  admin: string;
  /** no scope claim. */
  noScope: string;
  /** `scp: ['orders:read']` (array form). */
  scpArray: string;
  /** `scope: 'orders:read,orders:write'` (not a delimiter). */
  commaScope: string;
  expired: string;
  notYetValid: string;
  /** `iat` two hours ago; guards have `maxTokenAge: '1h'`. */
  tooOld: string;
  unknownIssuer: string;
  wrongAudience: string;
  /** `tenant: 'evil'`; guards require `claims: { tenant: 'acme' }`. */
  wrongTenant: string;
  noExp: string;
  revoked: string;
  /** jti the revocation store fails on (store unreachable, failMode closed). */
  storeDown: string;
  /** Signed by an attacker's key under the real kid. */
  badSignature: string;
  /** Signed by a key the key set does not publish. */
  unknownKid: string;
  /** From an issuer whose key-set server is down, with a kid never seen. */
  keysDown: string;
  hs256: string;
  /** kid `../../dev/null` (never used as a path, never echoed). */
  kidInjection: string;
  /** Signed by the attacker, who embeds their own public key as a `jwk` header under the real kid (CVE-2018-0114). */
  embeddedJwk: string;
  /** `exp` as a string. */
  stringExp: string;
  /** `scope: 'orders:read'` with a no-break space glued on (not a delimiter). */
  nbspScope: string;
  /** `alg: none` with a non-empty third segment. */
  algNone: string;
  /** `alg: nOnE`, empty third segment. */
  algNoneUnsigned: string;
  jwe: string;
}

export interface Expected {
  status: number;
  /** The `code` of the JSON error body (error answers only). */
  code?: TokenErrorCode;
  /** The exact `WWW-Authenticate` value (or a pattern). */
  challenge?: string | RegExp;
  /** The JSON body of a success answer. */
  body?: Record<string, unknown>;
  /** A substring the error description must contain. */
  description?: string;
  /** Compare bodies across frameworks (false for /metrics, whose counters move between requests). */
  compareBody?: boolean;
  /** Compare headers across frameworks (false only where the framework itself answers, before any adapter runs). */
  compareHeaders?: boolean;
}

export interface ConformanceCase {
  name: string;
  request: (f: Fixtures) => RawRequest;
  expect: Expected;
}

const bearer = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];
const get = (path: string, headers: Array<[string, string]> = []): RawRequest => ({ path, headers });
const form = (path: string, body: string, headers: Array<[string, string]> = []): RawRequest => ({
  method: 'POST',
  path,
  body,
  headers: [...headers, ['Content-Type', 'application/x-www-form-urlencoded']],
});

const READER = { authenticated: true, sub: 'svc-a', clientId: 'client-a', scopes: ['orders:read'] };
const READ_WRITE = { ...READER, scopes: ['orders:read', 'orders:write'] };
const BARE = 'Bearer realm="api"';
const invalid = (description: string): string =>
  `Bearer realm="api", error="invalid_token", error_description="${description}"`;
const badRequest = (description: string): string =>
  `Bearer realm="api", error="invalid_request", error_description="${description}"`;
const scopeChallenge = (scopes: string): string =>
  `Bearer realm="api", error="insufficient_scope", error_description="Insufficient scope", scope="${scopes}"`;

export const CASES: readonly ConformanceCase[] = [
  // --- accepted ---------------------------------------------------------------------------------
  { name: 'valid RS256 token in the header', request: (f) => get('/me', bearer(f.valid)), expect: { status: 200, body: READER } },
  { name: 'valid ES256 token from the second published key', request: (f) => get('/me', bearer(f.readWrite)), expect: { status: 200, body: READ_WRITE } },
  { name: 'lowercase scheme "bearer"', request: (f) => get('/me', [['Authorization', `bearer ${f.valid}`]]), expect: { status: 200, body: READER } },
  { name: 'uppercase scheme "BEARER"', request: (f) => get('/me', [['Authorization', `BEARER ${f.valid}`]]), expect: { status: 200, body: READER } },
  { name: 'several spaces after the scheme', request: (f) => get('/me', [['Authorization', `Bearer    ${f.valid}`]]), expect: { status: 200, body: READER } },
  { name: 'lower-case header name', request: (f) => get('/me', [['authorization', `Bearer ${f.valid}`]]), expect: { status: 200, body: READER } },
  { name: 'form-body token on POST (RFC 6750 §2.2)', request: (f) => form('/me', `access_token=${f.valid}`), expect: { status: 200, body: READER } },
  { name: 'query token where the guard allows it', request: (f) => get(`/q/me?access_token=${f.valid}`), expect: { status: 200, body: READER } },
  { name: 'scp array claim grants its scopes', request: (f) => get('/orders', bearer(f.scpArray)), expect: { status: 200, body: READER } },
  // --- missing / other schemes --------------------------------------------------------------------
  { name: 'no token', request: () => get('/me'), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  { name: 'Basic scheme is no bearer token', request: () => get('/me', [['Authorization', 'Basic dXNlcjpwYXNz']]), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  { name: 'Token scheme is no bearer token', request: (f) => get('/me', [['Authorization', `Token ${f.valid}`]]), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  { name: 'DPoP scheme while DPoP is off', request: (f) => get('/me', [['Authorization', `DPoP ${f.valid}`]]), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  { name: 'JSON body carries no token', request: (f) => ({ method: 'POST', path: '/me', body: JSON.stringify({ access_token: f.valid }), headers: [['Content-Type', 'application/json']] }), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  // --- transport errors: 400 invalid_request ------------------------------------------------------
  { name: '"Bearer" with no token', request: () => get('/me', [['Authorization', 'Bearer']]), expect: { status: 400, code: 'invalid_request', challenge: badRequest('The Authorization header is malformed') } },
  { name: 'tab after the scheme', request: (f) => get('/me', [['Authorization', `Bearer\t${f.valid}`]]), expect: { status: 400, code: 'invalid_request' } },
  { name: 'two tokens in one header', request: (f) => get('/me', [['Authorization', `Bearer ${f.valid} ${f.valid}`]]), expect: { status: 400, code: 'invalid_request' } },
  { name: 'quoted token', request: (f) => get('/me', [['Authorization', `Bearer "${f.valid}"`]]), expect: { status: 400, code: 'invalid_request' } },
  { name: 'two Authorization headers', request: (f) => get('/me', [...bearer(f.valid), ...bearer(f.valid)]), expect: { status: 400, code: 'invalid_request', challenge: badRequest('More than one Authorization header was sent') } },
  { name: 'Authorization header twice with different schemes', request: (f) => get('/me', [['Authorization', 'Basic dXNlcjpwYXNz'], ...bearer(f.valid)]), expect: { status: 400, code: 'invalid_request' } },
  { name: 'query token where query tokens are off', request: (f) => get(`/me?access_token=${f.valid}`), expect: { status: 400, code: 'invalid_request', description: 'query' } },
  { name: 'token in header and query (query allowed)', request: (f) => get(`/q/me?access_token=${f.valid}`, bearer(f.valid)), expect: { status: 400, code: 'invalid_request', description: 'more than one place' } },
  { name: 'token in header and query (query off)', request: (f) => get(`/me?access_token=${f.valid}`, bearer(f.valid)), expect: { status: 400, code: 'invalid_request' } },
  { name: 'token in header and form body', request: (f) => form('/me', `access_token=${f.valid}`, bearer(f.valid)), expect: { status: 400, code: 'invalid_request', description: 'more than one place' } },
  { name: 'colon after the scheme', request: (f) => get('/me', [['Authorization', `Bearer:${f.valid}`]]), expect: { status: 400, code: 'invalid_request' } },
  { name: 'bracketed access_token[] query parameter', request: (f) => get(`/q/me?access_token[]=${f.valid}`), expect: { status: 400, code: 'invalid_request' } },
  { name: 'repeated access_token in the form body', request: (f) => form('/me', `access_token=${f.valid}&access_token=${f.valid}`), expect: { status: 400, code: 'invalid_request' } },
  { name: 'form body on GET carries no token', request: (f) => ({ method: 'GET', path: '/me', body: `access_token=${f.valid}`, headers: [['Content-Type', 'application/x-www-form-urlencoded']] }), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  { name: 'repeated access_token query parameter', request: (f) => get(`/q/me?access_token=${f.valid}&access_token=${f.valid}`), expect: { status: 400, code: 'invalid_request' } },
  // --- malformed tokens ---------------------------------------------------------------------------
  { name: 'one-segment token', request: () => get('/me', bearer('abc')), expect: { status: 401, code: 'token_malformed', challenge: invalid('The access token is not a compact JWS (three segments)') } },
  { name: 'two-segment token', request: (f) => get('/me', bearer(f.valid.split('.').slice(0, 2).join('.'))), expect: { status: 401, code: 'token_malformed' } },
  { name: 'five-segment JWE token', request: (f) => get('/me', bearer(f.jwe)), expect: { status: 401, code: 'token_malformed' } },
  { name: 'header that is not JSON', request: () => get('/me', bearer(`${Buffer.from('not json').toString('base64url')}.e30.c2ln`)), expect: { status: 401, code: 'token_malformed' } },
  { name: 'token longer than the 8 KiB cap', request: () => get('/me', bearer('a'.repeat(9000))), expect: { status: 401, code: 'token_malformed' } },
  // --- signature and keys -------------------------------------------------------------------------
  { name: 'alg none with a signature segment', request: (f) => get('/me', bearer(f.algNone)), expect: { status: 401, code: 'alg_not_allowed', challenge: invalid('The access token algorithm is not allowed') } },
  { name: 'alg "nOnE", unsigned (empty third segment)', request: (f) => get('/me', bearer(f.algNoneUnsigned)), expect: { status: 401, code: 'alg_not_allowed' } },
  { name: 'HS256 (not in the asymmetric allowlist)', request: (f) => get('/me', bearer(f.hs256)), expect: { status: 401, code: 'alg_not_allowed' } },
  { name: 'signature by another key under the real kid', request: (f) => get('/me', bearer(f.badSignature)), expect: { status: 401, code: 'signature_invalid', challenge: invalid('The access token signature is invalid') } },
  { name: 'kid not in the key set', request: (f) => get('/me', bearer(f.unknownKid)), expect: { status: 401, code: 'key_not_found', challenge: invalid('No matching key found for the token') } },
  { name: 'path-like kid is just an unknown kid', request: (f) => get('/me', bearer(f.kidInjection)), expect: { status: 401, code: 'key_not_found' } },
  { name: 'embedded jwk header is ignored (CVE-2018-0114)', request: (f) => get('/me', bearer(f.embeddedJwk)), expect: { status: 401, code: 'signature_invalid' } },
  { name: 'key-set server down and kid unknown: 503 with Retry-After', request: (f) => get('/me', bearer(f.keysDown)), expect: { status: 503, code: 'jwks_unavailable' } },
  // --- claims -------------------------------------------------------------------------------------
  { name: 'expired token', request: (f) => get('/me', bearer(f.expired)), expect: { status: 401, code: 'token_expired', challenge: invalid('The access token has expired') } },
  { name: 'nbf in the future', request: (f) => get('/me', bearer(f.notYetValid)), expect: { status: 401, code: 'token_not_yet_valid' } },
  { name: 'iat older than maxTokenAge', request: (f) => get('/me', bearer(f.tooOld)), expect: { status: 401, code: 'token_too_old' } },
  { name: 'unknown issuer', request: (f) => get('/me', bearer(f.unknownIssuer)), expect: { status: 401, code: 'issuer_invalid' } },
  { name: 'wrong audience', request: (f) => get('/me', bearer(f.wrongAudience)), expect: { status: 401, code: 'audience_invalid' } },
  { name: 'custom claim check fails', request: (f) => get('/me', bearer(f.wrongTenant)), expect: { status: 401, code: 'claim_invalid' } },
  { name: 'exp as a string', request: (f) => get('/me', bearer(f.stringExp)), expect: { status: 401, code: 'claim_invalid' } },
  { name: 'missing exp', request: (f) => get('/me', bearer(f.noExp)), expect: { status: 401, code: 'claim_invalid' } },
  { name: 'revoked token', request: (f) => get('/me', bearer(f.revoked)), expect: { status: 401, code: 'token_revoked', challenge: invalid('The access token has been revoked') } },
  { name: 'revocation store unreachable (fail closed): 503', request: (f) => get('/me', bearer(f.storeDown)), expect: { status: 503, code: 'revocation_unavailable' } },
  // --- scopes -------------------------------------------------------------------------------------
  { name: 'requireScopes: has orders:read', request: (f) => get('/orders', bearer(f.valid)), expect: { status: 200, body: READER } },
  { name: 'requireScopes: lacks orders:read', request: (f) => get('/orders', bearer(f.admin)), expect: { status: 403, code: 'insufficient_scope', challenge: scopeChallenge('orders:read') } },
  { name: 'requireScopes: no scope claim at all', request: (f) => get('/orders', bearer(f.noScope)), expect: { status: 403, code: 'insufficient_scope', challenge: scopeChallenge('orders:read') } },
  { name: 'requireScopes: comma is not a scope delimiter', request: (f) => get('/orders', bearer(f.commaScope)), expect: { status: 403, code: 'insufficient_scope' } },
  { name: 'requireScopes: no-break space is not a scope delimiter', request: (f) => get('/orders', bearer(f.nbspScope)), expect: { status: 403, code: 'insufficient_scope' } },
  { name: 'mode all: both scopes present', request: (f) => get('/both', bearer(f.readWrite)), expect: { status: 200, body: READ_WRITE } },
  { name: 'mode all: one of two missing, challenge lists both', request: (f) => get('/both', bearer(f.valid)), expect: { status: 403, code: 'insufficient_scope', challenge: scopeChallenge('orders:read orders:write') } },
  { name: 'mode any: one of two present', request: (f) => get('/any', bearer(f.admin)), expect: { status: 200, body: { ...READER, scopes: ['orders:admin'] } } },
  { name: 'mode any: none present, challenge lists every scope', request: (f) => get('/any', bearer(f.valid)), expect: { status: 403, code: 'insufficient_scope', challenge: scopeChallenge('orders:write orders:admin') } },
  { name: 'scope route without a token: 401 before 403', request: () => get('/orders'), expect: { status: 401, code: 'token_missing', challenge: BARE } },
  // --- optional auth and opted-out routes ---------------------------------------------------------
  { name: 'optional auth without a token', request: () => get('/optional'), expect: { status: 200, body: { authenticated: false } } },
  { name: 'optional auth with a valid token', request: (f) => get('/optional', bearer(f.valid)), expect: { status: 200, body: READER } },
  { name: 'optional auth treats another scheme as no token', request: () => get('/optional', [['Authorization', 'Basic dXNlcjpwYXNz']]), expect: { status: 200, body: { authenticated: false } } },
  { name: 'optional auth still rejects a bad token', request: (f) => get('/optional', bearer(f.expired)), expect: { status: 401, code: 'token_expired' } },
  { name: 'optional auth still rejects two headers', request: (f) => get('/optional', [...bearer(f.valid), ...bearer(f.valid)]), expect: { status: 400, code: 'invalid_request' } },
  { name: 'opted-out route needs no token', request: () => get('/health'), expect: { status: 200, body: { status: 'ok' } } },
  { name: 'opted-out route ignores a bad token', request: () => get('/health', bearer('abc')), expect: { status: 200, body: { status: 'ok' } } },
  { name: 'metrics route is served without a token', request: () => get('/metrics'), expect: { status: 200, compareBody: false } },
  // --- HTTP-level limits --------------------------------------------------------------------------
  { name: 'header block over the 16 KiB HTTP limit: 431 from the server', request: () => get('/me', bearer('a'.repeat(17_000))), expect: { status: 431, compareBody: false, compareHeaders: false } },
];

import { isTokenError, TokenError, rejection, type TokenErrorCode } from '../errors.js';

/**
 * The fixed set of client-safe descriptions. A description never echoes a token, a kid, a claim value or
 * key material, and never says which of several issuers almost matched.
 */
export const DESCRIPTIONS = {
  signature: 'The access token signature is invalid',
  expired: 'The access token has expired',
  notYetValid: 'The access token is not valid yet',
  issuedInFuture: 'The access token was issued in the future',
  tooOld: 'The access token is too old',
  issuer: 'The access token issuer is not accepted',
  audience: 'The access token audience is not accepted',
  claim: 'The access token claims are invalid',
  typ: 'The access token type is not accepted',
  alg: 'The access token algorithm is not allowed',
  malformed: 'The access token is malformed',
  header: 'The access token header is not accepted',
  keyNotFound: 'No key matches the access token',
  revoked: 'The access token has been revoked',
  revocationUnavailable: 'The revocation list is unavailable; try again later',
  keysUnavailable: 'The signing keys are unavailable; try again later',
  lifetime: 'The access token lifetime is too long',
  scope: 'Insufficient scope',
  dpopBound: 'A DPoP-bound access token cannot be used as a bearer token',
} as const;

function fail(code: TokenErrorCode, description: string, cause: unknown): TokenError {
  return rejection(code, description, { cause });
}

/** Maps a `ERR_JWT_CLAIM_VALIDATION_FAILED` / `ERR_JWT_EXPIRED` by its `claim` member. */
function mapClaim(err: { code: string; claim?: unknown; reason?: unknown; message?: unknown }): TokenError {
  const expired = err.code === 'ERR_JWT_EXPIRED';
  // A missing or wrong-typed time claim is a bad claim, not a timing failure.
  if (err.reason !== 'check_failed' && err.claim !== 'iss' && err.claim !== 'aud') return fail('claim_invalid', DESCRIPTIONS.claim, err);
  switch (err.claim) {
    case 'iss': return fail('issuer_invalid', DESCRIPTIONS.issuer, err);
    case 'aud': return fail('audience_invalid', DESCRIPTIONS.audience, err);
    case 'nbf': return fail('token_not_yet_valid', DESCRIPTIONS.notYetValid, err);
    case 'exp': return fail('token_expired', DESCRIPTIONS.expired, err);
    case 'iat':
      // jose uses ERR_JWT_EXPIRED for "too far in the past" and a claim failure for "in the future".
      return expired ? fail('token_too_old', DESCRIPTIONS.tooOld, err) : fail('token_not_yet_valid', DESCRIPTIONS.issuedInFuture, err);
    case 'typ': return fail('claim_invalid', DESCRIPTIONS.typ, err);
    default: return expired ? fail('token_expired', DESCRIPTIONS.expired, err) : fail('claim_invalid', DESCRIPTIONS.claim, err);
  }
}

/**
 * Maps any error thrown while verifying a token to a {@link TokenError}, one jose code at a time; the
 * original error is kept as `cause` (never shown to clients). A TokenError passes through unchanged.
 */
export function mapError(err: unknown): TokenError {
  if (isTokenError(err)) return err;
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return fail('signature_invalid', DESCRIPTIONS.signature, err);
    case 'ERR_JWT_EXPIRED':
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return mapClaim(err as { code: string });
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return fail('alg_not_allowed', DESCRIPTIONS.alg, err);
    // jose says NOT_SUPPORTED for an unknown alg and for an unsupported header parameter (crit, b64, zip).
    case 'ERR_JOSE_NOT_SUPPORTED': return /alg|algorithm/i.test(String((err as Error).message))
      ? fail('alg_not_allowed', DESCRIPTIONS.alg, err)
      : fail('token_malformed', DESCRIPTIONS.header, err);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JWE_INVALID':
    case 'ERR_JWE_DECRYPTION_FAILED': return fail('token_malformed', DESCRIPTIONS.malformed, err);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
    case 'ERR_JWK_INVALID': return fail('key_not_found', DESCRIPTIONS.keyNotFound, err);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID': return fail('jwks_unavailable', DESCRIPTIONS.keysUnavailable, err);
    case 'ERR_JOSE_GENERIC': return fail('token_malformed', DESCRIPTIONS.malformed, err);
    default: break;
  }
  // jose throws a plain TypeError when a key does not fit the alg (wrong family, RSA under 2048 bits, a
  // CryptoKey imported for another algorithm): no usable key for this token.
  if (err instanceof TypeError) return fail('key_not_found', DESCRIPTIONS.keyNotFound, err);
  // JSON/decoding failures and anything unexpected: never a 500, never the raw message.
  return fail('token_malformed', DESCRIPTIONS.malformed, err);
}

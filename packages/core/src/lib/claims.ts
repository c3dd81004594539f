import { isDeepStrictEqual } from 'node:util';
import { TokenError, type TokenErrorCode } from '../errors.js';
import type { TokenClaims } from '../types.js';
import { own } from './decode.js';
import { DESCRIPTIONS } from './map-error.js';

/** What the claim checks need, already validated by the options module. */
export interface ClaimRules {
  /** Accepted audiences (exact, case-sensitive). */
  readonly audiences: readonly string[];
  /** Seconds of leeway for exp/nbf/iat. */
  readonly clockTolerance: number;
  /** Seconds; rejects tokens whose `iat` is older. */
  readonly maxTokenAge: number | undefined;
  /** Seconds; longest accepted `exp - iat` (or `exp - now` without `iat`). */
  readonly maxTokenLifetime: number;
  /** RFC 9068 profile. */
  readonly strict: boolean;
  /** Exact-value claim checks (own properties of the user's object). */
  readonly exact: ReadonlyArray<readonly [string, unknown]>;
}

function reject(code: TokenErrorCode, description: string): never {
  throw new TokenError(code, description);
}


/** RFC 8725 §3.11 / RFC 9068 §2.1: `at+jwt` or `application/at+jwt`, compared case-insensitively. */
export function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'at+jwt' || t === 'application/at+jwt';
}

// Explicit types of JWTs that are not access tokens (RFC 8725 §3.11): refused even outside strict mode.
const OTHER_TYPS = new Set(['dpop+jwt', 'logout+jwt', 'secevent+jwt', 'token-introspection+jwt', 'jwk-set+jwt', 'entity-statement+jwt', 'id_token+jwt']);

/** Whether `typ` names another kind of JWT (a DPoP proof, a logout token...), case-insensitively. */
export function isOtherJwtTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return OTHER_TYPS.has(t.startsWith('application/') ? t.slice(12) : t);
}

function numericDate(payload: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const value = own(payload, name);
  if (value === undefined) {
    if (required) reject('claim_invalid', DESCRIPTIONS.claim);
    return undefined;
  }
  // 1e400 parses to Infinity; strings, booleans, null and objects are not NumericDates.
  if (typeof value !== 'number' || !Number.isFinite(value)) reject('claim_invalid', DESCRIPTIONS.claim);
  return value;
}

function optionalString(payload: Record<string, unknown>, name: string, required: boolean): void {
  const value = own(payload, name);
  if (value === undefined ? required : typeof value !== 'string' || (required && value.length === 0)) reject('claim_invalid', DESCRIPTIONS.claim);
}

/**
 * Checks the registered claims of a verified payload against the rules, in the order jose uses (issuer,
 * audience, time), so both engines give the same code. `issuer` is the configured issuer that was selected
 * by the token's `iss`; it is compared again, exactly. Throws a {@link TokenError}; returns `exp`.
 */
export function checkClaims(header: Record<string, unknown>, payload: Record<string, unknown>, issuer: string, rules: ClaimRules, nowSeconds: number): number {
  const typ = own(header, 'typ');
  if (rules.strict ? !isAccessTokenTyp(typ) : isOtherJwtTyp(typ)) reject('claim_invalid', DESCRIPTIONS.typ);
  if (own(payload, 'iss') !== issuer) reject('issuer_invalid', DESCRIPTIONS.issuer);
  const aud = own(payload, 'aud');
  if (!audienceMatches(aud, rules.audiences)) reject('audience_invalid', DESCRIPTIONS.audience);
  optionalString(payload, 'sub', rules.strict);
  optionalString(payload, 'client_id', rules.strict);
  optionalString(payload, 'jti', rules.strict);
  optionalString(payload, 'azp', false);
  const tol = rules.clockTolerance;
  const iat = numericDate(payload, 'iat', rules.strict || rules.maxTokenAge !== undefined);
  const nbf = numericDate(payload, 'nbf', false);
  const exp = numericDate(payload, 'exp', true)!;
  if (nbf !== undefined && nbf > nowSeconds + tol) reject('token_not_yet_valid', DESCRIPTIONS.notYetValid);
  if (exp <= nowSeconds - tol) reject('token_expired', DESCRIPTIONS.expired);
  if (iat !== undefined) {
    if (iat > nowSeconds + tol) reject('token_not_yet_valid', DESCRIPTIONS.issuedInFuture);
    if (rules.maxTokenAge !== undefined && nowSeconds - iat - tol > rules.maxTokenAge) reject('token_too_old', DESCRIPTIONS.tooOld);
  }
  // Caps the lifetime so a token minted for the year 3000 (or 1e400) is not honoured.
  if (exp - (iat ?? nowSeconds) > rules.maxTokenLifetime + (iat === undefined ? tol : 0)) reject('claim_invalid', DESCRIPTIONS.lifetime);
  // RFC 9449 §7.2: a DPoP-bound token presented as a plain bearer token is refused (DPoP is not enabled).
  const cnf = own(payload, 'cnf');
  if (typeof cnf === 'object' && cnf !== null && own(cnf as Record<string, unknown>, 'jkt') !== undefined) reject('claim_invalid', DESCRIPTIONS.dpopBound);
  if (rules.strict && own(payload, 'scope') !== undefined && typeof own(payload, 'scope') !== 'string') reject('claim_invalid', DESCRIPTIONS.claim);
  for (const [name, expected] of rules.exact) {
    const actual = own(payload, name);
    if (actual === undefined || !(actual === expected || isDeepStrictEqual(actual, expected))) reject('claim_invalid', DESCRIPTIONS.claim);
  }
  return exp;
}

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (!Array.isArray(aud) || aud.length === 0) return false;
  let match = false;
  for (const a of aud) {
    // A nested array or a number in `aud` makes the whole claim invalid, not just that entry.
    if (typeof a !== 'string') return false;
    if (accepted.includes(a)) match = true;
  }
  return match;
}

/** Runs the user's predicate; anything but `true` (including a throw) is `claim_invalid`. */
export async function checkPredicate(predicate: (claims: TokenClaims) => boolean | Promise<boolean>, claims: TokenClaims): Promise<void> {
  let ok: unknown;
  try {
    ok = await predicate(claims);
  } catch (err) {
    throw new TokenError('claim_invalid', DESCRIPTIONS.claim, { cause: err });
  }
  if (ok !== true) reject('claim_invalid', DESCRIPTIONS.claim);
}

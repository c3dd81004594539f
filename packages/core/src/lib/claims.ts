import { isDeepStrictEqual } from 'node:util';
import { reject, rejection } from '../errors.js';
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

function numericDate(value: unknown, required: boolean): number | undefined {
  if (value === undefined) {
    if (required) reject('claim_invalid', DESCRIPTIONS.claim);
    return undefined;
  }
  // 1e400 parses to Infinity; strings, booleans, null and objects are not NumericDates.
  if (typeof value !== 'number' || !Number.isFinite(value)) reject('claim_invalid', DESCRIPTIONS.claim);
  return value;
}

function optionalString(value: unknown, required: boolean): void {
  if (value === undefined ? required : typeof value !== 'string' || (required && value.length === 0)) reject('claim_invalid', DESCRIPTIONS.claim);
}

/**
 * The claims the core itself reads, each the payload's own property or undefined, read once per token, each by
 * its own name at its own place in the code. A shared `own(payload, name)` for every claim made V8 treat that one
 * property read as megamorphic (one site, many names), and with its `hasOwnProperty` it cost ~120 ns a token in a
 * loop and ~3,000–4,000 instructions an uncached request in a Fastify server (callgrind, session 12); this costs ~15 ns.
 */
export interface RegisteredClaims {
  readonly iss: unknown;
  readonly sub: unknown;
  readonly aud: unknown;
  readonly exp: unknown;
  readonly nbf: unknown;
  readonly iat: unknown;
  readonly jti: unknown;
  readonly client_id: unknown;
  readonly azp: unknown;
  readonly cnf: unknown;
  readonly scope: unknown;
  readonly scp: unknown;
}

const REGISTERED = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'client_id', 'azp', 'cnf', 'scope', 'scp'] as const satisfies ReadonlyArray<keyof RegisteredClaims>;
const objectPrototype = Object.prototype;

/**
 * The {@link RegisteredClaims} of a decoded payload: own properties only (`__proto__`, `constructor` and friends
 * never come from the prototype).
 *
 * A payload is a plain object from `JSON.parse`: its prototype is `Object.prototype` and no value is undefined,
 * so while `Object.prototype` has none of these names (it has none of them unless something polluted it), a plain
 * read gives the own value or undefined. V8 folds those `in` checks into the compiled code, and undoes that
 * if `Object.prototype` ever changes. Any other object, or a polluted prototype, takes {@link own} per claim.
 */
export function registeredClaims(payload: Readonly<Record<string, unknown>>): RegisteredClaims {
  const p = payload as Readonly<Record<keyof RegisteredClaims, unknown>>;
  const o = objectPrototype;
  if (
    Object.getPrototypeOf(p) === o && !('iss' in o) && !('sub' in o) && !('aud' in o) && !('exp' in o) && !('nbf' in o) && !('iat' in o) &&
    !('jti' in o) && !('client_id' in o) && !('azp' in o) && !('cnf' in o) && !('scope' in o) && !('scp' in o)
  ) {
    return { iss: p.iss, sub: p.sub, aud: p.aud, exp: p.exp, nbf: p.nbf, iat: p.iat, jti: p.jti, client_id: p.client_id, azp: p.azp, cnf: p.cnf, scope: p.scope, scp: p.scp };
  }
  const slow: Record<string, unknown> = {};
  for (const name of REGISTERED) slow[name] = own(p, name);
  return slow as unknown as RegisteredClaims;
}

/**
 * Checks the registered claims of a verified payload against the rules, in the order jose uses (issuer,
 * audience, time), so both engines give the same code. `typ` is the header's own `typ` (see `HeaderFields`);
 * `claims` are the payload's {@link registeredClaims}; `issuer` is the configured issuer that was selected by the
 * token's `iss`; it is compared again, exactly. Throws a {@link TokenError}; returns `exp`.
 */
export function checkClaims(typ: unknown, payload: Record<string, unknown>, claims: RegisteredClaims, issuer: string, rules: ClaimRules, nowSeconds: number): number {
  if (rules.strict ? !isAccessTokenTyp(typ) : isOtherJwtTyp(typ)) reject('claim_invalid', DESCRIPTIONS.typ);
  if (claims.iss !== issuer) reject('issuer_invalid', DESCRIPTIONS.issuer);
  if (!audienceMatches(claims.aud, rules.audiences)) reject('audience_invalid', DESCRIPTIONS.audience);
  optionalString(claims.sub, rules.strict);
  optionalString(claims.client_id, rules.strict);
  optionalString(claims.jti, rules.strict);
  optionalString(claims.azp, false);
  const tol = rules.clockTolerance;
  const iat = numericDate(claims.iat, rules.strict || rules.maxTokenAge !== undefined);
  const nbf = numericDate(claims.nbf, false);
  const exp = numericDate(claims.exp, true)!;
  if (nbf !== undefined && nbf > nowSeconds + tol) reject('token_not_yet_valid', DESCRIPTIONS.notYetValid);
  if (exp <= nowSeconds - tol) reject('token_expired', DESCRIPTIONS.expired);
  if (iat !== undefined) {
    if (iat > nowSeconds + tol) reject('token_not_yet_valid', DESCRIPTIONS.issuedInFuture);
    if (rules.maxTokenAge !== undefined && nowSeconds - iat - tol > rules.maxTokenAge) reject('token_too_old', DESCRIPTIONS.tooOld);
  }
  // Caps the lifetime so a token minted for the year 3000 (or 1e400) is not honoured.
  if (exp - (iat ?? nowSeconds) > rules.maxTokenLifetime + (iat === undefined ? tol : 0)) reject('claim_invalid', DESCRIPTIONS.lifetime);
  // RFC 9449 §7.2: a DPoP-bound token presented as a plain bearer token is refused (DPoP is not enabled).
  const cnf = claims.cnf;
  if (typeof cnf === 'object' && cnf !== null && own(cnf as Record<string, unknown>, 'jkt') !== undefined) reject('claim_invalid', DESCRIPTIONS.dpopBound);
  if (rules.strict && claims.scope !== undefined && typeof claims.scope !== 'string') reject('claim_invalid', DESCRIPTIONS.claim);
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
    throw rejection('claim_invalid', DESCRIPTIONS.claim, { cause: err });
  }
  if (ok !== true) reject('claim_invalid', DESCRIPTIONS.claim);
}

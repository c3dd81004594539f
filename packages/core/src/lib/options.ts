import type { IssuerConfig, JwksOptions, RequestLike, RevocationStore, TokenClaims, VerifierOptions } from '../types.js';
import { toSeconds } from './duration.js';
import { isHmac, SUPPORTED_ALGORITHMS } from './fast-verify.js';
import type { ClaimRules } from './claims.js';
import { KNOWN_OPTIONS, rejectUnknownOptions } from './known-options.js';

/** The default algorithm allowlist: asymmetric only. */
export const DEFAULT_ALGORITHMS = Object.freeze(['RS256', 'PS256', 'ES256', 'EdDSA']);
/** Default longest token, in characters, checked before any decoding. */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
/** Default longest accepted `exp - iat`: one day. */
export const DEFAULT_MAX_TOKEN_LIFETIME = 86_400;
/** Default clock tolerance in seconds. */
export const DEFAULT_CLOCK_TOLERANCE = 5;
/** Default verified-token cache size. */
export const DEFAULT_CACHE_ENTRIES = 10_000;

/** One configured issuer, validated. */
export interface IssuerSetup {
  readonly issuer: string;
  readonly algorithms: readonly string[];
  readonly jwksUri?: string;
  readonly keys?: { keys: Record<string, unknown>[] };
  readonly secret?: string | Uint8Array;
  readonly jwks?: JwksOptions;
}

/** {@link VerifierOptions} validated, with defaults applied and durations in seconds. */
export interface Settings {
  readonly issuers: readonly IssuerSetup[];
  readonly rules: ClaimRules;
  readonly predicate: ((claims: TokenClaims) => boolean | Promise<boolean>) | undefined;
  readonly scopeClaims: readonly string[];
  readonly getToken: ((req: RequestLike) => string | undefined) | undefined;
  readonly credentialsRequired: boolean;
  readonly allowQueryToken: boolean;
  readonly allowBodyToken: boolean;
  readonly maxTokenLength: number;
  readonly realm: string | undefined;
  readonly cacheEntries: number;
  readonly revocation: RevocationStore | undefined;
  readonly failMode: 'open' | 'closed';
  readonly engine: 'node' | 'jose';
  /** Verify signatures on the libuv thread pool (node engine). */
  readonly offload: boolean;
}

function fail(message: string): never {
  throw new TypeError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function bool(v: unknown, name: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(`"${name}" must be a boolean`);
  return v;
}

function algorithms(v: unknown, name: string): readonly string[] {
  if (!Array.isArray(v) || v.length === 0) fail(`"${name}" must be a non-empty array of algorithm names`);
  for (const alg of v) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') fail(`"${name}" must not contain 'none'`);
    if (!(SUPPORTED_ALGORITHMS as readonly unknown[]).includes(alg)) {
      fail(`"${name}" holds an unsupported algorithm; use exact names from: ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }
  return Object.freeze([...new Set(v as string[])]);
}

function issuerSetup(entry: IssuerConfig | string, index: number, top: VerifierOptions, single: boolean, topAlgs: readonly string[]): IssuerSetup {
  const name = `issuer[${index}]`;
  const cfg: IssuerConfig = typeof entry === 'string' ? { issuer: entry } : entry;
  if (!isObject(cfg)) fail(`"${name}" must be an issuer string or an object { issuer, jwksUri?, keys?, secret?, algorithms?, jwks? }`);
  if (typeof entry !== 'string') rejectUnknownOptions(cfg, KNOWN_OPTIONS.issuer, name);
  if (!nonEmptyString(cfg.issuer)) fail(`"${single ? 'issuer' : `${name}.issuer`}" must be a non-empty string`);
  const algs = cfg.algorithms === undefined ? topAlgs : algorithms(cfg.algorithms, `${name}.algorithms`);
  // Top-level key options belong to the one issuer: keys of different issuers are never shared.
  const jwksUri = cfg.jwksUri ?? (single ? top.jwksUri : undefined);
  const keys = cfg.keys ?? (single ? top.keys : undefined);
  const secret = cfg.secret ?? (single ? top.secret : undefined);
  const usesSecret = jwksUri === undefined && keys === undefined && secret !== undefined;
  const hmac = algs.filter(isHmac);
  if (usesSecret) {
    if (hmac.length !== algs.length) fail(`"${typeof entry === 'string' || single ? 'algorithms' : `${name}.algorithms`}" must list only HS256/HS384/HS512 when a "secret" is the key source`);
  } else if (hmac.length > 0) {
    fail(`"algorithms" may hold HS* algorithms only for an issuer whose key source is a "secret" (never HMAC with a key set)`);
  }
  if (cfg.jwks !== undefined && !isObject(cfg.jwks)) fail(`"${name}.jwks" must be an object`);
  if (cfg.jwks !== undefined) rejectUnknownOptions(cfg.jwks, KNOWN_OPTIONS.jwks, `${name}.jwks`);
  const jwks = cfg.jwks === undefined ? top.jwks : { ...top.jwks, ...cfg.jwks };
  return {
    issuer: cfg.issuer,
    algorithms: algs,
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(keys === undefined ? {} : { keys }),
    ...(secret === undefined ? {} : { secret }),
    ...(jwks === undefined ? {} : { jwks }),
  };
}

function issuers(o: VerifierOptions): IssuerSetup[] {
  const v: unknown = o.issuer;
  const list = typeof v === 'string' ? [v] : Array.isArray(v) && v.length > 0 ? (v as unknown[]) : fail('"issuer" must be a non-empty string, an array of strings, or an array of issuer configs');
  const topAlgs = o.algorithms === undefined ? DEFAULT_ALGORITHMS : algorithms(o.algorithms, 'algorithms');
  const single = list.length === 1;
  if (!single && (o.jwksUri !== undefined || o.keys !== undefined || o.secret !== undefined)) {
    fail('"jwksUri", "keys" and "secret" apply to a single issuer; with several issuers give each its own in an issuer config');
  }
  const setups = list.map((entry, i) => issuerSetup(entry as IssuerConfig | string, i, o, single, topAlgs));
  const seen = new Set<string>();
  for (const s of setups) {
    if (seen.has(s.issuer)) fail('"issuer" lists the same issuer twice');
    seen.add(s.issuer);
  }
  return setups;
}

function audiences(v: unknown): readonly string[] {
  if (nonEmptyString(v)) return Object.freeze([v]);
  if (Array.isArray(v) && v.length > 0 && v.every(nonEmptyString)) return Object.freeze([...v]);
  return fail('"audience" must be a non-empty string or a non-empty array of non-empty strings');
}

function positiveInteger(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(`"${name}" must be a positive integer`);
  return v;
}

/**
 * Validates every option of `createTokenVerifier` up front: a bad option is a programmer error, thrown as a
 * `TypeError` that names it. Key-source options (`jwksUri`, `keys`, `secret`, `jwks`) are checked again in
 * depth by the key sources.
 */
export function validateOptions(o: VerifierOptions): Settings {
  if (!isObject(o)) fail('createTokenVerifier(options): "options" must be an object');
  rejectUnknownOptions(o, KNOWN_OPTIONS.verifier);
  const list = issuers(o);
  const auds = audiences(o.audience);
  const clockTolerance = o.clockTolerance === undefined ? DEFAULT_CLOCK_TOLERANCE : toSeconds(o.clockTolerance, 'clockTolerance');
  const maxTokenAge = o.maxTokenAge === undefined ? undefined : toSeconds(o.maxTokenAge, 'maxTokenAge');
  const maxTokenLifetime = o.maxTokenLifetime === undefined ? DEFAULT_MAX_TOKEN_LIFETIME : toSeconds(o.maxTokenLifetime, 'maxTokenLifetime');
  if (maxTokenLifetime <= 0) fail('"maxTokenLifetime" must be more than 0');
  const strict = bool(o.strict, 'strict', false);
  let scopeClaims: readonly string[] = ['scope', 'scp'];
  if (o.scopeClaims !== undefined) {
    if (!Array.isArray(o.scopeClaims) || !o.scopeClaims.every(nonEmptyString)) fail('"scopeClaims" must be an array of claim names');
    scopeClaims = Object.freeze([...o.scopeClaims]);
  }
  let exact: [string, unknown][] = [];
  let predicate: Settings['predicate'];
  if (typeof o.claims === 'function') predicate = o.claims;
  else if (isObject(o.claims)) exact = Object.keys(o.claims).map((k) => [k, (o.claims as Record<string, unknown>)[k]]);
  else if (o.claims !== undefined) fail('"claims" must be an object of exact claim values or a function (claims) => boolean');
  if (o.getToken !== undefined && typeof o.getToken !== 'function') fail('"getToken" must be a function (req) => string | undefined');
  const maxTokenLength = positiveInteger(o.maxTokenLength, 'maxTokenLength', DEFAULT_MAX_TOKEN_LENGTH);
  if (o.realm !== undefined && typeof o.realm !== 'string') fail('"realm" must be a string');
  let cacheEntries = DEFAULT_CACHE_ENTRIES;
  if (o.cache === false) cacheEntries = 0;
  else if (isObject(o.cache)) {
    rejectUnknownOptions(o.cache, KNOWN_OPTIONS.cache, 'cache');
    cacheEntries = positiveInteger(o.cache.maxEntries, 'cache.maxEntries', DEFAULT_CACHE_ENTRIES);
  } else if (o.cache !== undefined && o.cache !== true) fail('"cache" must be false or { maxEntries }');
  if (o.jwks !== undefined && !isObject(o.jwks)) fail('"jwks" must be an object');
  if (o.jwks !== undefined) rejectUnknownOptions(o.jwks, KNOWN_OPTIONS.jwks, 'jwks');
  const revocation = o.revocation;
  if (revocation !== undefined && (!isObject(revocation) || typeof revocation.isRevoked !== 'function')) fail('"revocation" must be a RevocationStore (an object with isRevoked(jti))');
  const failMode = revocation?.failMode ?? 'closed';
  if (failMode !== 'open' && failMode !== 'closed') fail('"revocation.failMode" must be \'open\' or \'closed\'');
  if (o.metrics !== undefined && o.metrics !== false && !isObject(o.metrics)) fail('"metrics" must be false or { registry?, prefix? }');
  if (isObject(o.metrics)) rejectUnknownOptions(o.metrics, KNOWN_OPTIONS.metrics, 'metrics');
  if (o.logger !== undefined && (!isObject(o.logger) || ['info', 'warn', 'error'].some((m) => typeof (o.logger as unknown as Record<string, unknown>)[m] !== 'function'))) {
    fail('"logger" must be a pino-compatible logger with info, warn and error methods');
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') fail('"onEvent" must be a function (event) => void');
  const engine = o.engine ?? 'node';
  if (engine !== 'node' && engine !== 'jose') fail('"engine" must be \'node\' or \'jose\'');
  return {
    issuers: list,
    rules: { audiences: auds, clockTolerance, maxTokenAge, maxTokenLifetime, strict, exact },
    predicate,
    scopeClaims,
    getToken: o.getToken,
    credentialsRequired: bool(o.credentialsRequired, 'credentialsRequired', true),
    allowQueryToken: bool(o.allowQueryToken, 'allowQueryToken', false),
    allowBodyToken: bool(o.allowBodyToken, 'allowBodyToken', true),
    maxTokenLength,
    realm: o.realm,
    cacheEntries,
    revocation,
    failMode,
    engine,
    offload: bool(o.offload, 'offload', false),
  };
}

import { jwtVerify, type JWSHeaderParameters, type ProtectedHeaderParameters } from 'jose';
import { TokenError, type TokenErrorCode } from './errors.js';
import { extractToken, TRANSPORT } from './extract-token.js';
import { checkClaims, checkPredicate } from './lib/claims.js';
import { decodeJws, own } from './lib/decode.js';
import { assertKeyFits, verifySignature } from './lib/fast-verify.js';
import { fingerprint } from './lib/fingerprint.js';
import type { KeySource, ResolvedKey } from './lib/key-source.js';
import { createKeySource } from './lib/key-sources.js';
import { DESCRIPTIONS, mapError } from './lib/map-error.js';
import { validateOptions, type IssuerSetup, type Settings } from './lib/options.js';
import type { Telemetry } from './lib/telemetry.js';
import { createTokenCache, type CacheEntry, type TokenCache } from './lib/token-cache.js';
import { parseScopes } from './scopes.js';
import { createTelemetry } from './telemetry.js';
import type { AuditEvent, AuthInfo, IssuerHealth, RequestLike, TokenClaims, TokenVerifier, VerifierOptions, VerifyContext } from './types.js';

/** Internals a caller may replace (tests, adapters that share one telemetry). */
export interface VerifierDeps {
  /** Metrics and audit sink. Default: `createTelemetry()` from the `metrics`, `logger` and `onEvent` options. */
  telemetry?: Telemetry;
  /** fetch for remote key sets and discovery. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

type EventFields = Omit<AuditEvent, 'type' | 'time'>;

interface Issuer {
  readonly setup: IssuerSetup;
  readonly source: KeySource;
  readonly algorithms: ReadonlySet<string>;
}

// Header members that change how a JWS is processed; tokenguard understands none of them, so it rejects them.
const REJECTED_HEADERS = ['crit', 'b64', 'zip', 'enc'] as const;
// A kid is only copied into events when it is short, printable ASCII (it is attacker-chosen).
const SAFE_KID = /^[\x21-\x7e]{1,128}$/;

function reject(code: TokenErrorCode, description: string): never {
  throw new TokenError(code, description);
}

// AuthInfo objects are shared by every request that presents the same token (the cache hands out the same
// object), so nothing in them may be changed by one request handler: deep-frozen claims and header, a scope
// set that refuses changes, a fresh Date per read.
const sealedSets = new WeakSet<object>();

class ScopeSet extends Set<string> {
  override add(value: string): this {
    if (sealedSets.has(this)) throw new TypeError('AuthInfo.scopes is read-only');
    return super.add(value);
  }
  override delete(value: string): boolean {
    if (sealedSets.has(this)) throw new TypeError('AuthInfo.scopes is read-only');
    return super.delete(value);
  }
  override clear(): void {
    if (sealedSets.has(this)) throw new TypeError('AuthInfo.scopes is read-only');
    super.clear();
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

function buildAuth(token: string, header: Record<string, unknown>, payload: Record<string, unknown>, issuer: string, scopes: Set<string>, exp: number, fp: string): AuthInfo {
  const sub = own(payload, 'sub');
  const clientId = own(payload, 'client_id');
  const azp = own(payload, 'azp');
  const scopeSet = new ScopeSet(scopes);
  sealedSets.add(scopeSet);
  const expiresAtMs = exp * 1000;
  const auth = {
    header: deepFreeze(header) as unknown as ProtectedHeaderParameters,
    claims: deepFreeze(payload) as TokenClaims,
    scopes: scopeSet as ReadonlySet<string>,
    subject: typeof sub === 'string' ? sub : undefined,
    clientId: typeof clientId === 'string' ? clientId : typeof azp === 'string' ? azp : undefined,
    issuer,
    fingerprint: fp,
  };
  // Non-enumerable: JSON.stringify(auth) and loggers never see the raw token.
  Object.defineProperty(auth, 'token', { value: token, enumerable: false });
  Object.defineProperty(auth, 'expiresAt', { get: () => new Date(expiresAtMs), enumerable: true });
  return Object.freeze(auth) as unknown as AuthInfo;
}

/**
 * Builds a verifier for JWT access tokens. Every option is validated here (a `TypeError` naming the
 * option); key sources, telemetry and the verified-token cache are created once.
 *
 * @example
 * const verifier = createTokenVerifier({ issuer: 'https://idp.example.com/', audience: 'orders-api' });
 * const auth = await verifier.verify(token);            // rejects with a TokenError
 * const auth2 = await verifier.verifyRequest(req);      // RFC 6750 extraction, then verify
 */
export function createTokenVerifier(options: VerifierOptions, deps: VerifierDeps = {}): TokenVerifier {
  const s: Settings = validateOptions(options);
  const telemetry = deps.telemetry ?? createTelemetry({
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    issuers: s.issuers.map((i) => i.issuer),
  });
  const issuers = new Map<string, Issuer>();
  const allAlgorithms = new Set<string>();
  for (const setup of s.issuers) {
    const source = createKeySource({
      issuer: setup.issuer,
      algorithms: [...setup.algorithms],
      jwks: setup.jwks ?? {},
      ...(setup.jwksUri === undefined ? {} : { jwksUri: setup.jwksUri }),
      ...(setup.keys === undefined ? {} : { keys: setup.keys }),
      ...(setup.secret === undefined ? {} : { secret: setup.secret }),
    }, { telemetry, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) });
    issuers.set(setup.issuer, { setup, source, algorithms: new Set(setup.algorithms) });
    for (const alg of setup.algorithms) allAlgorithms.add(alg);
  }
  const cache: TokenCache | undefined = s.cacheEntries > 0 ? createTokenCache(s.cacheEntries, (n) => telemetry.cacheEntries(n)) : undefined;
  const auditing = telemetry.auditing !== false;
  const noEvent: EventFields = {};
  const rules = s.rules;
  const joseRequired = ['exp', ...(rules.strict ? ['iat', 'sub', 'client_id', 'jti'] : [])];
  const revocation = s.revocation;

  function withRealm(err: TokenError): TokenError {
    if (s.realm === undefined || err.challenge === undefined) return err;
    return new TokenError(err.code, err.description, { realm: s.realm, cause: err.cause, ...(err.scopes ? { scopes: err.scopes } : {}) });
  }

  function contextual(base: EventFields, context: VerifyContext | undefined): EventFields {
    if (!auditing) return noEvent;
    if (context === undefined || (context.route === undefined && context.ip === undefined)) return base;
    return { ...base, ...(context.route === undefined ? {} : { route: context.route }), ...(context.ip === undefined ? {} : { ip: context.ip }) };
  }

  function rejected(err: unknown, started: number, cacheState: 'hit' | 'miss', info: { token?: unknown; issuer?: string; kid?: unknown }, context: VerifyContext | undefined): TokenError {
    const e = withRealm(mapError(err));
    let event = noEvent;
    if (auditing) {
      event = { code: e.code };
      if (info.issuer !== undefined) event.issuer = info.issuer;
      if (typeof info.kid === 'string' && SAFE_KID.test(info.kid)) event.kid = info.kid;
      if (typeof info.token === 'string' && info.token.length > 0 && info.token.length <= s.maxTokenLength) event.fingerprint = fingerprint(info.token);
      event = contextual(event, context);
    }
    telemetry.rejected({ issuer: info.issuer, code: e.code, cache: cacheState, seconds: (performance.now() - started) / 1000, event });
    return e;
  }

  /** Revocation check: true = revoked. Synchronous when the store is (the in-memory one is). */
  function revokedState(jti: string | undefined): boolean | Promise<boolean> {
    if (revocation === undefined || jti === undefined) return false;
    let result: boolean | Promise<boolean>;
    try {
      result = revocation.isRevoked(jti);
    } catch (err) {
      return revocationFailed(err);
    }
    if (typeof result === 'boolean') return result;
    return Promise.resolve(result).then((r) => r === true, revocationFailed);
  }

  function revocationFailed(err: unknown): boolean {
    if (s.failMode === 'open') return false;
    throw new TokenError('revocation_unavailable', DESCRIPTIONS.revocationUnavailable, { cause: err });
  }

  function accept(entry: CacheEntry, cacheState: 'hit' | 'miss', started: number, nowSeconds: number, context: VerifyContext | undefined): AuthInfo {
    telemetry.accepted({
      issuer: entry.auth.issuer, cache: cacheState, seconds: (performance.now() - started) / 1000,
      remainingSeconds: entry.exp - nowSeconds, event: contextual(entry.event, context),
    });
    return entry.auth;
  }

  /** The cache-hit path: synchronous unless the revocation store is asynchronous. */
  function fromCache(token: string, entry: CacheEntry, started: number, context: VerifyContext | undefined): AuthInfo | Promise<AuthInfo> {
    const now = Date.now() / 1000;
    const info = { token, issuer: entry.auth.issuer, kid: entry.auth.header.kid };
    if (entry.exp <= now - rules.clockTolerance) {
      cache!.delete(token);
      throw rejected(new TokenError('token_expired', DESCRIPTIONS.expired), started, 'hit', info, context);
    }
    if (!entry.source.isCurrent(entry.key)) {
      // The signing key left the issuer's key set: the token is not honoured any more, cached or not.
      cache!.delete(token);
      throw rejected(new TokenError('key_not_found', DESCRIPTIONS.keyNotFound), started, 'hit', info, context);
    }
    let state: boolean | Promise<boolean>;
    try {
      state = revokedState(entry.jti);
    } catch (err) {
      throw rejected(err, started, 'hit', info, context);
    }
    const settle = (revoked: boolean): AuthInfo => {
      if (revoked) {
        cache!.delete(token);
        throw rejected(new TokenError('token_revoked', DESCRIPTIONS.revoked), started, 'hit', info, context);
      }
      return accept(entry, 'hit', started, now, context);
    };
    if (typeof state === 'boolean') return settle(state);
    return state.then(settle, (err: unknown) => {
      throw rejected(err, started, 'hit', info, context);
    });
  }

  async function verifyFresh(token: string, info: { issuer?: string; kid?: unknown }): Promise<CacheEntry> {
    const { header, payload, signingInput, signature } = decodeJws(token, s.maxTokenLength);
    const alg = own(header, 'alg');
    if (alg === undefined) reject('token_malformed', DESCRIPTIONS.header);
    // Exact, case-sensitive: 'none', 'None', 'rs256' and non-strings are simply not on the list.
    if (typeof alg !== 'string' || !allAlgorithms.has(alg)) reject('alg_not_allowed', DESCRIPTIONS.alg);
    for (const name of REJECTED_HEADERS) if (own(header, name) !== undefined) reject('token_malformed', DESCRIPTIONS.header);
    const kid = own(header, 'kid');
    if (kid !== undefined && typeof kid !== 'string') reject('token_malformed', DESCRIPTIONS.header);
    info.kid = kid;
    // The unverified `iss` only picks which configured issuer's keys to try: an unknown one is refused
    // before any key lookup, and no URL is ever derived from the token.
    const iss = own(payload, 'iss');
    const issuer = typeof iss === 'string' ? issuers.get(iss) : undefined;
    if (issuer === undefined) reject('issuer_invalid', DESCRIPTIONS.issuer);
    info.issuer = issuer.setup.issuer;
    if (!issuer.algorithms.has(alg)) reject('alg_not_allowed', DESCRIPTIONS.alg);
    // Only alg and kid reach the key source: embedded jwk/jku/x5u/x5c never select or fetch a key.
    const keyHeader: JWSHeaderParameters = kid === undefined ? { alg } : { alg, kid };
    const key: ResolvedKey = await issuer.source.resolve(keyHeader);
    assertKeyFits(alg, key);
    if (s.engine === 'node') {
      if (!verifySignature(alg, key, signingInput, signature)) reject('signature_invalid', DESCRIPTIONS.signature);
    } else {
      await jwtVerify(token, key.key, {
        algorithms: [alg], issuer: issuer.setup.issuer, audience: [...rules.audiences], clockTolerance: rules.clockTolerance,
        requiredClaims: joseRequired,
        ...(rules.maxTokenAge === undefined ? {} : { maxTokenAge: rules.maxTokenAge }),
        ...(rules.strict ? { typ: 'at+jwt' } : {}),
      });
    }
    const now = Date.now() / 1000;
    const exp = checkClaims(header, payload, issuer.setup.issuer, rules, now);
    if (s.predicate !== undefined) await checkPredicate(s.predicate, payload as TokenClaims);
    const scopes = parseScopes(payload, s.scopeClaims);
    const jtiClaim = own(payload, 'jti');
    const jti = typeof jtiClaim === 'string' ? jtiClaim : undefined;
    const revoked = revokedState(jti);
    if (revoked === true || (typeof revoked !== 'boolean' && (await revoked))) reject('token_revoked', DESCRIPTIONS.revoked);
    const fp = fingerprint(token);
    const auth = buildAuth(token, header, payload, issuer.setup.issuer, scopes, exp, fp);
    const event: EventFields = auditing ? { issuer: auth.issuer, subject: auth.subject, clientId: auth.clientId, jti, kid, fingerprint: fp } : noEvent;
    return { auth, exp, jti, key, source: issuer.source, event };
  }

  async function verify(token: string, context?: VerifyContext): Promise<AuthInfo> {
    const started = performance.now();
    if (cache !== undefined && typeof token === 'string') {
      const entry = cache.get(token);
      if (entry !== undefined) return fromCache(token, entry, started, context);
    }
    const info: { token: unknown; issuer?: string; kid?: unknown } = { token };
    let entry: CacheEntry;
    try {
      entry = await verifyFresh(token, info);
    } catch (err) {
      throw rejected(err, started, 'miss', info, context);
    }
    cache?.set(token, entry);
    return accept(entry, 'miss', started, Date.now() / 1000, context);
  }

  function tokenOf(req: RequestLike): string | undefined {
    if (s.getToken === undefined) {
      return extractToken(req, { allowQueryToken: s.allowQueryToken, allowBodyToken: s.allowBodyToken, ...(s.realm === undefined ? {} : { realm: s.realm }) });
    }
    let token: unknown;
    try {
      token = s.getToken(req);
    } catch (err) {
      throw err instanceof TokenError ? err : new TokenError('invalid_request', TRANSPORT.malformedHeader, { cause: err });
    }
    if (token === undefined || token === null || token === '') return undefined;
    return token as string;
  }

  async function verifyRequest(req: RequestLike, context?: VerifyContext): Promise<AuthInfo | undefined> {
    const started = performance.now();
    let token: string | undefined;
    try {
      if (typeof req !== 'object' || req === null) throw new TokenError('invalid_request', TRANSPORT.malformedHeader);
      token = tokenOf(req);
      if (token === undefined && s.credentialsRequired) throw new TokenError('token_missing', TRANSPORT.missing);
    } catch (err) {
      throw rejected(err, started, 'miss', {}, context);
    }
    if (token === undefined) return undefined;
    return verify(token, context);
  }

  return {
    verify,
    verifyRequest,
    health: (): IssuerHealth[] => [...issuers.values()].map((i) => i.source.health()),
    reportScopeDenied(auth: AuthInfo | undefined, required: readonly string[], context?: VerifyContext): void {
      const event: EventFields = { code: 'insufficient_scope', required: [...required] };
      if (auth !== undefined) Object.assign(event, { issuer: auth.issuer, subject: auth.subject, clientId: auth.clientId, jti: auth.claims.jti, kid: auth.header.kid, fingerprint: auth.fingerprint });
      telemetry.scopeDenied({ route: context?.route, event: contextual(event, context === undefined ? undefined : { ...(context.ip === undefined ? {} : { ip: context.ip }) }) });
    },
    async close(): Promise<void> {
      for (const i of issuers.values()) i.source.close();
      cache?.clear();
    },
    options: Object.freeze({ ...options }),
  };
}

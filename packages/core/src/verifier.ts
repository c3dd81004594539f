import { performance } from 'node:perf_hooks';
import { jwtVerify, type ProtectedHeaderParameters } from 'jose';
import { TokenError, reject, rejection } from './errors.js';
import { extractWith, isB64Token, malformedHeader, soleHeaderValue, TRANSPORT, type ExtractOptions, type KnownTokens } from './extract-token.js';
import { checkClaims, checkPredicate, registeredClaims, type RegisteredClaims } from './lib/claims.js';
import { HeaderMemo, own, splitJws, type SplitJws } from './lib/decode.js';
import { assertKeyFits, fittedKey, verifyPrepared, type PreparedKey } from './lib/fast-verify.js';
import { fingerprint } from './lib/fingerprint.js';
import type { KeySource, ResolvedKey } from './lib/key-source.js';
import { createKeySource } from './lib/key-sources.js';
import { DESCRIPTIONS, mapError } from './lib/map-error.js';
import { validateOptions, type IssuerSetup, type Settings } from './lib/options.js';
import type { Telemetry } from './lib/telemetry.js';
import { createTokenCache, type CacheEntry, type TokenCache } from './lib/token-cache.js';
import { addScopeClaim, parseScopes } from './scopes.js';
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
  /** Recently resolved keys, by alg then kid (see {@link KEY_REUSE_MS}). */
  readonly keyMemo: Map<string, AlgKeys>;
}

interface KeyMemo {
  readonly key: ResolvedKey;
  /** Epoch ms until which the key is reused without asking the key source. */
  readonly until: number;
  /** The key made ready for this alg (`fittedKey`), or undefined when it cannot verify it (`assertKeyFits` then says why). */
  readonly prepared: PreparedKey | undefined;
}

interface AlgKeys {
  noKid: KeyMemo | undefined;
  readonly byKid: Map<string, KeyMemo>;
}

/**
 * How long a resolved key is reused for the same (alg, kid) without calling the key source again, and only
 * while the source still calls it current (`isCurrent`: a key that left the set is dropped at once). Saves the
 * key source's promise chain on nearly every uncached verification; the source still sees a `resolve` at least
 * once a second while tokens flow, so its refresh schedule slips by at most that.
 */
const KEY_REUSE_MS = 1000;
/** Kids remembered per issuer and alg (only kids that resolved to a real key get in). */
const KEY_MEMO_MAX = 64;
/**
 * Sealed scope sets remembered per verifier, by `scope` string (only of tokens that verified, so forged tokens cannot
 * churn it; emptied when full). The AuthInfos of tokens with the same scopes share one read-only set.
 */
const SCOPE_MEMO_MAX = 64;
/** The longest `scope` string whose set is remembered. */
const SCOPE_MEMO_CHARS = 512;
/** One request in this many is timed from its start for tokenguard_verify_duration_seconds (a power of two; see `startClock`). */
const HIT_SAMPLE = 8;
/** A request not timed from its start (see `startClock`). */
const UNTIMED = -1;

function memoizedKey(issuer: Issuer, alg: string, kid: string | undefined, nowMs: number): KeyMemo | undefined {
  const byAlg = issuer.keyMemo.get(alg);
  if (byAlg === undefined) return undefined;
  const memo = kid === undefined ? byAlg.noKid : byAlg.byKid.get(kid);
  if (memo === undefined || nowMs >= memo.until || !issuer.source.isCurrent(memo.key, nowMs)) return undefined;
  return memo;
}

function rememberKey(issuer: Issuer, alg: string, kid: string | undefined, key: ResolvedKey, nowMs: number): KeyMemo {
  let byAlg = issuer.keyMemo.get(alg);
  if (byAlg === undefined) issuer.keyMemo.set(alg, (byAlg = { noKid: undefined, byKid: new Map() }));
  const memo: KeyMemo = { key, until: nowMs + KEY_REUSE_MS, prepared: fittedKey(alg, key) };
  if (kid === undefined) {
    byAlg.noKid = memo;
    return memo;
  }
  if (byAlg.byKid.size >= KEY_MEMO_MAX) byAlg.byKid.clear();
  byAlg.byKid.set(kid, memo);
  return memo;
}

// Header members that change how a JWS is processed; tokenguard understands none of them, so it rejects them.
const REJECTED_HEADERS = ['crit', 'b64', 'zip', 'enc'] as const;
// A kid is only copied into events when it is short, printable ASCII (it is attacker-chosen).
const SAFE_KID = /^[\x21-\x7e]{1,128}$/;

/** The header a key source sees: only alg and kid (embedded jwk/jku/x5u/x5c never select or fetch a key). */
function keyHeader(alg: string, kid: string | undefined): { alg: string; kid?: string } {
  return kid === undefined ? { alg } : { alg, kid };
}

// AuthInfo objects are shared by every request that presents the same token (the cache hands out the same
// object), so nothing in them may be changed by one request handler: deep-frozen claims and header, a scope
// set that refuses changes, a fresh Date per read.
class ScopeSet extends Set<string> {
  #sealed = false;
  /** The `scope` string the set was remembered by (see `scopesOf`), if it was. */
  #text: string | undefined;
  /** Makes the set read-only for good; `text`: the `scope` string it is remembered by. */
  seal(text?: string): this {
    this.#sealed = true;
    this.#text = text;
    return this;
  }
  /** The `scope` string a remembered set was made from. */
  static textOf(set: ScopeSet): string | undefined {
    return set.#text;
  }
  override add(value: string): this {
    if (this.#sealed) throw new TypeError('AuthInfo.scopes is read-only');
    return super.add(value);
  }
  override delete(value: string): boolean {
    if (this.#sealed) throw new TypeError('AuthInfo.scopes is read-only');
    return super.delete(value);
  }
  override clear(): void {
    if (this.#sealed) throw new TypeError('AuthInfo.scopes is read-only');
    super.clear();
  }
}

/**
 * The AuthInfo of a verified token: plain frozen data fields, and on the prototype the raw token
 * (non-enumerable, so JSON.stringify and loggers never see it), `expiresAt` (a fresh Date per read) and the
 * fingerprint (a SHA-256, computed the first time something reads it). A class rather than an object literal
 * with accessors: building one costs ~30 ns instead of ~1 µs. `toJSON` keeps `fingerprint` and `expiresAt` in
 * serialized output.
 */
class VerifiedAuth implements AuthInfo {
  readonly #token: string;
  readonly #expiresAtMs: number;
  /** The verifier that verified it (see {@link verifierOf}). */
  readonly #verifier: TokenVerifier;
  #fingerprint: string | undefined;

  constructor(
    token: string,
    readonly header: ProtectedHeaderParameters,
    readonly claims: TokenClaims,
    readonly scopes: ReadonlySet<string>,
    readonly subject: string | undefined,
    readonly clientId: string | undefined,
    readonly issuer: string,
    expiresAtMs: number,
    verifier: TokenVerifier,
  ) {
    this.#token = token;
    this.#expiresAtMs = expiresAtMs;
    this.#verifier = verifier;
    Object.freeze(this);
  }

  /** The raw token (not enumerable). */
  get token(): string {
    return this.#token;
  }

  /** A short, log-safe fingerprint of the token. */
  get fingerprint(): string {
    return (this.#fingerprint ??= fingerprint(this.#token));
  }

  /** When the token expires (`exp`); a new Date on every read. */
  get expiresAt(): Date {
    return new Date(this.#expiresAtMs);
  }

  /** The verifier that made `value`, if it is an AuthInfo made here. */
  static verifierOf(value: unknown): TokenVerifier | undefined {
    return typeof value === 'object' && value !== null && #verifier in value ? value.#verifier : undefined;
  }

  /** The serialized form: every field but the token. */
  toJSON(): Record<string, unknown> {
    return { header: this.header, claims: this.claims, scopes: [...this.scopes], subject: this.subject, clientId: this.clientId, issuer: this.issuer, fingerprint: this.fingerprint, expiresAt: this.expiresAt };
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    const obj = value as Record<string, unknown>;
    // for-in walks the object's enum cache without allocating a key array (half the cost of Object.keys on a
    // payload); an inherited member (a polluted prototype) is not the token's and is left alone.
    for (const key in obj) {
      const member = obj[key];
      if (typeof member === 'object' && member !== null && Object.hasOwn(obj, key)) deepFreeze(member);
    }
  }
  return value;
}

/**
 * The verifier that verified an AuthInfo made by {@link createTokenVerifier}; undefined for any other value. Lets an
 * adapter find a request's guard from its AuthInfo without a per-token WeakMap entry (lib/adapter-support.ts).
 * @example verifierOf(req.auth) === guard.verifier
 */
export function verifierOf(auth: unknown): TokenVerifier | undefined {
  return VerifiedAuth.verifierOf(auth);
}

/**
 * Gives a verified payload, before it is frozen and cached, the copies of its repeated strings the verifier already
 * holds: `iss` (compared exactly with the configured issuer), a string `aud` (with the configured audience it
 * matched) and a `scope` string a remembered scope set was made from. The strings are equal, so nothing a reader
 * sees changes; a cached token keeps ~90 bytes less (bench/README.md, session 26). Done only with the cache on; a
 * payload already frozen (handed to a `predicate`) is left as it is.
 */
function shareRepeatedStrings(payload: Record<string, unknown>, issuer: string, audiences: readonly string[], scope: string | undefined): void {
  if (Object.isFrozen(payload)) return;
  if (Object.hasOwn(payload, 'iss') && payload.iss === issuer) payload.iss = issuer;
  if (Object.hasOwn(payload, 'aud') && typeof payload.aud === 'string') {
    for (const a of audiences) if (a === payload.aud) payload.aud = a;
  }
  if (scope !== undefined && Object.hasOwn(payload, 'scope') && payload.scope === scope) payload.scope = scope;
}

function buildAuth(token: string, header: Record<string, unknown>, payload: Record<string, unknown>, named: Verified, issuer: string, scopes: ScopeSet, exp: number, verifier: TokenVerifier): AuthInfo {
  const { subject, clientId } = named;
  return new VerifiedAuth(
    token,
    deepFreeze(header) as unknown as ProtectedHeaderParameters,
    deepFreeze(payload) as TokenClaims,
    scopes,
    subject,
    clientId,
    issuer,
    exp * 1000,
    verifier,
  );
}

/** The promise form of a call that answers synchronously when it can and may throw: a throw becomes a rejection. */
function promised<T>(run: () => T | Promise<T>): Promise<T> {
  try {
    const result = run();
    return result instanceof Promise ? result : Promise.resolve(result);
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/** Who a token names (`sub`; `client_id`, else `azp`; `jti`): for its AuthInfo, and for the events of a token whose signature verified (never of an unverified one). */
interface Verified {
  subject?: string;
  clientId?: string;
  jti?: string;
}

function verifiedFields(claims: RegisteredClaims): Verified {
  const out: Verified = {};
  const { sub, client_id: cid, azp, jti } = claims;
  if (typeof sub === 'string') out.subject = sub;
  if (typeof cid === 'string') out.clientId = cid;
  else if (typeof azp === 'string') out.clientId = azp;
  if (typeof jti === 'string') out.jti = jti;
  return out;
}

/** What the checks before the key lookup found (see `precheck`). */
interface Prechecked {
  d: SplitJws;
  /** The payload's registered claims, own properties only (read before the signature is checked, trusted after). */
  claims: RegisteredClaims;
  alg: string;
  kid: string | undefined;
  issuer: Issuer;
}

/** An uncached token that passed every check: its cache entry, and the clock reading its claims were judged at. */
interface Passed {
  entry: CacheEntry;
  nowSeconds: number;
}

/** What a failed verification knows, for its event. */
interface AttemptInfo {
  token?: unknown;
  issuer?: string;
  kid?: unknown;
  /** The payload's registered claims, set once the signature has verified: its subject, client and jti may then be reported. */
  verified?: RegisteredClaims;
}

/**
 * The synchronous entry of a verifier built here, for the adapters (see `syncEntryOf` in lib/adapter-support.ts):
 * `verifyRequest` hands back the AuthInfo itself on a cache hit that needs no wait, so an adapter can pass the
 * request on in the same tick; `auditing` says whether events are emitted, i.e. whether a request context is
 * used at all (it goes only into audit events).
 */
export interface SyncEntry {
  /** `queryFromUrl`: the adapter knows `req.query` is parsed from `req.url`, so it is skipped when the URL has no '?'. */
  verifyRequest(req: RequestLike, context: VerifyContext | undefined, queryFromUrl?: boolean): AuthInfo | undefined | Promise<AuthInfo | undefined>;
  readonly auditing: boolean;
}

const SYNC_ENTRIES = new WeakMap<TokenVerifier, SyncEntry>();

/**
 * The synchronous entry of a verifier made by {@link createTokenVerifier}; undefined for any other object.
 * @example const entry = syncEntry(verifier); const auth = entry?.verifyRequest(req, undefined);
 */
export function syncEntry(verifier: TokenVerifier): SyncEntry | undefined {
  return SYNC_ENTRIES.get(verifier);
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
    issuers.set(setup.issuer, { setup, source, algorithms: new Set(setup.algorithms), keyMemo: new Map() });
    for (const alg of setup.algorithms) allAlgorithms.add(alg);
  }
  const cache: TokenCache | undefined = s.cacheEntries > 0 ? createTokenCache(s.cacheEntries, (n) => telemetry.cacheEntries(n)) : undefined;
  const auditing = telemetry.auditing !== false;
  const noEvent: EventFields = {};
  const rules = s.rules;
  // The default scope claims are read from the registered claims (see `registeredClaims`), others by name.
  const defaultScopeClaims = s.scopeClaims.length === 2 && s.scopeClaims[0] === 'scope' && s.scopeClaims[1] === 'scp';
  const headerMemo = new HeaderMemo();
  const scopeMemo = new Map<string, ScopeSet>();
  // tokenguard_verify_duration_seconds without two clock reads per cache hit (see `startClock`). `tick` counts
  // requests modulo HIT_SAMPLE: an ever-growing count would leave V8's small integers after ~10^9 requests.
  let tick = 0;
  let lastHitSeconds: number | undefined;
  const joseRequired = ['exp', ...(rules.strict ? ['iat', 'sub', 'client_id', 'jti'] : [])];
  const revocation = s.revocation;
  const extractOptions: ExtractOptions = { allowQueryToken: s.allowQueryToken, allowBodyToken: s.allowBodyToken, ...(s.realm === undefined ? {} : { realm: s.realm }) };

  function withRealm(err: TokenError): TokenError {
    if (s.realm === undefined || err.challenge === undefined) return err;
    return rejection(err.code, err.description, { realm: s.realm, cause: err.cause, ...(err.scopes ? { scopes: err.scopes } : {}) });
  }

  function contextual(base: EventFields, context: VerifyContext | undefined): EventFields {
    if (!auditing) return noEvent;
    if (context === undefined || (context.route === undefined && context.ip === undefined)) return base;
    return { ...base, ...(context.route === undefined ? {} : { route: context.route }), ...(context.ip === undefined ? {} : { ip: context.ip }) };
  }

  /**
   * When a request's verification started, for tokenguard_verify_duration_seconds, or UNTIMED. Two
   * `performance.now()` reads were ~0.25 µs of a ~1.5 µs cache hit inside a Fastify server (bench/README.md, session
   * 16), so one request in HIT_SAMPLE is timed from its start, and every request until a synchronous hit has been
   * timed. An untimed synchronous hit is recorded with the duration of the last timed one (`hitSeconds`): counts stay
   * exact, the hits' distribution is sampled. An untimed request that turns out not to be one starts its clock there
   * (`timedFrom`): a miss is timed from its cache lookup on, a rejection before that records 0 s.
   */
  function startClock(): number {
    tick = (tick + 1) & (HIT_SAMPLE - 1);
    return tick === 0 || lastHitSeconds === undefined ? performance.now() : UNTIMED;
  }

  function timedFrom(started: number): number {
    return started === UNTIMED ? performance.now() : started;
  }

  function seconds(started: number): number {
    return started === UNTIMED ? 0 : (performance.now() - started) / 1000;
  }

  /** A synchronous hit's duration: measured when timed (and kept for the untimed ones), else the last one measured. */
  function hitSeconds(started: number): number {
    if (started === UNTIMED) return lastHitSeconds!;
    return (lastHitSeconds = (performance.now() - started) / 1000);
  }

  function rejected(err: unknown, started: number, cacheState: 'hit' | 'miss', info: AttemptInfo, context: VerifyContext | undefined): TokenError {
    const e = withRealm(mapError(err));
    let event = noEvent;
    if (auditing) {
      event = { code: e.code };
      if (info.issuer !== undefined) event.issuer = info.issuer;
      if (typeof info.kid === 'string' && SAFE_KID.test(info.kid)) event.kid = info.kid;
      if (info.verified !== undefined) Object.assign(event, verifiedFields(info.verified));
      if (typeof info.token === 'string' && info.token.length > 0 && info.token.length <= s.maxTokenLength) event.fingerprint = fingerprint(info.token);
      event = contextual(event, context);
    }
    telemetry.rejected({ issuer: info.issuer, code: e.code, cache: cacheState, seconds: seconds(started), event });
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
    throw rejection('revocation_unavailable', DESCRIPTIONS.revocationUnavailable, { cause: err });
  }

  /** `cacheState` 'hit': a synchronous hit (see `hitSeconds`); an asynchronous one is accepted as 'async-hit'. */
  function accept(entry: CacheEntry, cacheState: 'hit' | 'async-hit' | 'miss', started: number, nowSeconds: number, context: VerifyContext | undefined): AuthInfo {
    telemetry.accepted({
      issuer: entry.auth.issuer, cache: cacheState === 'miss' ? 'miss' : 'hit', seconds: cacheState === 'hit' ? hitSeconds(started) : seconds(started),
      remainingSeconds: entry.exp - nowSeconds, event: contextual(entry.event, context),
    });
    return entry.auth;
  }

  /** What a failed cache hit knows, for its event (built only on a rejection). */
  function hitInfo(token: string, entry: CacheEntry): AttemptInfo {
    return { token, issuer: entry.auth.issuer, kid: entry.auth.header.kid, verified: registeredClaims(entry.auth.claims) };
  }

  /** The end of a cache hit once the revocation state is known. */
  function settleHit(token: string, entry: CacheEntry, revoked: boolean, started: number, now: number, context: VerifyContext | undefined, hit: 'hit' | 'async-hit'): AuthInfo {
    if (revoked) {
      cache!.delete(token);
      throw rejected(rejection('token_revoked', DESCRIPTIONS.revoked), started, 'hit', hitInfo(token, entry), context);
    }
    return accept(entry, hit, started, now, context);
  }

  /** The cache-hit path: synchronous unless the revocation store is asynchronous. Nothing is allocated for an accepted hit but its metrics record. */
  function fromCache(token: string, entry: CacheEntry, started: number, context: VerifyContext | undefined): AuthInfo | Promise<AuthInfo> {
    const nowMs = Date.now();
    const now = nowMs / 1000;
    if (entry.exp <= now - rules.clockTolerance) {
      cache!.delete(token);
      throw rejected(rejection('token_expired', DESCRIPTIONS.expired), started, 'hit', hitInfo(token, entry), context);
    }
    if (!entry.source.isCurrent(entry.key, nowMs)) {
      // The signing key left the issuer's key set: the cached verdict is void. Verify again, so the key
      // source gives the answer it gives any other request (key_not_found, or jwks_unavailable when the
      // set has gone past staleIfError).
      cache!.delete(token);
      return verifyMiss(token, started, context);
    }
    let state: boolean | Promise<boolean>;
    try {
      state = revokedState(entry.jti);
    } catch (err) {
      throw rejected(err, started, 'hit', hitInfo(token, entry), context);
    }
    if (typeof state === 'boolean') return settleHit(token, entry, state, started, now, context, 'hit');
    // An asynchronous revocation store: this hit is timed, from here if it was not from its start.
    const from = timedFrom(started);
    return state.then((revoked) => settleHit(token, entry, revoked, from, now, context, 'async-hit'), (err: unknown) => {
      throw rejected(err, from, 'hit', hitInfo(token, entry), context);
    });
  }

  /** Everything before the key lookup, synchronous: structure, header rules, alg allowlist, issuer selection. */
  function precheck(token: unknown, info: AttemptInfo): Prechecked {
    const d = splitJws(token, s.maxTokenLength, headerMemo);
    const { header, payload } = d;
    const alg = d.fields.alg as string;
    const kid = d.fields.kid as string | undefined;
    // A remembered header belongs to a token that verified: it passed these checks already.
    if (!d.headerRemembered) {
      if (alg === undefined) reject('token_malformed', DESCRIPTIONS.header);
      // Exact, case-sensitive: 'none', 'None', 'rs256' and non-strings are simply not on the list.
      if (typeof alg !== 'string' || !allAlgorithms.has(alg)) reject('alg_not_allowed', DESCRIPTIONS.alg);
      for (const name of REJECTED_HEADERS) if (own(header, name) !== undefined) reject('token_malformed', DESCRIPTIONS.header);
      if (kid !== undefined && typeof kid !== 'string') reject('token_malformed', DESCRIPTIONS.header);
    }
    info.kid = kid;
    // The unverified `iss` only picks which configured issuer's keys to try: an unknown one is refused
    // before any key lookup, and no URL is ever derived from the token.
    const claims = registeredClaims(payload);
    const iss = claims.iss;
    const issuer = typeof iss === 'string' ? issuers.get(iss) : undefined;
    if (issuer === undefined) reject('issuer_invalid', DESCRIPTIONS.issuer);
    info.issuer = issuer.setup.issuer;
    if (!issuer.algorithms.has(alg)) reject('alg_not_allowed', DESCRIPTIONS.alg);
    return { d, claims, alg, kid, issuer };
  }

  async function joseVerify(token: string, key: ResolvedKey, alg: string, issuer: string, claims: RegisteredClaims, info: AttemptInfo): Promise<void> {
    try {
      await jwtVerify(token, key.key, {
        algorithms: [alg], issuer, audience: [...rules.audiences], clockTolerance: rules.clockTolerance,
        requiredClaims: joseRequired,
        ...(rules.maxTokenAge === undefined ? {} : { maxTokenAge: rules.maxTokenAge }),
        ...(rules.strict ? { typ: 'at+jwt' } : {}),
      });
    } catch (err) {
      // jose checks claims only after the signature verified.
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 'ERR_JWT_EXPIRED' || code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') info.verified = claims;
      throw err;
    }
  }

  /**
   * An uncached verification: the AuthInfo itself when nothing needs a wait, a promise otherwise; a rejection is
   * thrown (synchronous) or rejects the promise, reported once either way. Synchronous in the common case: the key
   * is already resolved (memoized per alg and kid while its source calls it current), the node engine checks the
   * signature inline (no `offload`), there is no predicate and the revocation store answers synchronously (the
   * in-memory one does). A key lookup, `offload`, the jose engine, a predicate or an asynchronous revocation store
   * add their awaits; the checks and their order are the same on both paths.
   */
  function verifyMiss(token: string, startedAt: number, context: VerifyContext | undefined, header = false, exact?: string): AuthInfo | Promise<AuthInfo> {
    const started = timedFrom(startedAt);
    const info: AttemptInfo = { token };
    let outcome: Passed | Promise<Passed>;
    try {
      outcome = checkUncached(token, info);
    } catch (err) {
      // `header`: an Authorization header token whose characters extraction left unchecked (see `extractWith`).
      // A token without b64token syntax always fails here (splitJws, before any key lookup): it is answered as the
      // malformed header it is, exactly as if extraction had refused it.
      if (header && !isB64Token(token)) throw rejected(malformedHeader(s.realm), started, 'miss', {}, context);
      throw rejected(err, started, 'miss', info, context);
    }
    // A token that got this far passed splitJws, so it has b64token syntax.
    if (outcome instanceof Promise) {
      return outcome.then(
        (passed) => admit(token, passed, started, context, exact),
        (err: unknown) => {
          throw rejected(err, started, 'miss', info, context);
        },
      );
    }
    return admit(token, outcome, started, context, exact);
  }

  function admit(token: string, passed: Passed, started: number, context: VerifyContext | undefined, exact: string | undefined): AuthInfo {
    passed.entry.header = exact;
    cache?.set(token, passed.entry);
    return accept(passed.entry, 'miss', started, passed.nowSeconds, context);
  }

  /** Every check of an uncached token, synchronously when nothing needs a wait (see {@link verifyMiss}). */
  function checkUncached(token: string, info: AttemptInfo): Passed | Promise<Passed> {
    const pre = precheck(token, info);
    const nowMs = Date.now();
    const memo = memoizedKey(pre.issuer, pre.alg, pre.kid, nowMs);
    if (memo === undefined || s.engine !== 'node' || s.offload || s.predicate !== undefined) return checkWithWaits(token, info, pre, memo, nowMs);
    const { d, alg, issuer } = pre;
    const key = memo.key;
    const prepared = memo.prepared;
    // The memo checked the key's fit for this alg once (assertKeyFits): an unfit key is refused as it says.
    if (prepared === undefined) assertKeyFits(alg, key);
    if (prepared === undefined || verifyPrepared(prepared, d.signingInput, d.signatureSegment, false) !== true) reject('signature_invalid', DESCRIPTIONS.signature);
    info.verified = pre.claims;
    const nowSeconds = nowMs / 1000;
    const exp = checkClaims(d.fields.typ, d.payload, pre.claims, issuer.setup.issuer, rules, nowSeconds);
    return passedEntry(token, pre, key, exp, nowSeconds);
  }

  /**
   * {@link checkUncached} past the synchronous fast path. A key the source already knows it cannot give (an unknown
   * kid during the refetch cooldown) is refused here, synchronously: a flood of random kids then costs no promise
   * chain. Everything else goes on to {@link checkUncachedAsync}.
   */
  function checkWithWaits(token: string, info: AttemptInfo, pre: Prechecked, memoized: KeyMemo | undefined, startMs: number): Promise<Passed> {
    if (memoized === undefined) {
      const refusal = pre.issuer.source.refusal?.(keyHeader(pre.alg, pre.kid));
      if (refusal !== undefined) throw refusal;
    }
    return checkUncachedAsync(token, info, pre, memoized, startMs);
  }

  /** {@link checkUncached} with its waits: the key lookup, `offload`, the jose engine, a predicate. */
  async function checkUncachedAsync(token: string, info: AttemptInfo, pre: Prechecked, memoized: KeyMemo | undefined, startMs: number): Promise<Passed> {
    const { d, alg, kid, issuer } = pre;
    const { payload } = d;
    // The clock is read again after any wait (a key-set fetch, the thread pool, jose).
    let offloaded: boolean;
    let nowMs = startMs;
    let memo = memoized;
    if (memo === undefined) {
      // Only alg and kid reach the key source: embedded jwk/jku/x5u/x5c never select or fetch a key.
      const resolved = await issuer.source.resolve(keyHeader(alg, kid));
      nowMs = Date.now();
      memo = rememberKey(issuer, alg, kid, resolved, nowMs);
    }
    const { key, prepared } = memo;
    // The memo checked the key's fit for this alg (see checkUncached).
    if (prepared === undefined) assertKeyFits(alg, key);
    if (s.engine === 'node') {
      const ok = prepared === undefined ? false : verifyPrepared(prepared, d.signingInput, d.signatureSegment, s.offload);
      offloaded = ok !== true && ok !== false;
      if (!(ok === true || (ok !== false && (await ok)))) reject('signature_invalid', DESCRIPTIONS.signature);
    } else {
      await joseVerify(token, key, alg, issuer.setup.issuer, pre.claims, info);
      offloaded = true;
    }
    info.verified = pre.claims;
    const nowSeconds = (offloaded ? Date.now() : nowMs) / 1000;
    const exp = checkClaims(d.fields.typ, payload, pre.claims, issuer.setup.issuer, rules, nowSeconds);
    // Frozen before the user's predicate sees it: the claims, scopes and subject of the AuthInfo are the signed ones.
    if (s.predicate !== undefined) await checkPredicate(s.predicate, deepFreeze(payload) as TokenClaims);
    return passedEntry(token, pre, key, exp, nowSeconds);
  }

  /**
   * The scope set of a token that passed every other check, sealed. A token whose scopes are one `scope` string (no
   * `scp`; the usual case) shares the set of every verified token with the same string (see {@link SCOPE_MEMO_MAX}).
   */
  function scopesOf(payload: Record<string, unknown>, claims: RegisteredClaims): ScopeSet {
    if (!defaultScopeClaims) {
      const scopes = new ScopeSet();
      parseScopes(payload, s.scopeClaims, scopes);
      return scopes.seal();
    }
    const { scope, scp } = claims;
    if (scp !== undefined || typeof scope !== 'string' || scope.length > SCOPE_MEMO_CHARS) {
      const scopes = new ScopeSet();
      addScopeClaim('scope', scope, scopes);
      addScopeClaim('scp', scp, scopes);
      return scopes.seal();
    }
    let scopes = scopeMemo.get(scope);
    if (scopes === undefined) {
      scopes = new ScopeSet();
      addScopeClaim('scope', scope, scopes);
      scopes.seal(scope);
      if (scopeMemo.size >= SCOPE_MEMO_MAX) scopeMemo.clear();
      scopeMemo.set(scope, scopes);
    }
    return scopes;
  }

  /** The end of an uncached verification: scopes, the revocation check (synchronous when the store is), the entry. */
  function passedEntry(token: string, pre: Prechecked, key: ResolvedKey, exp: number, nowSeconds: number): Passed | Promise<Passed> {
    const { claims } = pre;
    const scopes = scopesOf(pre.d.payload, claims);
    const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
    const revoked = revokedState(jti);
    if (typeof revoked === 'boolean') return settle(token, pre, key, exp, nowSeconds, scopes, revoked);
    return revoked.then((r) => settle(token, pre, key, exp, nowSeconds, scopes, r));
  }

  /** {@link passedEntry} once the revocation state is known: the AuthInfo and its cache entry. */
  function settle(token: string, pre: Prechecked, key: ResolvedKey, exp: number, nowSeconds: number, scopes: ScopeSet, revoked: boolean): Passed {
    if (revoked) reject('token_revoked', DESCRIPTIONS.revoked);
    const { d, issuer } = pre;
    if (cache !== undefined) shareRepeatedStrings(d.payload, issuer.setup.issuer, rules.audiences, ScopeSet.textOf(scopes));
    const named = verifiedFields(pre.claims);
    const auth = buildAuth(token, d.header, d.payload, named, issuer.setup.issuer, scopes, exp, verifier);
    // buildAuth froze the header in place: later tokens with the same header segment reuse it.
    if (!d.headerRemembered) headerMemo.remember(d.headerSegment, d.header, d.fields);
    const event: EventFields = auditing ? { issuer: auth.issuer, subject: auth.subject, clientId: auth.clientId, jti: named.jti, kid: pre.kid, fingerprint: auth.fingerprint } : noEvent;
    return { entry: { auth, exp, jti: named.jti, key, source: issuer.source, event, used: false, header: undefined }, nowSeconds };
  }

  /** verify() without the promise: the AuthInfo itself on a synchronous cache hit; throws a rejection of that hit. */
  function verifyNow(token: string, context: VerifyContext | undefined): AuthInfo | Promise<AuthInfo> {
    const started = startClock();
    if (cache !== undefined && typeof token === 'string') {
      const entry = cache.get(token);
      if (entry !== undefined) return fromCache(token, entry, started, context);
    }
    return verifyMiss(token, started, context);
  }

  function verify(token: string, context?: VerifyContext): Promise<AuthInfo> {
    return promised(() => verifyNow(token, context));
  }

  /**
   * The cache entry extraction found for the request being handled: extraction asks the cache about a header
   * token (see `extractWith`), and the hit is used at once. Set and used in the same synchronous call.
   */
  let seen: CacheEntry | undefined;
  /** The header token the cache was asked about (`seen` is its entry): the very string extraction returns. */
  let seenToken: string | undefined;
  /** The Authorization value `seenToken` runs to the end of, kept with the token if it verifies (see `admit`). */
  let seenHeader: string | undefined;
  function takeSeen(): CacheEntry | undefined {
    const entry = seen;
    seen = undefined;
    return entry;
  }
  const known: KnownTokens = {
    fromHeader(value) {
      const entry = cache?.byHeader(value);
      if (entry === undefined) return undefined;
      seen = entry;
      seenToken = entry.auth.token;
      return seenToken;
    },
    token(token, exact) {
      seenToken = token;
      seenHeader = exact;
      seen = cache === undefined ? undefined : cache.get(token);
      // A token cached by verify() or first sent in another header form: its later hits take the short way too.
      if (seen !== undefined && exact !== undefined && seen.header === undefined) seen.header = exact;
    },
  };

  function tokenOf(req: RequestLike, queryFromUrl: boolean): string | undefined {
    if (s.getToken === undefined) {
      return extractWith(req, extractOptions, known, queryFromUrl);
    }
    let token: unknown;
    try {
      token = s.getToken(req);
    } catch (err) {
      throw err instanceof TokenError ? err : rejection('invalid_request', TRANSPORT.malformedHeader, { cause: err });
    }
    if (token === undefined || token === null || token === '') return undefined;
    return token as string;
  }

  /**
   * verifyRequest() without the promise: undefined (no token, optional credentials) or the AuthInfo itself on a
   * synchronous cache hit, a promise otherwise; a synchronous rejection is thrown.
   */
  function verifyRequestNow(req: RequestLike, context: VerifyContext | undefined, queryFromUrl = false): AuthInfo | undefined | Promise<AuthInfo | undefined> {
    const started = startClock();
    if (cache !== undefined && s.getToken === undefined && typeof req === 'object' && req !== null) {
      // A request whose token can only be in its one Authorization header, and a value the cache knows: extraction
      // would return that value's token (see soleHeaderValue), so the hit is served without it. Any other request,
      // or a value not cached, is extracted below (the value then looked up once more, before its verification).
      const value = soleHeaderValue(req, extractOptions, queryFromUrl);
      const entry = value === undefined ? undefined : cache.byHeader(value);
      if (entry !== undefined) return fromCache(entry.auth.token, entry, started, context);
    }
    let token: string | undefined;
    takeSeen();
    seenToken = undefined;
    seenHeader = undefined;
    try {
      if (typeof req !== 'object' || req === null) throw rejection('invalid_request', TRANSPORT.malformedHeader);
      token = tokenOf(req, queryFromUrl);
      if (token === undefined && s.credentialsRequired) throw rejection('token_missing', TRANSPORT.missing);
    } catch (err) {
      throw rejected(err, started, 'miss', {}, context);
    }
    if (token === undefined) return undefined;
    const entry = takeSeen();
    if (seenToken === token) {
      // The header token (the same string object): the cache was asked about it during extraction, comparing the
      // whole token on a hit; on a miss its characters are still unchecked (see verifyMiss).
      seenToken = undefined;
      return entry !== undefined ? fromCache(token, entry, started, context) : verifyMiss(token, started, context, true, seenHeader);
    }
    return verifyNow(token, context);
  }

  function verifyRequest(req: RequestLike, context?: VerifyContext): Promise<AuthInfo | undefined> {
    return promised(() => verifyRequestNow(req, context));
  }

  const verifier: TokenVerifier = {
    verify,
    verifyRequest,
    health: (): IssuerHealth[] => [...issuers.values()].map((i) => i.source.health()),
    reportScopeDenied(auth: AuthInfo | undefined, required: readonly string[], context?: VerifyContext): void {
      const event: EventFields = { code: 'insufficient_scope', required: [...required] };
      if (auth !== undefined) Object.assign(event, { issuer: auth.issuer, subject: auth.subject, clientId: auth.clientId, jti: auth.claims.jti, kid: auth.header.kid, fingerprint: auth.fingerprint });
      telemetry.scopeDenied({ route: context?.route, event: contextual(event, context === undefined ? undefined : { ...(context.ip === undefined ? {} : { ip: context.ip }) }) });
    },
    async close(): Promise<void> {
      for (const i of issuers.values()) {
        i.source.close();
        i.keyMemo.clear();
      }
      cache?.clear();
    },
    options: Object.freeze({ ...options }),
  };
  SYNC_ENTRIES.set(verifier, { verifyRequest: verifyRequestNow, auditing });
  return verifier;
}

import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import type { Registry, RegistryContentType } from 'prom-client';
import type { Duration } from './lib/duration.js';
import type { TokenErrorCode } from './errors.js';

/**
 * An empty interface users merge their own claims into, so `auth.claims.tenant` is typed.
 * @example
 * declare module '@tokenguard/core' { interface CustomClaims { tenant: string } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface CustomClaims {}

/** The verified claims: registered JWT claims, the user's {@link CustomClaims}, and anything else. */
export type TokenClaims = JWTPayload & Partial<CustomClaims> & {
  scope?: string;
  scp?: string | string[];
  client_id?: string;
  azp?: string;
  jti?: string;
  [claim: string]: unknown;
};

/** What a successful verification yields; adapters put it on `req.auth` / `ctx.state.auth` / `request.auth`. */
export interface AuthInfo {
  /** The raw token (non-enumerable, so it never lands in a log by `JSON.stringify`). */
  readonly token: string;
  readonly header: ProtectedHeaderParameters;
  readonly claims: TokenClaims;
  readonly scopes: ReadonlySet<string>;
  readonly subject: string | undefined;
  /** `client_id`, else `azp`. */
  readonly clientId: string | undefined;
  /** The configured issuer that vouched for the token (always one of the configured strings). */
  readonly issuer: string;
  readonly expiresAt: Date;
  /** A short, non-reversible fingerprint of the token, safe for logs. */
  readonly fingerprint: string;
}

/** Pino-compatible logger shape: `logger.info(obj, msg)`. */
export interface Logger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The event types of API.md. */
export type AuditEventType =
  | 'token.accepted' | 'token.rejected' | 'scope.denied'
  | 'jwks.refreshed' | 'jwks.failed' | 'key.added' | 'key.removed' | 'anomaly';

/** One audit event. Never holds a token: `fingerprint` identifies it. */
export interface AuditEvent {
  type: AuditEventType;
  /** ISO time. */
  time: string;
  /** A configured issuer (never an unverified `iss`). */
  issuer?: string;
  subject?: string;
  clientId?: string;
  jti?: string;
  kid?: string;
  code?: TokenErrorCode;
  fingerprint?: string;
  /** The route template, when an adapter knows it. */
  route?: string;
  /** Scopes a route required (scope.denied). */
  required?: string[];
  /** Short safe message. */
  message?: string;
  /** Extra safe fields (counts, durations, outcome). */
  [field: string]: unknown;
}

/** Stores revoked token ids. In-memory by default; `@tokenguard/redis` for fleets. */
export interface RevocationStore {
  /** Revokes `jti` until `expiresAt` (a Date or epoch seconds), after which the store may forget it. */
  revoke(jti: string, expiresAt: Date | number): Promise<void>;
  /** Resolves true when `jti` is revoked. Rejects when the store is unreachable. */
  isRevoked(jti: string): Promise<boolean> | boolean;
  /** `'closed'` (default) rejects with `revocation_unavailable` when the store fails; `'open'` accepts. */
  readonly failMode?: 'open' | 'closed';
  close?(): Promise<void> | void;
}

/** Per-issuer key-source settings of the remote key set. */
export interface JwksOptions {
  /** How long a fetched key set is fresh. Default `'10m'`. */
  cacheMaxAge?: Duration;
  /** Least time between two fetches triggered by unknown kids. Default `'30s'`. */
  cooldown?: Duration;
  /** Bounds the total time a request waits for keys (discovery + fetch). Default `'5s'`. */
  timeout?: Duration;
  /** How long the last good key set keeps serving while the endpoint fails. Default `'24h'`. */
  staleIfError?: Duration;
  /** Cap on the response size in bytes. Default 262144 (256 KiB). */
  maxBytes?: number;
  /** Cap on the number of keys in a set. Default 100. */
  maxKeys?: number;
}

/** One issuer with its key source. The first of `jwksUri`, `keys`, `secret` given wins; otherwise discovery. */
export interface IssuerConfig {
  issuer: string;
  jwksUri?: string;
  keys?: { keys: Record<string, unknown>[] };
  secret?: string | Uint8Array;
  /** Per-issuer algorithm allowlist, overriding the verifier's. */
  algorithms?: string[];
  /** Per-issuer JWKS settings, merged over the verifier's `jwks`. */
  jwks?: JwksOptions;
}

/** Anything with `headers` (and optionally `rawHeaders`, `method`, `url`, `query`, `body`); an IncomingMessage works, and so does a Fetch `Headers` object as `headers`. */
export interface RequestLike {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: string[];
  method?: string;
  url?: string;
  query?: Record<string, unknown> | URLSearchParams | string;
  body?: unknown;
}

/** Options of {@link createTokenVerifier}. See API.md. */
export interface VerifierOptions {
  issuer: string | string[] | IssuerConfig[];
  audience: string | string[];
  jwksUri?: string;
  keys?: { keys: Record<string, unknown>[] };
  secret?: string | Uint8Array;
  /** Default `['RS256', 'PS256', 'ES256', 'EdDSA']`. */
  algorithms?: string[];
  /** Default 5 seconds. */
  clockTolerance?: Duration;
  maxTokenAge?: Duration;
  /** Longest accepted token lifetime (`exp - iat`, or `exp - now` without `iat`). Default `'1d'`. */
  maxTokenLifetime?: Duration;
  /** Signature engine: `'node'` (node:crypto, default, ~4× faster for RS256) or `'jose'` (jose's jwtVerify). */
  engine?: 'node' | 'jose';
  /**
   * Node engine: verify signatures on the libuv thread pool (`crypto.verify` with a callback) instead of the
   * event loop. Default false (see the README: it costs CPU per request and did not win throughput on 2 cores).
   */
  offload?: boolean;
  /** RFC 9068 profile. Default false. */
  strict?: boolean;
  /** Default `['scope', 'scp']`. */
  scopeClaims?: string[];
  claims?: Record<string, unknown> | ((claims: TokenClaims) => boolean | Promise<boolean>);
  getToken?: (req: RequestLike) => string | undefined;
  /** Default true: tokens are required; false makes `verifyRequest` resolve undefined when no token is sent. */
  credentialsRequired?: boolean;
  /** Read `?access_token=` (RFC 6750 §2.3). Default false. */
  allowQueryToken?: boolean;
  /** Read `access_token` from a urlencoded body on non-GET requests. Default true. */
  allowBodyToken?: boolean;
  /** Longest token accepted, in characters, checked before any decoding. Default 8192. */
  maxTokenLength?: number;
  /** `realm` in challenges. Default `'api'`. */
  realm?: string;
  cache?: false | { maxEntries?: number };
  jwks?: JwksOptions;
  revocation?: RevocationStore;
  /** A prom-client registry of either exposition format (Prometheus text or OpenMetrics). */
  metrics?: false | { registry?: Registry<RegistryContentType>; prefix?: string };
  logger?: Logger;
  onEvent?: (event: AuditEvent) => void;
}

/** Health of one issuer's keys for readiness probes. */
export interface IssuerHealth {
  issuer: string;
  /** `fresh`: within cacheMaxAge; `stale`: serving the last good set after failures; `unavailable`: no usable keys. */
  state: 'fresh' | 'stale' | 'unavailable';
  keys: number;
  /** Seconds since the key set was last fetched successfully (undefined: never, or static keys). */
  ageSeconds?: number;
  lastError?: string;
}

/** The verifier built by {@link createTokenVerifier}. */
export interface TokenVerifier {
  /** Verifies a compact JWS access token. Rejects with a {@link TokenError}. */
  verify(token: string, context?: VerifyContext): Promise<AuthInfo>;
  /** Extracts the bearer token per RFC 6750 and verifies it; undefined when absent and `credentialsRequired: false`. */
  verifyRequest(req: RequestLike, context?: VerifyContext): Promise<AuthInfo | undefined>;
  /** Health per issuer. */
  health(): IssuerHealth[];
  /** Reports a scope denial (adapters call this so it is counted and audited once). */
  reportScopeDenied(auth: AuthInfo | undefined, required: readonly string[], context?: VerifyContext): void;
  /** Stops timers and sockets. */
  close(): Promise<void>;
  readonly options: Readonly<VerifierOptions>;
}

/** Request facts adapters pass along for audit events. */
export interface VerifyContext {
  route?: string;
  /** Remote address, for analytics; never a metric label. */
  ip?: string;
}

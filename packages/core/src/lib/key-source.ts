import type { JWSHeaderParameters, CryptoKey } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { TokenError } from '../errors.js';
import type { IssuerHealth } from '../types.js';

/** A verification key as resolved for one token header. */
export interface ResolvedKey {
  /** What jose's `jwtVerify` takes: a CryptoKey / KeyObject for asymmetric keys, bytes for HS* secrets. */
  readonly key: CryptoKey | KeyObject | Uint8Array;
  /** The `kid` of the key in its set, when it has one. */
  readonly kid?: string;
  /** The public JWK (never with private members), when the key came from a JWK. */
  readonly jwk?: Readonly<Record<string, unknown>>;
}

/**
 * Where one issuer's keys come from: a static JWKS, an HS* secret, a remote JWKS (explicit URI or discovery).
 * Key sets of different issuers are never merged: the verifier holds one KeySource per configured issuer.
 */
export interface KeySource {
  /** The configured issuer this source belongs to. */
  readonly issuer: string;
  /**
   * Resolves the key for a JWS protected header (already checked to carry an allowed `alg`).
   * Rejects with a TokenError: `key_not_found` (set fetched, no such key or no key fits the alg),
   * `jwks_unavailable` (key unknown and the set cannot be fetched now).
   */
  resolve(header: JWSHeaderParameters): Promise<ResolvedKey>;
  /**
   * The rejection `resolve()` would give for this header right now, when it needs no wait (no fetch to start or
   * join), else undefined. Lets an unknown kid be refused synchronously during the refetch cooldown, so a flood of
   * them costs no promise chain. Optional: without it every miss of the verifier's key memo goes to `resolve()`.
   */
  refusal?(header: JWSHeaderParameters): TokenError | undefined;
  /**
   * Whether a key that `resolve()` returned is still in the issuer's current set: synchronous and O(1),
   * so the verified-token cache can drop tokens whose key has been removed. `nowMs`: the caller's `Date.now()`,
   * so a cache hit reads the clock once.
   */
  isCurrent(key: ResolvedKey, nowMs?: number): boolean;
  /** Key health for readiness probes. */
  health(): IssuerHealth;
  /** Stops timers and in-flight requests. */
  close(): void;
}

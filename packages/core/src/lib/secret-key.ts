/**
 * A key source over an HS256/384/512 shared secret. Only usable with HS* algorithms: HMAC is never done
 * with keys from a key set, and a secret source never verifies anything else.
 */
import type { JWSHeaderParameters } from 'jose';
import type { IssuerHealth } from '../types.js';
import { keyNotFound } from './key-errors.js';
import type { KeySource, ResolvedKey } from './key-source.js';

/** Bytes of the hash behind each HMAC algorithm: the least secret length accepted for it (RFC 7518 §3.2). */
export const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/**
 * Builds a {@link KeySource} over a shared secret. Throws a `TypeError` when `algorithms` holds anything but
 * HS256/HS384/HS512, or when the secret is shorter than the hash of an allowed algorithm.
 * @example createSecretKeySource('https://idp.example/', process.env.JWT_SECRET!, ['HS256'])
 */
export function createSecretKeySource(issuer: string, secret: string | Uint8Array, algorithms: readonly string[]): KeySource {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) throw new TypeError('"secret" must be a string or a Uint8Array');
  if (algorithms.length === 0 || algorithms.some((a) => HMAC_MIN_BYTES[a] === undefined)) {
    throw new TypeError('"secret" can only be used with "algorithms" limited to HS256, HS384, HS512');
  }
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : Uint8Array.from(secret);
  for (const alg of algorithms) {
    if (bytes.length < HMAC_MIN_BYTES[alg]!) throw new TypeError(`"secret" must be at least ${HMAC_MIN_BYTES[alg]} bytes for ${alg}`);
  }
  const allowed = new Set(algorithms);
  const resolved: ResolvedKey = Object.freeze({ key: bytes });
  return {
    issuer,
    async resolve(header: JWSHeaderParameters): Promise<ResolvedKey> {
      if (typeof header.alg !== 'string' || !allowed.has(header.alg)) throw keyNotFound();
      return resolved;
    },
    isCurrent: (key) => key === resolved,
    health: (): IssuerHealth => ({ issuer, state: 'fresh', keys: 1 }),
    close() {},
  };
}

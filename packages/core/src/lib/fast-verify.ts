import { constants, createHmac, KeyObject, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import { TokenError } from '../errors.js';
import type { ResolvedKey } from './key-source.js';
import { DESCRIPTIONS } from './map-error.js';

/** Every JWS algorithm tokenguard can verify (exact, case-sensitive names of RFC 7518 / RFC 8037 / RFC 9864). */
export const SUPPORTED_ALGORITHMS = Object.freeze([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'HS256', 'HS384', 'HS512',
] as const);

/** Whether `alg` is an HMAC algorithm. */
export function isHmac(alg: string): boolean {
  return alg === 'HS256' || alg === 'HS384' || alg === 'HS512';
}

interface AlgSpec {
  kind: 'rsa' | 'pss' | 'ec' | 'okp' | 'hmac';
  hash: string | null;
  /** Salt length (PSS), signature length (ECDSA), or 0. */
  size: number;
  curve?: string;
}

const SPECS: Record<string, AlgSpec> = {
  RS256: { kind: 'rsa', hash: 'sha256', size: 0 },
  RS384: { kind: 'rsa', hash: 'sha384', size: 0 },
  RS512: { kind: 'rsa', hash: 'sha512', size: 0 },
  PS256: { kind: 'pss', hash: 'sha256', size: 32 },
  PS384: { kind: 'pss', hash: 'sha384', size: 48 },
  PS512: { kind: 'pss', hash: 'sha512', size: 64 },
  ES256: { kind: 'ec', hash: 'sha256', size: 64, curve: 'prime256v1' },
  ES384: { kind: 'ec', hash: 'sha384', size: 96, curve: 'secp384r1' },
  ES512: { kind: 'ec', hash: 'sha512', size: 132, curve: 'secp521r1' },
  EdDSA: { kind: 'okp', hash: null, size: 0 },
  Ed25519: { kind: 'okp', hash: null, size: 0, curve: 'ed25519' },
  HS256: { kind: 'hmac', hash: 'sha256', size: 32 },
  HS384: { kind: 'hmac', hash: 'sha384', size: 48 },
  HS512: { kind: 'hmac', hash: 'sha512', size: 64 },
};

const keyObjects = new WeakMap<object, KeyObject | null>();

/** A node:crypto public KeyObject for a resolved asymmetric key (cached per key object), or null. */
function publicKeyObject(key: ResolvedKey['key']): KeyObject | null {
  if (key instanceof Uint8Array) return null;
  if (key instanceof KeyObject) return key.type === 'public' ? key : null;
  let cached = keyObjects.get(key);
  if (cached === undefined) {
    try {
      const ko = KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
      cached = ko.type === 'public' ? ko : null;
    } catch {
      cached = null;
    }
    keyObjects.set(key, cached);
  }
  return cached;
}

function noKey(): TokenError {
  return new TokenError('key_not_found', DESCRIPTIONS.keyNotFound);
}

/**
 * Checks that a resolved key can verify `alg` at all: the right family and curve, RSA of 2048 bits or
 * more, and HMAC only with a configured secret (never with a key that came from a key set). Throws
 * `key_not_found` otherwise. Both engines call it, so they agree.
 */
export function assertKeyFits(alg: string, resolved: ResolvedKey): void {
  const spec = SPECS[alg];
  if (spec === undefined) throw new TokenError('alg_not_allowed', DESCRIPTIONS.alg);
  if (spec.kind === 'hmac') {
    if (!(resolved.key instanceof Uint8Array) || resolved.jwk !== undefined || resolved.key.length === 0) throw noKey();
    return;
  }
  const ko = publicKeyObject(resolved.key);
  if (ko === null) throw noKey();
  const type = ko.asymmetricKeyType;
  const details = ko.asymmetricKeyDetails;
  switch (spec.kind) {
    case 'rsa':
    case 'pss':
      if ((type !== 'rsa' && !(spec.kind === 'pss' && type === 'rsa-pss')) || (details?.modulusLength ?? 0) < 2048) throw noKey();
      return;
    case 'ec':
      if (type !== 'ec' || details?.namedCurve !== spec.curve) throw noKey();
      return;
    default:
      if (spec.curve !== undefined ? type !== spec.curve : type !== 'ed25519' && type !== 'ed448') throw noKey();
  }
}

/**
 * Verifies a JWS signature with node:crypto (about 4× cheaper than WebCrypto for RS256). RSASSA-PKCS1-v1_5,
 * RSASSA-PSS with salt = hash length, ECDSA in IEEE P1363 form with an exact length check (no "psychic"
 * signatures), Ed25519/Ed448, and HMAC compared in constant time. Call {@link assertKeyFits} first.
 * Returns false for a bad signature; never throws for hostile signature bytes.
 */
export function verifySignature(alg: string, resolved: ResolvedKey, signingInput: string, signature: Buffer): boolean {
  const spec = SPECS[alg];
  if (spec === undefined) return false;
  const data = Buffer.from(signingInput, 'latin1');
  if (spec.kind === 'hmac') {
    const mac = createHmac(spec.hash!, resolved.key as Uint8Array).update(data).digest();
    return mac.length === signature.length && timingSafeEqual(mac, signature);
  }
  const key = publicKeyObject(resolved.key);
  if (key === null) return false;
  try {
    switch (spec.kind) {
      case 'rsa':
        return cryptoVerify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'pss':
        return cryptoVerify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.size }, signature);
      case 'ec':
        if (signature.length !== spec.size) return false;
        return cryptoVerify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      default:
        return cryptoVerify(null, data, key, signature);
    }
  } catch {
    // OpenSSL errors on garbage signatures (wrong RSA length and the like) are just bad signatures.
    return false;
  }
}

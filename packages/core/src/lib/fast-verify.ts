import { constants, createHmac, KeyObject, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import { TokenError, rejection } from '../errors.js';
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
  return rejection('key_not_found', DESCRIPTIONS.keyNotFound);
}

/**
 * Checks that a resolved key can verify `alg` at all: the right family and curve, RSA of 2048 bits or
 * more, and HMAC only with a configured secret (never with a key that came from a key set). Throws
 * `key_not_found` otherwise. Both engines call it, so they agree.
 */
export function assertKeyFits(alg: string, resolved: ResolvedKey): void {
  const spec = SPECS[alg];
  if (spec === undefined) throw rejection('alg_not_allowed', DESCRIPTIONS.alg);
  if (spec.kind === 'hmac') {
    if (!(resolved.key instanceof Uint8Array) || resolved.jwk !== undefined || resolved.key.length === 0) throw noKey();
    return;
  }
  // A key's fitness for an algorithm never changes: checked once per (key, alg), then remembered.
  const fitted = fits.get(resolved);
  if (fitted?.has(alg)) return;
  if (!keyFits(spec, publicKeyObject(resolved.key))) throw noKey();
  if (fitted === undefined) fits.set(resolved, new Set([alg]));
  else fitted.add(alg);
}

const fits = new WeakMap<ResolvedKey, Set<string>>();

function keyFits(spec: AlgSpec, ko: KeyObject | null): boolean {
  if (ko === null) return false;
  const type = ko.asymmetricKeyType;
  const details = ko.asymmetricKeyDetails;
  switch (spec.kind) {
    case 'rsa':
    case 'pss':
      return (type === 'rsa' || (spec.kind === 'pss' && type === 'rsa-pss')) && (details?.modulusLength ?? 0) >= 2048;
    case 'ec':
      return type === 'ec' && details?.namedCurve === spec.curve;
    default:
      return spec.curve !== undefined ? type === spec.curve : type === 'ed25519' || type === 'ed448';
  }
}

type Prepared = { hmac: true; hash: string; secret: Uint8Array } | { hmac: false; hash: string | null; key: KeyObject | KeyObjectInput; ec: number };

/** A resolved key made ready to verify one algorithm (see {@link fittedKey}); opaque outside this module. */
export type PreparedKey = Prepared;
type KeyObjectInput = { key: KeyObject; padding?: number; saltLength?: number; dsaEncoding?: 'ieee-p1363' };

// The node:crypto key argument for (key, alg), built once: no option object per verification.
const prepared = new WeakMap<ResolvedKey, Map<string, Prepared | null>>();

function prepare(alg: string, resolved: ResolvedKey): Prepared | null {
  let byAlg = prepared.get(resolved);
  const hit = byAlg?.get(alg);
  if (hit !== undefined) return hit;
  const spec = SPECS[alg];
  let p: Prepared | null = null;
  if (spec !== undefined) {
    if (spec.kind === 'hmac') {
      if (resolved.key instanceof Uint8Array) p = { hmac: true, hash: spec.hash!, secret: resolved.key };
    } else {
      const key = publicKeyObject(resolved.key);
      if (key !== null) {
        switch (spec.kind) {
          case 'rsa':
            p = { hmac: false, hash: spec.hash, key: { key, padding: constants.RSA_PKCS1_PADDING }, ec: 0 };
            break;
          case 'pss':
            p = { hmac: false, hash: spec.hash, key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.size }, ec: 0 };
            break;
          case 'ec':
            p = { hmac: false, hash: spec.hash, key: { key, dsaEncoding: 'ieee-p1363' }, ec: spec.size };
            break;
          default:
            p = { hmac: false, hash: null, key, ec: 0 };
        }
      }
    }
  }
  if (byAlg === undefined) prepared.set(resolved, (byAlg = new Map()));
  byAlg.set(alg, p);
  return p;
}

// Scratch for the signing input and the signature bytes: written and handed to node:crypto synchronously
// (the async form copies both into its job before returning), so it is never shared between two calls.
let scratch = Buffer.allocUnsafeSlow(16384);

/**
 * {@link assertKeyFits} and the node:crypto arguments for (alg, key) in one: undefined when the key cannot verify
 * `alg` (then {@link assertKeyFits} throws the answer). A caller that keeps the result per (alg, key) verifies with
 * {@link verifyPrepared} without looking either up again.
 */
export function fittedKey(alg: string, resolved: ResolvedKey): PreparedKey | undefined {
  try {
    assertKeyFits(alg, resolved);
  } catch {
    return undefined;
  }
  return prepare(alg, resolved) ?? undefined;
}

/**
 * Verifies a JWS signature with node:crypto (about 4× cheaper than WebCrypto for RS256). RSASSA-PKCS1-v1_5,
 * RSASSA-PSS with salt = hash length, ECDSA in IEEE P1363 form with an exact length check (no "psychic"
 * signatures), Ed25519/Ed448, and HMAC compared in constant time. Call {@link assertKeyFits} first.
 * Works on the token's own segments: the ASCII signing input and the base64url signature segment (already
 * checked by `splitJws`), written into a reused buffer instead of two fresh ones. Returns false for a bad
 * signature; never throws for hostile signature bytes. With `offload`, OpenSSL runs on the libuv thread pool
 * (`crypto.verify` with a callback) and a promise is returned.
 */
export function verifySegments(alg: string, resolved: ResolvedKey, signingInput: string, signatureSegment: string, offload: boolean): boolean | Promise<boolean> {
  const p = prepare(alg, resolved);
  return p === null ? false : verifyPrepared(p, signingInput, signatureSegment, offload);
}

/** {@link verifySegments} with a key from {@link fittedKey}. */
export function verifyPrepared(p: PreparedKey, signingInput: string, signatureSegment: string, offload: boolean): boolean | Promise<boolean> {
  const need = signingInput.length + signatureSegment.length;
  if (scratch.length < need) scratch = Buffer.allocUnsafeSlow(need);
  const n = scratch.write(signingInput, 0, 'latin1');
  const m = scratch.write(signatureSegment, n, 'base64url');
  // Plain views of the scratch memory: cheaper to make than Buffer#subarray (a FastBuffer through the species lookup).
  const at = scratch.byteOffset;
  const data = new Uint8Array(scratch.buffer, at, n);
  const signature = new Uint8Array(scratch.buffer, at + n, m);
  if (p.hmac) {
    const mac = createHmac(p.hash, p.secret).update(data).digest();
    return mac.length === signature.length && timingSafeEqual(mac, signature);
  }
  if (p.ec !== 0 && m !== p.ec) return false;
  if (offload) return verifyOffloaded(p.hash, data, p.key, signature);
  try {
    return cryptoVerify(p.hash, data, p.key, signature);
  } catch {
    // OpenSSL errors on garbage signatures (wrong RSA length and the like) are just bad signatures.
    return false;
  }
}

function verifyOffloaded(hash: string | null, data: Uint8Array, key: KeyObject | KeyObjectInput, signature: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      // Node copies data and signature into the job, so the scratch buffer may be reused at once.
      cryptoVerify(hash, data, key, signature, (err, ok) => resolve(err === null && ok));
    } catch {
      resolve(false);
    }
  });
}

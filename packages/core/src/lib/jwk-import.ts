/**
 * Validation of one JSON Web Key from an issuer's key set, and its import through jose.
 *
 * A key set comes from the network (or from configuration) and is treated as hostile input: every member is
 * type-checked, private keys are refused, and only the public members we need are handed to `importJWK`.
 */
import { calculateJwkThumbprint, importJWK, type CryptoKey, type JWK } from 'jose';

/** JWK members that only a private (or symmetric) key carries. A key set holding one leaks a secret. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** Asymmetric JWS algorithms by key family. HMAC never comes from a key set. */
const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
const EC_ALG_BY_CURVE: Readonly<Record<string, string>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const OKP_ALGS_BY_CURVE: Readonly<Record<string, readonly string[]>> = { Ed25519: ['EdDSA', 'Ed25519'] };

/** Every algorithm a key from a key set can serve. Anything else (HS*, none, unknown) never matches one. */
export const KEY_SET_ALGORITHMS: ReadonlySet<string> = new Set([...RSA_ALGS, ...Object.values(EC_ALG_BY_CURVE), ...Object.values(OKP_ALGS_BY_CURVE).flat()]);

/** Smallest RSA modulus accepted, in bits (RFC 7518 §3.3; jose refuses smaller keys at verify time). */
export const MIN_RSA_BITS = 2048;

/** A key that passed the structural checks: only its public members, plus what selection needs. */
export interface CheckedJwk {
  /** The key's `kid`, when it has one (always a string). */
  readonly kid: string | undefined;
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly crv: string | undefined;
  /** The JWK's own `alg`, when present: the only algorithm this key may be used with. */
  readonly alg: string | undefined;
  /** The public members only (`kty`, `n`, `e` / `crv`, `x`, `y`, plus `kid`, `alg`, `use`). Frozen. */
  readonly jwk: Readonly<JWK>;
}

/** Why a key of a set was not taken. `private` keys are also alerted on by the caller. */
export type JwkRejection = 'not_object' | 'private' | 'unsupported_kty' | 'bad_kid' | 'bad_alg' | 'bad_use' | 'bad_key_ops' | 'bad_members' | 'weak_rsa';

/** Result of {@link checkJwk}. */
export type JwkCheck = { ok: true; key: CheckedJwk } | { ok: false; reason: JwkRejection; kid?: string };

function own(obj: object, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? (obj as Record<string, unknown>)[name] : undefined;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
function b64uMember(obj: object, name: string, maxLength = 2048): string | undefined {
  const v = own(obj, name);
  return typeof v === 'string' && v.length > 0 && v.length <= maxLength && B64URL.test(v) ? v : undefined;
}

/** Bits of an RSA modulus given as base64url, leading zero bytes ignored. */
function modulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** The JWS algorithms a checked key can verify, regardless of the JWK's own `alg`. */
export function familyAlgorithms(key: Pick<CheckedJwk, 'kty' | 'crv'>): readonly string[] {
  if (key.kty === 'RSA') return [...RSA_ALGS];
  if (key.kty === 'EC') return key.crv && EC_ALG_BY_CURVE[key.crv] ? [EC_ALG_BY_CURVE[key.crv]!] : [];
  return (key.crv && OKP_ALGS_BY_CURVE[key.crv]) || [];
}

/** Whether `key` may verify a token whose header says `alg`: key family and curve, and the JWK's own `alg`. */
export function keyFitsAlg(key: CheckedJwk, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  return familyAlgorithms(key).includes(alg);
}

/**
 * Structural checks of one key-set entry, without any crypto. Rejects private keys, `oct` keys and other
 * unsupported types, a `use` other than `sig`, `key_ops` without `verify`, a non-string `kid`, an `alg` that
 * does not fit the key type, malformed members and RSA moduli under 2048 bits.
 */
export function checkJwk(input: unknown): JwkCheck {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, reason: 'not_object' };
  const rawKid = own(input, 'kid');
  const kid = typeof rawKid === 'string' && rawKid.length > 0 && rawKid.length <= 1024 ? rawKid : undefined;
  const reject = (reason: JwkRejection): JwkCheck => (kid === undefined ? { ok: false, reason } : { ok: false, reason, kid });
  if (PRIVATE_MEMBERS.some((m) => own(input, m) !== undefined)) return reject('private');
  const kty = own(input, 'kty');
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') return reject('unsupported_kty');
  if (rawKid !== undefined && kid === undefined) return reject('bad_kid');
  const use = own(input, 'use');
  if (use !== undefined && use !== 'sig') return reject('bad_use');
  const ops = own(input, 'key_ops');
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return reject('bad_key_ops');
  const alg = own(input, 'alg');
  if (alg !== undefined && typeof alg !== 'string') return reject('bad_alg');

  let jwk: JWK;
  let crv: string | undefined;
  if (kty === 'RSA') {
    const n = b64uMember(input, 'n', 4096);
    const e = b64uMember(input, 'e', 16);
    if (!n || !e) return reject('bad_members');
    if (modulusBits(n) < MIN_RSA_BITS) return reject('weak_rsa');
    jwk = { kty, n, e };
  } else {
    const c = own(input, 'crv');
    crv = typeof c === 'string' ? c : undefined;
    const x = b64uMember(input, 'x', 256);
    if (!crv || !x) return reject(crv ? 'bad_members' : 'unsupported_kty');
    if (kty === 'EC') {
      const y = b64uMember(input, 'y', 256);
      if (!EC_ALG_BY_CURVE[crv]) return reject('unsupported_kty');
      if (!y) return reject('bad_members');
      jwk = { kty, crv, x, y };
    } else {
      if (!OKP_ALGS_BY_CURVE[crv]) return reject('unsupported_kty');
      jwk = { kty, crv, x };
    }
  }
  const checked = { kid, kty, crv, alg: alg as string | undefined, jwk } as CheckedJwk;
  if (checked.alg !== undefined && !familyAlgorithms(checked).includes(checked.alg)) return reject('bad_alg');
  if (kid !== undefined) jwk.kid = kid;
  if (checked.alg !== undefined) jwk.alg = checked.alg;
  jwk.use = 'sig';
  Object.freeze(jwk);
  return { ok: true, key: checked };
}

/** RFC 7638 thumbprint of a checked key (stable identity across refreshes). */
export function thumbprint(key: CheckedJwk): Promise<string> {
  return calculateJwkThumbprint(key.jwk as JWK, 'sha256');
}

/**
 * Imports a checked key for one algorithm through jose. Rejects with the jose / WebCrypto error for keys
 * WebCrypto refuses (an EC point not on its curve, a malformed modulus).
 */
export async function importFor(key: CheckedJwk, alg: string): Promise<CryptoKey> {
  const { kty, crv, n, e, x, y } = key.jwk;
  const minimal: JWK = kty === 'RSA' ? { kty, n, e } : kty === 'EC' ? { kty, crv, x, y } : { kty, crv, x };
  const imported = await importJWK(minimal, alg);
  // importJWK of a public JWK is always a CryptoKey; a Uint8Array would mean an `oct` key slipped through.
  if (imported instanceof Uint8Array) throw new TypeError('symmetric key in a key set');
  const bits = (imported.algorithm as { modulusLength?: unknown }).modulusLength;
  if (kty === 'RSA' && (typeof bits !== 'number' || bits < MIN_RSA_BITS)) throw new TypeError(`RSA key under ${MIN_RSA_BITS} bits`);
  return imported;
}

/** The default algorithm to import a key with when validating it at load time. */
export function defaultAlgorithm(key: CheckedJwk): string | undefined {
  return key.alg ?? familyAlgorithms(key)[0];
}

/**
 * The one shared helper that mints test keys, key sets and tokens. Keys are generated at run time;
 * no key material is committed.
 */
import { exportJWK, generateKeyPair, SignJWT, calculateJwkThumbprint, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type TestAlg = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA' | 'RS384' | 'RS512';

export interface TestKey {
  alg: TestAlg;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK with kid, alg and use. */
  jwk: JWK;
}

let counter = 0;

/** Generates a key pair with a kid and its public JWK. */
export async function makeKey(alg: TestAlg = 'RS256', kid?: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = await exportJWK(publicKey);
  const id = kid ?? `${alg.toLowerCase()}-${(await calculateJwkThumbprint(jwk)).slice(0, 8)}-${++counter}`;
  return { alg, kid: id, privateKey, publicKey, jwk: { ...jwk, kid: id, alg, use: 'sig' } };
}

/** A JSON Web Key Set of the given keys' public halves. */
export function jwks(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => ({ ...k.jwk })) };
}

export interface SignOptions {
  /** Extra protected-header members; `alg` and `kid` default to the key's. */
  header?: Record<string, unknown>;
  /** Leave out `kid`. */
  noKid?: boolean;
}

/**
 * Signs a token. Defaults: `iat` now, `exp` in 5 minutes, `jti` random; pass `undefined` values in `claims`
 * to leave a claim out.
 */
export async function signToken(key: TestKey, claims: JWTPayload & Record<string, unknown>, opts: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iat: now, exp: now + 300, jti: `jti-${++counter}-${Math.random().toString(36).slice(2)}`, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const header: Record<string, unknown> = { alg: key.alg, typ: 'at+jwt', ...(opts.noKid ? {} : { kid: key.kid }), ...opts.header };
  // SignJWT validates claim types; we need to be able to send hostile ones, so sign the raw payload.
  return new SignJWT(payload as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** base64url of a string or bytes (for hand-built hostile tokens). */
export function b64u(input: string | Uint8Array | object): string {
  const buf = typeof input === 'string' ? Buffer.from(input) : input instanceof Uint8Array ? Buffer.from(input) : Buffer.from(JSON.stringify(input));
  return buf.toString('base64url');
}

/** Builds a compact token from raw header/payload/signature parts without signing (for hostile cases). */
export function rawToken(header: object | string, payload: object | string, signature = 'c2ln'): string {
  return `${b64u(header)}.${b64u(payload)}.${signature}`;
}

/**
 * Signs an exact payload string (e.g. `{"exp":1e400}` or duplicate keys, which JSON.stringify cannot produce)
 * with the key. `header` defaults to the key's alg and kid with `typ: at+jwt`.
 */
export async function signRaw(key: TestKey, payload: string, header: Record<string, unknown> = {}): Promise<string> {
  const { CompactSign } = await import('jose');
  const h = { alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header } as { alg: string };
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader(h).sign(key.privateKey);
}

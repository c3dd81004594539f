/**
 * The node:crypto fast path and the jose error mapping, checked against jose itself: every algorithm family
 * signs with jose and verifies with node:crypto (and with jose through the verifier), every jose error
 * class maps to its documented code.
 */
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { errors, generateKeyPair, exportJWK, SignJWT, type CryptoKey } from 'jose';
import { createTokenVerifier, TokenError } from '@tokenguard/core';
import { assertKeyFits, verifySegments } from '../src/lib/fast-verify';
import { mapError } from '../src/lib/map-error';
import { splitJws, own } from '../src/lib/decode';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';

async function pair(alg: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  return generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof TokenError ? err.code : `other: ${String(err)}`;
  }
}

describe('node:crypto fast path agrees with jose for every algorithm', () => {
  const algs = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
  it.each(algs)('%s: jose-signed tokens verify with node:crypto; tampered ones do not; both engines accept', async (alg) => {
    const { privateKey, publicKey } = await pair(alg);
    const token = await new SignJWT({ iss: ISS, aud: AUD }).setProtectedHeader({ alg, kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const d = splitJws(token, 8192);
    for (const key of [publicKey, KeyObject.from(publicKey)]) {
      expect(codeOf(() => assertKeyFits(alg, { key }))).toBe('ok');
      expect(verifySegments(alg, { key }, d.signingInput, d.signatureSegment, false)).toBe(true);
      expect(verifySegments(alg, { key }, `${d.signingInput}x`, d.signatureSegment, false)).toBe(false);
    }
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg };
    const [h, p, sig] = token.split('.');
    const flipped = Buffer.from(sig!, 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    for (const [engine, offload] of [['node', false], ['node', true], ['jose', false]] as const) {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: { keys: [jwk] }, algorithms: [alg], engine, offload, metrics: false, cache: false });
      await expect(v.verify(token)).resolves.toMatchObject({ issuer: ISS });
      await expect(v.verify(`${h}.${p}.${flipped.toString('base64url')}`)).rejects.toMatchObject({ code: 'signature_invalid' });
      await v.close();
    }
  });

  it.each(['HS256', 'HS384', 'HS512'])('%s with a configured secret, both engines', async (alg) => {
    const secret = 'k'.repeat(64);
    const token = await new SignJWT({ iss: ISS, aud: AUD }).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const d = splitJws(token, 8192);
    expect(verifySegments(alg, { key: new TextEncoder().encode(secret) }, d.signingInput, d.signatureSegment, false)).toBe(true);
    expect(verifySegments(alg, { key: new TextEncoder().encode(`${secret}x`) }, d.signingInput, d.signatureSegment, false)).toBe(false);
    for (const [engine, offload] of [['node', false], ['node', true], ['jose', false]] as const) {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, secret, algorithms: [alg], engine, offload, metrics: false });
      await expect(v.verify(token)).resolves.toMatchObject({ issuer: ISS });
      await v.close();
    }
  });

  it('refuses keys that do not fit the algorithm', async () => {
    const rsa = await pair('RS256');
    const ec384 = await pair('ES384');
    const ed = await pair('EdDSA');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    expect(codeOf(() => assertKeyFits('RS256', { key: weak.publicKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('RS256', { key: rsa.privateKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('RS256', { key: KeyObject.from(rsa.privateKey) }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('RS256', { key: new Uint8Array(32) }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('RS256', { key: pss.publicKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('PS256', { key: pss.publicKey }))).toBe('ok');
    expect(codeOf(() => assertKeyFits('ES256', { key: ec384.publicKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('ES256', { key: rsa.publicKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('Ed25519', { key: rsa.publicKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('EdDSA', { key: ed.publicKey }))).toBe('ok');
    expect(codeOf(() => assertKeyFits('HS256', { key: rsa.publicKey }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('HS256', { key: new Uint8Array(32), jwk: { kty: 'oct' } }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('HS256', { key: new Uint8Array(0) }))).toBe('key_not_found');
    expect(codeOf(() => assertKeyFits('none', { key: rsa.publicKey }))).toBe('alg_not_allowed');
    expect(codeOf(() => assertKeyFits('RS256', { key: {} as never }))).toBe('key_not_found');
    expect(verifySegments('none', { key: rsa.publicKey }, 'a.b', '', false)).toBe(false);
    expect(verifySegments('RS256', { key: new Uint8Array(1) }, 'a.b', '', false)).toBe(false);
    // Three zero bytes: a signature of the wrong length for RSA.
    expect(verifySegments('RS256', { key: rsa.publicKey }, 'a.b', Buffer.alloc(3).toString('base64url'), false)).toBe(false);
  });
});

describe('jose error mapping', () => {
  it.each<[string, () => unknown, string]>([
    ['JWSSignatureVerificationFailed', () => new errors.JWSSignatureVerificationFailed(), 'signature_invalid'],
    ['JWTExpired exp', () => new errors.JWTExpired('x', {}, 'exp', 'check_failed'), 'token_expired'],
    ['JWTExpired iat (maxTokenAge)', () => new errors.JWTExpired('x', {}, 'iat', 'check_failed'), 'token_too_old'],
    ['claim iss', () => new errors.JWTClaimValidationFailed('x', {}, 'iss', 'check_failed'), 'issuer_invalid'],
    ['claim iss missing', () => new errors.JWTClaimValidationFailed('x', {}, 'iss', 'missing'), 'issuer_invalid'],
    ['claim aud', () => new errors.JWTClaimValidationFailed('x', {}, 'aud', 'check_failed'), 'audience_invalid'],
    ['claim nbf', () => new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'check_failed'), 'token_not_yet_valid'],
    ['claim nbf invalid', () => new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'invalid'), 'claim_invalid'],
    ['claim iat in the future', () => new errors.JWTClaimValidationFailed('x', {}, 'iat', 'check_failed'), 'token_not_yet_valid'],
    ['claim exp missing', () => new errors.JWTClaimValidationFailed('x', {}, 'exp', 'missing'), 'claim_invalid'],
    ['claim exp check', () => new errors.JWTClaimValidationFailed('x', {}, 'exp', 'check_failed'), 'token_expired'],
    ['claim typ', () => new errors.JWTClaimValidationFailed('x', {}, 'typ', 'check_failed'), 'claim_invalid'],
    ['claim sub', () => new errors.JWTClaimValidationFailed('x', {}, 'sub', 'check_failed'), 'claim_invalid'],
    ['JWTExpired other claim', () => new errors.JWTExpired('x', {}, 'custom', 'check_failed'), 'token_expired'],
    ['JOSEAlgNotAllowed', () => new errors.JOSEAlgNotAllowed(), 'alg_not_allowed'],
    ['JOSENotSupported alg', () => new errors.JOSENotSupported('Unsupported "alg" value for a JSON Web Key Set'), 'alg_not_allowed'],
    ['JOSENotSupported crit', () => new errors.JOSENotSupported('Extension Header Parameter "x" is not recognized'), 'token_malformed'],
    ['JWSInvalid', () => new errors.JWSInvalid(), 'token_malformed'],
    ['JWTInvalid', () => new errors.JWTInvalid(), 'token_malformed'],
    ['JWEInvalid', () => new errors.JWEInvalid(), 'token_malformed'],
    ['JWEDecryptionFailed', () => new errors.JWEDecryptionFailed(), 'token_malformed'],
    ['JWKSNoMatchingKey', () => new errors.JWKSNoMatchingKey(), 'key_not_found'],
    ['JWKSMultipleMatchingKeys', () => new errors.JWKSMultipleMatchingKeys(), 'key_not_found'],
    ['JWKInvalid', () => new errors.JWKInvalid(), 'key_not_found'],
    ['JWKSTimeout', () => new errors.JWKSTimeout(), 'jwks_unavailable'],
    ['JWKSInvalid', () => new errors.JWKSInvalid(), 'jwks_unavailable'],
    ['JOSEError', () => new errors.JOSEError(), 'token_malformed'],
    ['TypeError from key import', () => new TypeError('RS256 requires key modulusLength to be 2048 bits or larger'), 'key_not_found'],
    ['SyntaxError', () => new SyntaxError('Unexpected token'), 'token_malformed'],
    ['RangeError', () => new RangeError('Maximum call stack size exceeded'), 'token_malformed'],
    ['a string', () => 'boom', 'token_malformed'],
    ['undefined', () => undefined, 'token_malformed'],
  ])('%s, keeping the cause and a fixed description', (_n, make, code) => {
    const original = make();
    const mapped = mapError(original);
    expect(mapped.code).toBe(code);
    expect(mapped.cause).toBe(original);
    expect(mapped.description).not.toMatch(/"|modulus|token\s*:/);
  });

  it('passes TokenErrors through', () => {
    const e = new TokenError('token_revoked', 'x');
    expect(mapError(e)).toBe(e);
  });

  it('own() never reads the prototype', () => {
    const o = JSON.parse('{"__proto__":{"a":1},"b":2}') as Record<string, unknown>;
    expect(own(o, 'a')).toBeUndefined();
    expect(own(o, 'b')).toBe(2);
    expect(own({}, 'constructor')).toBeUndefined();
    expect(own({}, 'toString')).toBeUndefined();
  });

  it.each([false, true])('many verifications in flight at once keep their own bytes (offload %s)', async (offload) => {
    // The signing input and signature go through one reused buffer; interleaved calls must not see each other's.
    const [a, b] = await Promise.all([pair('ES256'), pair('RS256')]);
    const keys = { keys: [{ ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'ES256' }, { ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'RS256' }] };
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys, algorithms: ['ES256', 'RS256'], offload, metrics: false, cache: false });
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => {
      const [alg, kid, priv] = i % 2 === 0 ? ['ES256', 'a', a.privateKey] as const : ['RS256', 'b', b.privateKey] as const;
      return new SignJWT({ iss: ISS, aud: AUD, sub: `s${i}` }).setProtectedHeader({ alg, kid }).setIssuedAt().setExpirationTime('5m').sign(priv);
    }));
    // Every third token gets the signature of its neighbour (same alg): must fail, while the others pass.
    const sent = tokens.map((t, i) => (i % 3 === 0 && i + 2 < tokens.length ? `${t.slice(0, t.lastIndexOf('.'))}${tokens[i + 2]!.slice(tokens[i + 2]!.lastIndexOf('.'))}` : t));
    const results = await Promise.all(sent.map((t) => v.verify(t).then((auth) => auth.subject, (e: TokenError) => e.code)));
    expect(results).toEqual(sent.map((_t, i) => (i % 3 === 0 && i + 2 < tokens.length ? 'signature_invalid' : `s${i}`)));
    await v.close();
  });

  it('splitJws refuses non-strings', () => {
    expect(codeOf(() => splitJws(42, 100))).toBe('token_malformed');
    expect(codeOf(() => splitJws(null, 100))).toBe('token_malformed');
  });
});

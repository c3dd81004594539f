import { createTokenVerifier, createMemoryRevocationStore, TokenError, type TokenVerifier } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';

async function rejection(p: Promise<unknown>): Promise<TokenError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TokenError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe.each(['node', 'jose'] as const)('createTokenVerifier (engine %s)', (engine) => {
  let rsa: TestKey, ec: TestKey, ed: TestKey, ps: TestKey;
  let verifier: TokenVerifier;
  beforeAll(async () => {
    [rsa, ec, ed, ps] = await Promise.all([makeKey('RS256'), makeKey('ES256'), makeKey('EdDSA'), makeKey('PS256')]);
    verifier = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(rsa, ec, ed, ps) as never, engine, metrics: false });
  });
  afterAll(() => verifier.close());

  it.each(['RS256', 'ES256', 'EdDSA', 'PS256'])('accepts a valid %s token and exposes AuthInfo', async (alg) => {
    const key = { RS256: rsa, ES256: ec, EdDSA: ed, PS256: ps }[alg]!;
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'svc-a', client_id: 'client-a', scope: 'orders:read orders:write' });
    const auth = await verifier.verify(token);
    expect(auth.subject).toBe('svc-a');
    expect(auth.clientId).toBe('client-a');
    expect(auth.issuer).toBe(ISS);
    expect([...auth.scopes].sort()).toEqual(['orders:read', 'orders:write']);
    expect(auth.token).toBe(token);
    expect(Object.keys(auth)).not.toContain('token');
    expect(JSON.stringify(auth)).not.toContain(token.split('.')[2]);
    expect(auth.fingerprint).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(auth.expiresAt.getTime()).toBe((auth.claims.exp as number) * 1000);
    expect(Object.isFrozen(auth)).toBe(true);
    // cache hit returns the same frozen object
    expect(await verifier.verify(token)).toBe(auth);
  });

  it('hands out AuthInfo that no request handler can change (it is shared through the cache)', async () => {
    const token = await signToken(ec, { iss: ISS, aud: AUD, scope: 'read', roles: ['user'], nested: { a: { b: 1 } } });
    const auth = await verifier.verify(token);
    expect(() => (auth.claims.roles as string[]).push('admin')).toThrow(TypeError);
    expect(() => { (auth.claims.nested as { a: { b: number } }).a.b = 2; }).toThrow(TypeError);
    expect(() => { (auth.header as { kid?: string }).kid = 'x'; }).toThrow(TypeError);
    expect(() => (auth.scopes as Set<string>).add('admin')).toThrow(TypeError);
    expect(() => (auth.scopes as Set<string>).delete('read')).toThrow(TypeError);
    expect(() => (auth.scopes as Set<string>).clear()).toThrow(TypeError);
    auth.expiresAt.setTime(0);
    const again = await verifier.verify(token);
    expect(again).toBe(auth);
    expect(again.expiresAt.getTime()).toBe((auth.claims.exp as number) * 1000);
    expect([...again.scopes]).toEqual(['read']);
    expect(JSON.parse(JSON.stringify(again)).expiresAt).toBe(new Date((auth.claims.exp as number) * 1000).toISOString());
  });

  it('rejects a token signed by an unknown key', async () => {
    const other = await makeKey('RS256', rsa.kid);
    const token = await signToken(other, { iss: ISS, aud: AUD });
    const err = await rejection(verifier.verify(token));
    expect([err.code, err.status]).toEqual(['signature_invalid', 401]);
  });

  it('rejects a revoked token, on a miss and on a cache hit', async () => {
    const revocation = createMemoryRevocationStore();
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(rsa) as never, engine, metrics: false, revocation });
    const t1 = await signToken(rsa, { iss: ISS, aud: AUD, jti: 'j-1' });
    const t2 = await signToken(rsa, { iss: ISS, aud: AUD, jti: 'j-2' });
    await v.verify(t2);
    await revocation.revoke('j-1', Math.floor(Date.now() / 1000) + 300);
    await revocation.revoke('j-2', Math.floor(Date.now() / 1000) + 300);
    expect((await rejection(v.verify(t1))).code).toBe('token_revoked');
    expect((await rejection(v.verify(t2))).code).toBe('token_revoked');
    await v.close();
  });
});

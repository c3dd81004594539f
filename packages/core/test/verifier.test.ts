import { createTokenVerifier, createMemoryRevocationStore, TokenError, type AuditEvent, type TokenVerifier } from '@tokenguard/core';
import { b64u } from '../../../test/helpers/keys';
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

  it('gives tokens with the same scope string one read-only scope set, and every token its own scopes', async () => {
    const a1 = await verifier.verify(await signToken(rsa, { iss: ISS, aud: AUD, sub: 'svc-1', scope: 'orders:read orders:write' }));
    const a2 = await verifier.verify(await signToken(ec, { iss: ISS, aud: AUD, sub: 'svc-2', scope: 'orders:read orders:write' }));
    expect(a2.scopes).toBe(a1.scopes);
    expect(() => (a2.scopes as Set<string>).add('orders:admin')).toThrow(TypeError);
    // With scp beside it, or another string, the set is the token's own.
    const withScp = await verifier.verify(await signToken(rsa, { iss: ISS, aud: AUD, scope: 'orders:read orders:write', scp: ['orders:admin'] }));
    expect([...withScp.scopes].sort()).toEqual(['orders:admin', 'orders:read', 'orders:write']);
    expect([...a1.scopes].sort()).toEqual(['orders:read', 'orders:write']);
    // More distinct strings than the memo holds (it is emptied when full): each token still gets exactly its scopes.
    const auths = await Promise.all(Array.from({ length: 70 }, async (_, i) => verifier.verify(await signToken(ed, { iss: ISS, aud: AUD, scope: `s${i} common` }))));
    auths.forEach((auth, i) => expect([...auth.scopes]).toEqual([`s${i}`, 'common']));
    const again = await verifier.verify(await signToken(rsa, { iss: ISS, aud: AUD, scope: 's3 common' }));
    expect([...again.scopes]).toEqual(['s3', 'common']);
    // A forged token's scopes never reach a shared set: it is refused before its scopes are read.
    const forged = await signToken(await makeKey('RS256', rsa.kid), { iss: ISS, aud: AUD, scope: 'orders:read orders:write orders:admin' });
    expect((await rejection(verifier.verify(forged))).code).toBe('signature_invalid');
    expect([...a1.scopes].sort()).toEqual(['orders:read', 'orders:write']);
  });

  it('refuses a known key that cannot verify the alg every time, while its memo is reused', async () => {
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(rsa, ec) as never, algorithms: ['RS256', 'ES256'], engine, metrics: false, cache: false });
    try {
      // RS256 signed with the RSA key but naming the EC key's kid: the kid resolves, the key does not fit.
      for (let i = 0; i < 3; i++) {
        const unfit = await signToken(rsa, { iss: ISS, aud: AUD }, { header: { kid: ec.kid } });
        expect(await rejection(v.verify(unfit))).toMatchObject({ code: 'key_not_found', status: 401 });
      }
      const good = await signToken(rsa, { iss: ISS, aud: AUD, sub: 'svc-fit' });
      expect((await v.verify(good)).subject).toBe('svc-fit');
      expect((await v.verify(good)).subject).toBe('svc-fit');
    } finally {
      await v.close();
    }
  });

  it('serializes every field but the token (fingerprint and scopes included)', async () => {
    const token = await signToken(rsa, { iss: ISS, aud: AUD, sub: 'svc-j', scope: 'a b' });
    const auth = await verifier.verify(token);
    const json = JSON.parse(JSON.stringify(auth)) as Record<string, unknown>;
    // clientId is undefined here, so JSON leaves it out.
    expect(Object.keys(json).sort()).toEqual(['claims', 'expiresAt', 'fingerprint', 'header', 'issuer', 'scopes', 'subject']);
    expect(json).toMatchObject({ subject: 'svc-j', issuer: ISS, fingerprint: auth.fingerprint, scopes: ['a', 'b'] });
    expect(JSON.stringify(auth)).not.toContain(token);
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

describe.each([['node', false], ['node', true], ['jose', false]] as const)('token.rejected events name the token only once its signature verified (engine %s, offload %s)', (engine, offload) => {
  let rsa: TestKey, impostor: TestKey;
  let verifier: TokenVerifier;
  const events: AuditEvent[] = [];
  const revocation = createMemoryRevocationStore();
  const now = () => Math.floor(Date.now() / 1000);
  beforeAll(async () => {
    rsa = await makeKey('RS256');
    impostor = await makeKey('RS256', rsa.kid);
    verifier = createTokenVerifier({
      issuer: ISS, audience: AUD, keys: jwks(rsa) as never, engine, offload, metrics: false, clockTolerance: 0,
      maxTokenAge: '1m', claims: { tenant: 't1' }, revocation, onEvent: (e) => events.push(e),
    });
  });
  afterAll(() => verifier.close());

  async function rejectedEvent(token: string): Promise<AuditEvent> {
    events.length = 0;
    const err = await rejection(verifier.verify(token));
    const rejected = events.filter((e) => e.type === 'token.rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.code).toBe(err.code);
    return rejected[0]!;
  }
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISS, aud: AUD, sub: 'svc-7', client_id: 'client-7', tenant: 't1', jti: `j-${Math.random()}`, ...extra });

  it.each([
    ['token_expired', () => claims({ iat: now() - 50, exp: now() - 10 })],
    ['audience_invalid', () => claims({ aud: 'other-api' })],
    ['claim_invalid', () => claims({ tenant: 't2' })],
    ['token_too_old', () => claims({ iat: now() - 3600, exp: now() + 60 })],
  ] as const)('%s carries subject, clientId and jti', async (code, build) => {
    const payload = build();
    const event = await rejectedEvent(await signToken(rsa, payload));
    expect(event).toMatchObject({ code, subject: 'svc-7', clientId: 'client-7', jti: payload.jti, issuer: ISS });
  });

  it('token_revoked carries them, on a miss and on a cache hit', async () => {
    const miss = await signToken(rsa, claims({ jti: 'revoked-1' }));
    const hit = await signToken(rsa, claims({ jti: 'revoked-2' }));
    await verifier.verify(hit);
    await revocation.revoke('revoked-1', now() + 300);
    await revocation.revoke('revoked-2', now() + 300);
    expect(await rejectedEvent(miss)).toMatchObject({ code: 'token_revoked', subject: 'svc-7', clientId: 'client-7', jti: 'revoked-1' });
    expect(await rejectedEvent(hit)).toMatchObject({ code: 'token_revoked', subject: 'svc-7', clientId: 'client-7', jti: 'revoked-2' });
  });

  it.each([
    ['signature_invalid', async () => signToken(impostor, claims())],
    ['signature_invalid (expired too)', async () => signToken(impostor, claims({ iat: now() - 50, exp: now() - 10 }))],
    ['issuer_invalid', async () => signToken(rsa, claims({ iss: 'https://elsewhere.example.test/' }))],
    ['alg_not_allowed', async () => `${b64u({ alg: 'none' })}.${b64u(claims())}.`],
    ['token_malformed', async () => `${b64u({ alg: 'RS256', kid: rsa.kid })}.${b64u('{"sub":')}.c2ln`],
  ] as const)('%s never carries them', async (_name, build) => {
    const event = await rejectedEvent(await build());
    expect(event).not.toHaveProperty('subject');
    expect(event).not.toHaveProperty('clientId');
    expect(event).not.toHaveProperty('jti');
    expect(JSON.stringify(event)).not.toContain('svc-7');
  });
});

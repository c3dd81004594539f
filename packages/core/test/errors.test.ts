import { createTokenVerifier, TokenError } from '@tokenguard/core';
import { jwks, makeKey, rawToken, signToken } from '../../../test/helpers/keys';
import { decodeProtectedHeader } from 'jose';

describe('TokenError', () => {
  it('builds an insufficient_scope challenge listing the scopes', () => {
    const err = new TokenError('insufficient_scope', 'Insufficient scope', { scopes: ['a', 'b'] });
    expect(err.status).toBe(403);
    expect(err.challenge).toBe('Bearer realm="api", error="insufficient_scope", error_description="Insufficient scope", scope="a b"');
  });
  it('jose loads under jest', async () => {
    const k = await makeKey('ES256');
    const t = await signToken(k, { sub: 'x' });
    expect(decodeProtectedHeader(t).kid).toBe(k.kid);
  });
});

// A rejection is an expected answer: tokenguard raises it without stack frames (they only named its own functions
// and cost half of an unknown-kid rejection). What it was made from keeps its stack, as `cause`.
describe('the stack of a rejection', () => {
  const ISS = 'https://issuer.errors.test';
  const AUD = 'orders-api';
  const failure = async (p: Promise<unknown>): Promise<TokenError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof TokenError)) throw new Error(`expected a TokenError, got ${String(err)}`);
    return err;
  };

  it('carries no frames on a rejection; the cause of one keeps its own', async () => {
    const key = await makeKey('ES256');
    const boom = new Error('tenant lookup failed');
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false, claims: () => { throw boom; } });
    const unknownKid = await failure(v.verify(await signToken(await makeKey('ES256'), { iss: ISS, aud: AUD, sub: 's' })));
    expect(unknownKid.code).toBe('key_not_found');
    expect(unknownKid.stack).toBe('TokenError: No matching key found for the token');
    const malformed = await failure(v.verify(rawToken({ alg: 'ES256' }, '{"sub":')));
    expect(malformed.code).toBe('token_malformed');
    expect(malformed.stack?.split('\n')).toHaveLength(1);
    const predicate = await failure(v.verify(await signToken(key, { iss: ISS, aud: AUD, sub: 's' })));
    expect(predicate.code).toBe('claim_invalid');
    expect(predicate.stack?.split('\n')).toHaveLength(1);
    expect(predicate.cause).toBe(boom);
    expect(boom.stack).toMatch(/\n\s+at /);
    await expect(v.verifyRequest({ headers: {} })).rejects.toMatchObject({ code: 'token_missing', stack: expect.not.stringMatching(/\n/) });
    await v.close();
  });

  it('leaves Error.stackTraceLimit as it found it, and a TokenError built by user code keeps its stack', async () => {
    const before = Error.stackTraceLimit;
    Error.stackTraceLimit = 7;
    try {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(await makeKey('ES256')) as never, metrics: false });
      await failure(v.verify('not-a-token'));
      expect(Error.stackTraceLimit).toBe(7);
      expect(new Error('x').stack?.split('\n').length).toBeGreaterThan(1);
      await v.close();
    } finally {
      Error.stackTraceLimit = before;
    }
    expect(new TokenError('token_expired', 'The token has expired').stack).toMatch(/^TokenError: The token has expired\n\s+at /);
  });

  it('still rejects with a TokenError where Error.stackTraceLimit cannot be written (a frozen Error)', async () => {
    const own = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')!;
    Object.defineProperty(Error, 'stackTraceLimit', { ...own, writable: false });
    try {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(await makeKey('ES256')) as never, metrics: false });
      const err = await failure(v.verify('not-a-token'));
      expect(err.code).toBe('token_malformed');
      expect(err.stack).toMatch(/\n\s+at /);
      await v.close();
    } finally {
      Object.defineProperty(Error, 'stackTraceLimit', own);
    }
  });
});

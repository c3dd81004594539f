import { TokenError } from '@tokenguard/core';
import { makeKey, signToken } from '../../../test/helpers/keys';
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

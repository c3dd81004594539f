import { assertScopes, createMemoryRevocationStore, hasScopes, parseScopes, TokenError } from '@tokenguard/core';

describe('scopes', () => {
  const auth = { scopes: new Set(['orders:read', 'orders:write']) };

  it.each([
    ['one held scope', 'orders:read', {}, true],
    ['all held', ['orders:read', 'orders:write'], {}, true],
    ['all, one missing', ['orders:read', 'orders:admin'], {}, false],
    ['any, one held', ['orders:admin', 'orders:read'], { mode: 'any' }, true],
    ['any, none held', ['orders:admin', 'x'], { mode: 'any' }, false],
    ['empty requirement', [], {}, true],
    ['case differs', 'ORDERS:READ', {}, false],
    ['prefix only', 'orders', {}, false],
  ] as const)('hasScopes: %s', (_n, required, opts, expected) => {
    expect(hasScopes(auth, required, opts)).toBe(expected);
  });

  it('hasScopes on undefined auth is false unless nothing is required', () => {
    expect(hasScopes(undefined, 'a')).toBe(false);
    expect(hasScopes(undefined, [])).toBe(true);
  });

  it('rejects malformed requirements with a TypeError', () => {
    expect(() => hasScopes(auth, 'a b')).toThrow(TypeError);
    expect(() => hasScopes(auth, [''])).toThrow(TypeError);
    expect(() => hasScopes(auth, [1 as never])).toThrow(TypeError);
    expect(() => hasScopes(auth, {} as never)).toThrow(TypeError);
  });

  it('assertScopes throws insufficient_scope listing every required scope, for any too', () => {
    expect(() => assertScopes(auth, 'orders:read')).not.toThrow();
    let err: unknown;
    try { assertScopes(auth, ['orders:admin', 'orders:root'], { mode: 'any', realm: 'orders' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(TokenError);
    const t = err as TokenError;
    expect([t.code, t.status]).toEqual(['insufficient_scope', 403]);
    expect(t.challenge).toBe('Bearer realm="orders", error="insufficient_scope", error_description="Insufficient scope", scope="orders:admin orders:root"');
  });

  it('parseScopes splits on U+0020 only and reads own properties', () => {
    expect([...parseScopes({ scope: ' a  b\tc d\u00a0e ' })]).toEqual(['a', 'b\tc', 'd\u00a0e']);
    expect([...parseScopes(JSON.parse('{"__proto__":{"scope":"admin"}}'))]).toEqual([]);
    expect([...parseScopes({ scp: ['x', '', 'y'] })]).toEqual(['x', 'y']);
    expect([...parseScopes({ permissions: ['p'] }, ['permissions'])]).toEqual(['p']);
    expect(() => parseScopes({ scope: ['a'] })).toThrow(TokenError);
    expect(() => parseScopes({ scp: { a: 1 } })).toThrow(TokenError);
    expect(() => parseScopes({ scp: null })).toThrow(TokenError);
  });
});

describe('createMemoryRevocationStore', () => {
  const inFive = () => Math.floor(Date.now() / 1000) + 300;

  it('revokes by jti, accepts a Date or epoch seconds, and forgets after exp (plus grace)', async () => {
    const store = createMemoryRevocationStore();
    await store.revoke('a', inFive());
    await store.revoke('b', new Date(Date.now() + 60_000));
    await store.revoke('gone', new Date(Date.now() - 10 * 60_000));
    expect(store.isRevoked('a')).toBe(true);
    expect(store.isRevoked('b')).toBe(true);
    expect(store.isRevoked('gone')).toBe(false);
    expect(store.isRevoked('never')).toBe(false);
    expect(store.size).toBe(2);
    expect(store.failMode).toBe('closed');
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'performance', 'hrtime'], now: Date.now() + 2 * 60_000 + 5 * 60_000 + 1000 });
    try {
      expect(store.isRevoked('b')).toBe(false);
      expect(store.isRevoked('a')).toBe(true);
      expect(store.size).toBe(1);
    } finally {
      jest.useRealTimers();
    }
    store.close();
    expect(store.size).toBe(0);
  });

  it('is bounded: purges expired ids, then refuses rather than silently un-revoking', async () => {
    const store = createMemoryRevocationStore({ maxEntries: 2, failMode: 'open' });
    expect(store.failMode).toBe('open');
    await store.revoke('a', inFive());
    await store.revoke('b', inFive());
    await store.revoke('a', inFive() + 10); // an update of a held id is fine
    await expect(store.revoke('c', inFive())).rejects.toThrow(/full/);
    expect(store.isRevoked('a') && store.isRevoked('b')).toBe(true);
  });

  it('validates its input', async () => {
    expect(() => createMemoryRevocationStore({ maxEntries: 0 })).toThrow(TypeError);
    expect(() => createMemoryRevocationStore({ failMode: 'ajar' as never })).toThrow(TypeError);
    const store = createMemoryRevocationStore();
    await expect(store.revoke('', inFive())).rejects.toThrow(TypeError);
    await expect(store.revoke('x', 'tomorrow' as never)).rejects.toThrow(TypeError);
    await expect(store.revoke('x', Infinity)).rejects.toThrow(TypeError);
  });
});

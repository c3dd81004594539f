/**
 * The verified-token cache, revocation, claim rules and telemetry calls of the verifier, through real key
 * sets (a JWKS served over HTTP for key removal) and a real prom-client registry read back as text.
 */
import { Registry } from 'prom-client';
import { createMemoryRevocationStore, createTokenVerifier, TokenError, type AuditEvent, type RevocationStore, type Telemetry, type TokenClaims, type TokenVerifier } from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';
import { jsonServer } from '../../../test/helpers/http';
import { parseProm, sample } from '../../../test/helpers/prom';
import { createTokenCache, type CacheEntry } from '../src/lib/token-cache';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';
const now = () => Math.floor(Date.now() / 1000);

interface Recorded { accepted: { cache: string; remainingSeconds: number; event: Record<string, unknown> }[]; rejected: { code: string; cache: string; issuer: string | undefined; event: Record<string, unknown> }[]; denied: unknown[]; sizes: number[] }

function recorder(): { telemetry: Telemetry; rec: Recorded } {
  const rec: Recorded = { accepted: [], rejected: [], denied: [], sizes: [] };
  const telemetry: Telemetry = {
    auditing: true,
    accepted: (e) => { rec.accepted.push(e as never); },
    rejected: (e) => { rec.rejected.push(e as never); },
    scopeDenied: (e) => { rec.denied.push(e); },
    jwksFetch() {}, event() {}, keySet() {}, warnOnce() {},
    cacheEntries: (n) => { rec.sizes.push(n); },
  };
  return { telemetry, rec };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (err instanceof TokenError) return `${err.code} ${err.status}`;
    throw err;
  }
}

describe.each(['node', 'jose'] as const)('verified-token cache and revocation (engine %s)', (engine) => {
  let key: TestKey;
  beforeAll(async () => {
    key = await makeKey('ES256');
  });
  afterEach(() => {
    jest.useRealTimers();
  });
  const opts = (extra: object = {}) => ({ issuer: ISS, audience: AUD, keys: jwks(key) as never, engine, metrics: false as const, ...extra });

  it('a full cache evicts the oldest token not used since it was cached, and gives a used one a second chance', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts({ cache: { maxEntries: 3 } }), { telemetry });
    const [a, b, c, d, e] = await Promise.all([1, 2, 3, 4, 5].map((i) => signToken(key, { iss: ISS, aud: AUD, sub: `s${i}` })));
    const states = async (...tokens: string[]): Promise<string[]> => {
      const from = rec.accepted.length;
      for (const t of tokens) await v.verify(t!);
      return rec.accepted.slice(from).map((x) => x.cache);
    };
    expect(await states(a!, b!, c!)).toEqual(['miss', 'miss', 'miss']);
    // a is used again: inserting d evicts b (the oldest unused), not a (the oldest).
    expect(await states(a!, d!)).toEqual(['hit', 'miss']);
    expect(await states(a!, c!, d!)).toEqual(['hit', 'hit', 'hit']);
    expect(await states(b!)).toEqual(['miss']);
    // Inserting b found every entry used since its last chance (c, a, d): each moved up once, and c, again the
    // oldest, was evicted; a and d stay.
    expect(await states(a!, d!, c!)).toEqual(['hit', 'hit', 'miss']);
    expect(await states(e!)).toEqual(['miss']);
    expect(Math.max(...rec.sizes)).toBe(3);
    expect(rec.sizes.at(-1)).toBe(3);
    await v.close();
  });

  it('a full cache of tokens all in use still evicts on insert, after moving at most 16 of them up', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts({ cache: { maxEntries: 20 } }), { telemetry });
    const tokens = await Promise.all(Array.from({ length: 21 }, (_, i) => signToken(key, { iss: ISS, aud: AUD, sub: `u${i}` })));
    for (const t of tokens.slice(0, 20)) await v.verify(t);
    for (const t of tokens.slice(0, 20)) await v.verify(t);
    expect(rec.accepted.slice(20).every((e) => e.cache === 'hit')).toBe(true);
    await v.verify(tokens[20]!);
    // The 16 oldest got their second chance; the 17th cached token, used too, was the one evicted.
    const from = rec.accepted.length;
    for (const t of tokens) await v.verify(t);
    const states = rec.accepted.slice(from).map((e) => e.cache);
    expect(states[16]).toBe('miss');
    expect(states.slice(0, 16).every((c) => c === 'hit')).toBe(true);
    expect(Math.max(...rec.sizes)).toBe(20);
    await v.close();
  });

  it('a hit returns the same frozen AuthInfo and counts once per call, hit or miss', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts(), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 's' });
    const a = await v.verify(token);
    const b = await v.verify(token, { route: '/orders', ip: '127.0.0.1' });
    expect(b).toBe(a);
    expect(rec.accepted.map((e) => e.cache)).toEqual(['miss', 'hit']);
    expect(rec.accepted[1]!.event).toMatchObject({ route: '/orders', ip: '127.0.0.1', fingerprint: a.fingerprint, subject: 's' });
    expect(JSON.stringify(rec.accepted)).not.toContain(token);
    expect(rec.accepted[0]!.remainingSeconds).toBeGreaterThan(290);
    expect(rec.sizes).toEqual([1]);
    await v.close();
  });

  it('a token sharing a cached token\'s ending is not served from the cache, and does not evict it', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts({ revocation: createMemoryRevocationStore() }), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 's', scope: 'read' });
    const auth = await v.verify(token);
    const [h, , sig] = token.split('.');
    // Same header and signature (so the same last characters), another payload: a forgery.
    const forged = `${h}.${Buffer.from(JSON.stringify({ iss: ISS, aud: AUD, sub: 's', scope: 'admin', exp: now() + 60 })).toString('base64url')}.${sig}`;
    expect(forged.slice(-32)).toBe(token.slice(-32));
    expect(await codeOf(v.verify(forged))).toBe('signature_invalid 401');
    // A fresh copy of the string (as each HTTP request brings) is still a hit on the same AuthInfo.
    expect(await v.verify(Buffer.from(token).toString('latin1'))).toBe(auth);
    expect(rec.accepted.map((e) => e.cache)).toEqual(['miss', 'hit']);
    expect(rec.rejected.map((e) => [e.code, e.cache])).toEqual([['signature_invalid', 'miss']]);
    await v.close();
  });

  it('serves a request from the cache by its exact Authorization value; other spellings of the token still hit, a forgery never', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts(), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 's', scope: 'read' });
    // Each request brings its own copy of the header value, as Node's HTTP parser does.
    const req = (value: string) => {
      const fresh = Buffer.from(value, 'latin1').toString('latin1');
      return { headers: { authorization: fresh }, rawHeaders: ['Authorization', fresh], method: 'GET', url: '/' };
    };
    const auth = await v.verifyRequest(req(`Bearer ${token}`));
    expect(await v.verifyRequest(req(`Bearer ${token}`))).toBe(auth);
    // The same token spelt otherwise: parsed in full, then the same entry.
    for (const value of [`bearer ${token}`, `Bearer   ${token}`, ` Bearer ${token}`, `Bearer ${token}  `]) expect(await v.verifyRequest(req(value))).toBe(auth);
    // Malformed values around the cached token are refused as before.
    for (const value of [`Bearer ${token}"`, `Bearer ${token},x`, `Bearer\t${token}`]) {
      expect({ value, code: await codeOf(v.verifyRequest(req(value))) }).toEqual({ value, code: 'invalid_request 400' });
    }
    // Same header and signature (so the same cache key), another payload: a forgery, not a hit.
    const [h, , sig] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ iss: ISS, aud: AUD, sub: 's', scope: 'admin', exp: now() + 60 })).toString('base64url')}.${sig}`;
    expect(await codeOf(v.verifyRequest(req(`Bearer ${forged}`)))).toBe('signature_invalid 401');
    expect(await v.verifyRequest(req(`Bearer ${token}`))).toBe(auth);
    expect(rec.accepted.map((e) => e.cache)).toEqual(['miss', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit']);
    expect(rec.rejected.map((e) => e.code)).toEqual(['invalid_request', 'invalid_request', 'invalid_request', 'signature_invalid']);
    await v.close();
  });

  it('a cached Authorization value is answered at once only where it is the one place a token can be: every other request is extracted and refused as before', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts(), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 's' });
    const value = `Bearer ${token}`;
    const req = (extra: Record<string, unknown> = {}, rawHeaders = ['Host', 'api.test', 'Authorization', value]) => ({ headers: { authorization: value }, rawHeaders, method: 'GET', url: '/orders', ...extra });
    const auth = await v.verifyRequest(req());
    for (const ok of [req(), req({ method: 'HEAD' }), req({ url: '/orders/7' }), req({ query: undefined }), req({ query: {} })]) expect(await v.verifyRequest(ok)).toBe(auth);
    const refused: [string, Record<string, unknown>, string[]?][] = [
      ['a second Authorization header', {}, ['Authorization', value, 'authorization', value]],
      ['a query token beside it', { url: `/orders?access_token=${token}` }],
      ['a repeated query parameter', { url: '/orders?access_token=a&access_token=b' }],
      ['a parsed query with a token beside it', { query: { access_token: token } }],
      ['a form-body token beside it', { method: 'POST', headers: { authorization: value, 'content-type': 'application/x-www-form-urlencoded' }, body: { access_token: token } }],
    ];
    for (const [what, extra, raw] of refused) {
      expect({ what, code: await codeOf(v.verifyRequest(req(extra, raw))) }).toEqual({ what, code: 'invalid_request 400' });
    }
    // The query and the body as the extraction reads them: a query without a token, a JSON body, a PUT without a body.
    for (const ok of [req({ url: '/orders?page=2' }), req({ method: 'POST', headers: { authorization: value, 'content-type': 'application/json' }, body: { access_token: 'x' } }), req({ method: 'PUT' })]) {
      expect(await v.verifyRequest(ok)).toBe(auth);
    }
    expect(rec.accepted.map((e) => e.cache)).toEqual(['miss', ...Array(8).fill('hit')]);
    expect(rec.rejected.map((e) => e.code)).toEqual(Array(5).fill('invalid_request'));
    await v.close();
  });

  it('tokens with the same cache key (same characters near the end) take turns in one slot and are never confused', () => {
    const sizes: number[] = [];
    const cache = createTokenCache(10, (n) => sizes.push(n));
    const entry = (token: string) => ({ auth: { token }, exp: 0, jti: undefined, key: {}, source: {}, event: {} }) as unknown as CacheEntry;
    // Different tokens, the same last six characters: the same key.
    const a = 'eyJh.eyJhIjoxfQ.c2lnbmF0dXJlLWFhYWF-_Q';
    const b = 'eyJi.eyJiIjoyfQ.b3RoZXJzaWduYXR1cmYWF-_Q';
    const ea = entry(a);
    const eb = entry(b);
    cache.set(a, ea);
    expect(cache.get(b)).toBeUndefined();
    expect(cache.get(a)).toBe(ea);
    cache.set(b, eb);
    expect(cache.get(a)).toBeUndefined();
    expect(cache.get(b)).toBe(eb);
    expect(cache.size).toBe(1);
    // Deleting the token that no longer holds the slot leaves the holder alone.
    cache.delete(a);
    expect(cache.get(b)).toBe(eb);
    cache.delete(b);
    expect(cache.get(b)).toBeUndefined();
    // Short and odd strings are keys too (only verified tokens are stored, but anything may be looked up).
    for (const odd of ['', 'x', 'é€😀', '\u0000\u0000\u0000\u0000\u0000\u0000\u0000']) expect(cache.get(odd)).toBeUndefined();
    const short = entry('x');
    cache.set('x', short);
    expect(cache.get('x')).toBe(short);
    expect(sizes).toEqual([1, 0, 1]);
  });

  it('hits find exactly what the cache holds: evicted, replaced, deleted and cleared entries are never found again', () => {
    const sizes: number[] = [];
    const cache = createTokenCache(4, (n) => sizes.push(n));
    // Distinct keys: the five characters before the last one differ.
    const tokenOf = (i: number) => `eyJh.eyJwIjoxfQ.${String(i).padStart(5, '0')}Q`;
    const entry = (token: string) => ({ auth: { token }, exp: 0, jti: undefined, key: {}, source: {}, event: {}, header: `Bearer ${token}` }) as unknown as CacheEntry;
    const found = (i: number) => {
      const byToken = cache.get(tokenOf(i));
      const byHeader = cache.byHeader(`Bearer ${tokenOf(i)}`);
      expect(byHeader).toBe(byToken);
      return byToken;
    };
    const entries = Array.from({ length: 12 }, (_, i) => entry(tokenOf(i)));
    for (let i = 0; i < 12; i++) cache.set(tokenOf(i), entries[i]!);
    expect(cache.size).toBe(4);
    // Nothing was used: the oldest went first, and none of them is still answered.
    for (let i = 0; i < 8; i++) expect(found(i)).toBeUndefined();
    for (let i = 8; i < 12; i++) expect(found(i)).toBe(entries[i]);
    // Replaced under its own key: the new entry is answered, the old one is gone.
    const again = entry(tokenOf(9));
    cache.set(tokenOf(9), again);
    expect(found(9)).toBe(again);
    expect(cache.size).toBe(4);
    cache.delete(tokenOf(10));
    expect(found(10)).toBeUndefined();
    expect(cache.size).toBe(3);
    cache.clear();
    for (let i = 0; i < 12; i++) expect(found(i)).toBeUndefined();
    cache.set(tokenOf(3), entries[3]!);
    expect(found(3)).toBe(entries[3]);
    expect(sizes.at(-1)).toBe(1);
  });

  it('a hit re-checks exp against the clock and drops the entry', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts({ clockTolerance: 0 }), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD, exp: now() + 60 });
    await v.verify(token);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'performance', 'hrtime'], now: Date.now() + 61_000 });
    expect(await codeOf(v.verify(token))).toBe('token_expired 401');
    expect(rec.rejected.at(-1)).toMatchObject({ code: 'token_expired', cache: 'hit', issuer: ISS });
    expect(rec.sizes.at(-1)).toBe(0);
    // and again, now as a miss: still expired
    expect(await codeOf(v.verify(token))).toBe('token_expired 401');
    expect(rec.rejected.at(-1)!.cache).toBe('miss');
    await v.close();
  });

  it('cache: false verifies every time', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts({ cache: false }), { telemetry });
    const token = await signToken(key, { iss: ISS, aud: AUD });
    const a = await v.verify(token);
    const b = await v.verify(token);
    expect(b).not.toBe(a);
    expect(rec.accepted.map((e) => e.cache)).toEqual(['miss', 'miss']);
    await v.close();
  });

  it('is bounded by maxEntries', async () => {
    const { telemetry, rec } = recorder();
    const v = createTokenVerifier(opts({ cache: { maxEntries: 2 } }), { telemetry });
    for (let i = 0; i < 5; i++) await v.verify(await signToken(key, { iss: ISS, aud: AUD }));
    expect(Math.max(...rec.sizes)).toBe(2);
    await v.close();
  });

  it.each([
    ['memory store, miss', () => createMemoryRevocationStore(), false, 'token_revoked 401'],
    ['memory store, hit', () => createMemoryRevocationStore(), true, 'token_revoked 401'],
    ['async store, miss', () => asyncStore(), false, 'token_revoked 401'],
    ['async store, hit', () => asyncStore(), true, 'token_revoked 401'],
  ] as const)('revocation: %s', async (_n, make, warm, expected) => {
    const store = make();
    const v = createTokenVerifier(opts({ revocation: store }));
    const token = await signToken(key, { iss: ISS, aud: AUD, jti: 'jti-revoke-me' });
    if (warm) await v.verify(token);
    await store.revoke('jti-revoke-me', now() + 300);
    expect(await codeOf(v.verify(token))).toBe(expected);
    const other = await signToken(key, { iss: ISS, aud: AUD, jti: 'jti-other' });
    expect(await codeOf(v.verify(other))).toBe('accepted');
    expect(await codeOf(v.verify(other))).toBe('accepted');
    await v.close();
  });

  it.each([
    ['closed, throwing store, miss', 'closed', 'throw', false, 'revocation_unavailable 503'],
    ['closed, rejecting store, miss', 'closed', 'reject', false, 'revocation_unavailable 503'],
    ['closed, throwing store, hit', 'closed', 'throw', true, 'revocation_unavailable 503'],
    ['closed, rejecting store, hit', 'closed', 'reject', true, 'revocation_unavailable 503'],
    ['open, throwing store, miss', 'open', 'throw', false, 'accepted'],
    ['open, rejecting store, hit', 'open', 'reject', true, 'accepted'],
  ] as const)('revocation store down: %s', async (_n, failMode, how, warm, expected) => {
    let down = false;
    const store: RevocationStore = {
      failMode,
      revoke: async () => {},
      isRevoked: (() => {
        if (!down) return false;
        if (how === 'throw') throw new Error('ECONNREFUSED');
        return Promise.reject(new Error('ECONNREFUSED'));
      }) as RevocationStore['isRevoked'],
    };
    const v = createTokenVerifier(opts({ revocation: store }));
    const token = await signToken(key, { iss: ISS, aud: AUD });
    if (warm) await v.verify(token);
    down = true;
    const err = await v.verify(token).then(() => undefined, (e: TokenError) => e);
    expect(err === undefined ? 'accepted' : `${err.code} ${err.status}`).toBe(expected);
    if (err) {
      expect(err.headers['retry-after']).toBe('30');
      expect(err.toJSON().error).toBe('temporarily_unavailable');
    }
    await v.close();
  });

  it('a token whose key was removed from the issuer key set is rejected, even when cached', async () => {
    const [k1, k2] = await Promise.all([makeKey('ES256'), makeKey('ES256')]);
    const server = await jsonServer(jwks(k1));
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, jwksUri: `${server.url}/jwks`, engine, metrics: false, jwks: { cooldown: 0 } });
    try {
      const old = await signToken(k1, { iss: ISS, aud: AUD });
      await v.verify(old);
      expect(await codeOf(v.verify(old))).toBe('accepted');
      server.set(jwks(k2));
      // a token with the new kid makes the source refetch; k1 is gone from then on
      expect(await codeOf(v.verify(await signToken(k2, { iss: ISS, aud: AUD })))).toBe('accepted');
      expect(await codeOf(v.verify(old))).toBe('key_not_found 401');
      expect(await codeOf(v.verify(old))).toBe('key_not_found 401');
      // first fetch, the refetch for the new kid, and (cooldown 0) one refetch per presentation of the vanished
      // kid: a cached verdict whose key left the set is verified again, like any other unknown kid
      expect(server.hits()).toBeLessThanOrEqual(4);
    } finally {
      await v.close();
      await server.close();
    }
  });
});

describe.each(['node', 'jose'] as const)('resolved keys reused between uncached verifications (engine %s)', (engine) => {
  it('a key that left the set is never reused, not even within the reuse second', async () => {
    const [k1, k2] = await Promise.all([makeKey('ES256'), makeKey('ES256')]);
    const server = await jsonServer(jwks(k1));
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, jwksUri: `${server.url}/jwks`, engine, metrics: false, cache: false, jwks: { cooldown: 0 } });
    try {
      expect(await codeOf(v.verify(await signToken(k1, { iss: ISS, aud: AUD })))).toBe('accepted');
      expect(await codeOf(v.verify(await signToken(k1, { iss: ISS, aud: AUD })))).toBe('accepted');
      expect(server.hits()).toBe(1);
      server.set(jwks(k2));
      expect(await codeOf(v.verify(await signToken(k2, { iss: ISS, aud: AUD })))).toBe('accepted');
      // Never-seen tokens signed by k1, right after the refetch that dropped it.
      expect(await codeOf(v.verify(await signToken(k1, { iss: ISS, aud: AUD })))).toBe('key_not_found 401');
      expect(await codeOf(v.verify(await signToken(k1, { iss: ISS, aud: AUD })))).toBe('key_not_found 401');
    } finally {
      await v.close();
      await server.close();
    }
  });
});

function asyncStore(): RevocationStore {
  const inner = createMemoryRevocationStore();
  return { revoke: (j, e) => inner.revoke(j, e), isRevoked: async (j) => inner.isRevoked(j) };
}

describe('claim rules', () => {
  let key: TestKey;
  beforeAll(async () => {
    key = await makeKey('ES256');
  });
  const make = (extra: object) => createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: false, ...extra });
  const tok = (claims: Record<string, unknown> = {}) => signToken(key, { iss: ISS, aud: AUD, ...claims });

  it.each([
    ['exact claims match', { claims: { tenant: 'acme', tier: 2 } }, { tenant: 'acme', tier: 2 }, 'accepted'],
    ['exact claims deep match', { claims: { roles: ['a', 'b'] } }, { roles: ['a', 'b'] }, 'accepted'],
    ['exact claims differ', { claims: { tenant: 'acme' } }, { tenant: 'evil' }, 'claim_invalid 401'],
    ['exact claim missing', { claims: { tenant: 'acme' } }, {}, 'claim_invalid 401'],
    ['exact claim only inherited', { claims: { toString: Object.prototype.toString } }, {}, 'claim_invalid 401'],
    ['predicate true', { claims: (c: Record<string, unknown>) => c.tenant === 'acme' }, { tenant: 'acme' }, 'accepted'],
    ['async predicate true', { claims: async (c: Record<string, unknown>) => c.tenant === 'acme' }, { tenant: 'acme' }, 'accepted'],
    ['predicate false', { claims: () => false }, {}, 'claim_invalid 401'],
    ['predicate truthy but not true', { claims: () => 1 }, {}, 'claim_invalid 401'],
    ['predicate throws', { claims: () => { throw new Error('x'); } }, {}, 'claim_invalid 401'],
    ['maxTokenAge exceeded', { maxTokenAge: 60 }, { iat: now() - 3600, exp: now() + 60 }, 'token_too_old 401'],
    ['maxTokenAge within', { maxTokenAge: '1h' }, { iat: now() - 60 }, 'accepted'],
    ['maxTokenAge without iat', { maxTokenAge: 60 }, { iat: undefined }, 'claim_invalid 401'],
    ['expired within clockTolerance', { clockTolerance: 30 }, { iat: now() - 100, exp: now() - 10 }, 'accepted'],
    ['nbf within clockTolerance', { clockTolerance: '30s' }, { nbf: now() + 10 }, 'accepted'],
    ['lifetime over a custom cap', { maxTokenLifetime: '10m' }, { exp: now() + 3600 }, 'claim_invalid 401'],
    ['lifetime exactly one day', {}, { iat: now(), exp: now() + 86_400 }, 'accepted'],
    ['one of several audiences', { audience: ['a', AUD] }, {}, 'accepted'],
  ] as const)('%s → %s', async (_n, extra, claims, expected) => {
    for (const engine of ['node', 'jose'] as const) {
      const v = make({ ...extra, engine });
      expect(await codeOf(v.verify(await tok(claims as Record<string, unknown>)))).toBe(expected);
      await v.close();
    }
  });

  it('a claims predicate cannot change what the AuthInfo says: it sees the signed claims, frozen', async () => {
    for (const engine of ['node', 'jose'] as const) {
      let frozen: boolean | undefined;
      const v = make({
        engine,
        claims: (c: TokenClaims) => {
          frozen = Object.isFrozen(c);
          try {
            Object.assign(c, { scope: 'admin', sub: 'root' });
          } catch {
            // a frozen object refuses the write (strict mode): the predicate still answers
          }
          return true;
        },
      });
      const auth = await v.verify(await tok({ scope: 'read', sub: 'svc' }));
      expect(frozen).toBe(true);
      expect([...auth.scopes]).toEqual(['read']);
      expect(auth.subject).toBe('svc');
      expect(auth.claims.scope).toBe('read');
      await v.close();
    }
  });

  it('the claims of a cached token are the signed payload exactly, in its order, whichever strings they share with other tokens', async () => {
    const AUD2 = 'https://billing.example.test/api';
    const payloadOf = (token: string): [string, unknown][] => Object.entries(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as object);
    const shapes: Record<string, unknown>[] = [
      { scope: 'orders:read orders:write', sub: 'a' },
      // The same scope string again (the remembered scope set's), the second audience, a custom claim between.
      { tenant: 'acme', scope: 'orders:read orders:write', aud: AUD2, sub: 'b' },
      { aud: ['other', AUD2], scope: 'orders:read', sub: 'c' },
      { aud: `${AUD}x`.slice(0, AUD.length), scope: 'x'.repeat(600), sub: 'd' },
      { scp: ['a'], scope: 'orders:read orders:write', sub: 'e' },
    ];
    for (const engine of ['node', 'jose'] as const) {
      for (const claims of [undefined, () => true]) {
        const v = make({ engine, audience: [AUD, AUD2], ...(claims === undefined ? {} : { claims }) });
        try {
          for (const shape of shapes) {
            const token = await tok(shape);
            const first = await v.verify(token);
            const hit = await v.verify(token);
            expect(hit).toBe(first);
            expect(Object.entries(first.claims)).toEqual(payloadOf(token));
            expect(Object.isFrozen(first.claims)).toBe(true);
            expect(first.issuer).toBe(ISS);
          }
        } finally {
          await v.close();
        }
      }
    }
  });

  it('reads scp arrays and permissions only when listed', async () => {
    const token = await tok({ scope: 'a b', scp: ['c', 'd'], permissions: ['e'] });
    const v1 = make({});
    expect([...(await v1.verify(token)).scopes].sort()).toEqual(['a', 'b', 'c', 'd']);
    const v2 = make({ scopeClaims: ['permissions'] });
    expect([...(await v2.verify(token)).scopes]).toEqual(['e']);
    const v3 = make({});
    expect([...(await v3.verify(await tok({ scp: 'x y' }))).scopes]).toEqual(['x', 'y']);
    expect((await v3.verify(await tok({ azp: 'client-azp' }))).clientId).toBe('client-azp');
    await Promise.all([v1.close(), v2.close(), v3.close()]);
  });
});

describe('telemetry through a real prom-client registry and onEvent', () => {
  it('counts every verify once (cached or not), rejections by reason, and emits events without the token', async () => {
    const key = await makeKey('ES256');
    const registry = new Registry();
    const events: AuditEvent[] = [];
    const v: TokenVerifier = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key) as never, metrics: { registry }, onEvent: (e) => events.push(e) });
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'svc', client_id: 'c1', scope: 'read' });
    const auth = await v.verify(token);
    await v.verify(token);
    await v.verify(token);
    await v.verify('a.b.c').catch(() => undefined);
    await v.verifyRequest({ headers: {} }).catch(() => undefined);
    expect(await v.verifyRequest({ headers: { authorization: `Bearer ${token}` } })).toBe(auth);
    v.reportScopeDenied(auth, ['write'], { route: '/orders' });
    v.reportScopeDenied(undefined, ['write']);
    const text = parseProm(await registry.metrics());
    expect(sample(text, 'tokenguard_validations_total', { issuer: ISS, outcome: 'accepted' })).toBe(4);
    expect(sample(text, 'tokenguard_rejections_total', { reason: 'token_malformed' })).toBe(1);
    expect(sample(text, 'tokenguard_rejections_total', { reason: 'token_missing' })).toBe(1);
    expect(sample(text, 'tokenguard_verify_duration_seconds_count', { cache: 'hit' })).toBe(3);
    expect(events.filter((e) => e.type === 'token.accepted')).toHaveLength(4);
    const rejectedEvent = events.find((e) => e.type === 'token.rejected' && e.code === 'token_malformed');
    expect(rejectedEvent?.fingerprint).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const denied = events.filter((e) => e.type === 'scope.denied');
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({ subject: 'svc', clientId: 'c1', fingerprint: auth.fingerprint, required: ['write'] });
    expect(JSON.stringify(events)).not.toContain(token);
    await v.close();
  });
});

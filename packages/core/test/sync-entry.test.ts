/**
 * The synchronous cache-hit entry the adapters use (`syncEntryOf`), the cache-assisted extraction behind it, and
 * the request-to-guard link: same verdicts and errors as `verifyRequest()`, the AuthInfo itself on a hit, and
 * nothing visible on the request object.
 */
import { inspect } from 'node:util';
import { Registry } from 'prom-client';
import {
  createMemoryRevocationStore,
  createTokenVerifier,
  guardOf,
  linkGuard,
  syncEntryOf,
  TokenError,
  type AuthInfo,
  type GuardLink,
  type AuditEvent,
  type RequestLike,
  type TokenVerifier,
  type VerifierOptions,
} from '@tokenguard/core';
import { jwks, makeKey, signToken, type TestKey } from '../../../test/helpers/keys';
import { startJwksServer, sleep } from '../../../test/helpers/jwks-server';

const ISS = 'https://idp.example.test/';
const AUD = 'orders-api';
const now = () => Math.floor(Date.now() / 1000);

function req(authorization: string | string[] | undefined, extra: Partial<RequestLike> = {}): RequestLike {
  const values = authorization === undefined ? [] : Array.isArray(authorization) ? authorization : [authorization];
  const rawHeaders = ['Host', '127.0.0.1'];
  for (const v of values) rawHeaders.push('Authorization', v);
  return { headers: { host: '127.0.0.1', ...(values.length > 0 ? { authorization: values[0] } : {}) }, rawHeaders, method: 'GET', url: '/', ...extra };
}

/** The result of the sync entry: the value, a promise's outcome, or the thrown error's code. */
async function outcome(run: () => unknown): Promise<{ sync: boolean; value: unknown }> {
  let r: unknown;
  try {
    r = run();
  } catch (err) {
    return { sync: true, value: err instanceof TokenError ? err.code : err };
  }
  if (!(r instanceof Promise)) return { sync: true, value: r };
  try {
    return { sync: false, value: await r };
  } catch (err) {
    return { sync: false, value: err instanceof TokenError ? err.code : err };
  }
}

describe('syncEntryOf: the adapters’ synchronous entry', () => {
  let key: TestKey;
  let verifier: TokenVerifier;
  const revocation = createMemoryRevocationStore();
  const events: AuditEvent[] = [];

  beforeAll(async () => {
    key = await makeKey('RS256', 'k1');
    verifier = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], revocation, metrics: { registry: new Registry() }, onEvent: (e) => events.push(e) });
  });
  afterAll(() => verifier.close());

  it('answers a cache hit synchronously with the AuthInfo verify() gave, and a miss with a promise', async () => {
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'alice', exp: now() + 300, jti: 'sync-1' });
    const entry = syncEntryOf(verifier);
    const first = entry.verifyRequest(req(`Bearer ${token}`), undefined);
    expect(first).toBeInstanceOf(Promise);
    const auth = (await first) as AuthInfo;
    expect(auth.subject).toBe('alice');
    const again = entry.verifyRequest(req(`bearer   ${token}`), { route: '/orders', ip: '127.0.0.9' });
    expect(again).toBe(auth);
    expect(events.at(-1)).toMatchObject({ type: 'token.accepted', route: '/orders', ip: '127.0.0.9', subject: 'alice' });
    await expect(verifier.verifyRequest(req(`Bearer ${token}`))).resolves.toBe(auth);
  });

  it('keeps every per-hit check and every transport error of verifyRequest() on a cached token', async () => {
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'bob', exp: now() + 300, jti: 'sync-2' });
    await verifier.verify(token);
    const entry = syncEntryOf(verifier);
    const cases: [string, RequestLike, string][] = [
      ['two Authorization headers', req([`Bearer ${token}`, `Bearer ${token}`]), 'invalid_request'],
      ['header and query token', req(`Bearer ${token}`, { url: `/?access_token=${token}` }), 'invalid_request'],
      ['header and form-body token', req(`Bearer ${token}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: { access_token: token } }), 'invalid_request'],
      ['token with a quote appended', req(`Bearer ${token}"`), 'invalid_request'],
      ['tab after the scheme', req(`Bearer\t${token}`), 'invalid_request'],
      ['no token', req(undefined), 'token_missing'],
    ];
    for (const [name, request, code] of cases) {
      const viaEntry = await outcome(() => entry.verifyRequest(request, undefined));
      const viaPromise = await outcome(() => verifier.verifyRequest(request));
      expect({ name, code: viaEntry.value }).toEqual({ name, code });
      expect({ name, code: viaPromise.value }).toEqual({ name, code });
      expect({ name, sync: viaEntry.sync }).toEqual({ name, sync: true });
    }
    // A hit after those rejections is still a plain hit; a revocation is seen on the very next hit.
    expect(await outcome(() => entry.verifyRequest(req(`Bearer ${token}`), undefined))).toMatchObject({ sync: true, value: { subject: 'bob' } });
    revocation.revoke('sync-2', now() + 600);
    expect(await outcome(() => entry.verifyRequest(req(`Bearer ${token}`), undefined))).toEqual({ sync: true, value: 'token_revoked' });
  });

  it('verifies a never-seen token synchronously once its key is resolved, with every check and one report per rejection', async () => {
    const other = await makeKey('RS256', 'k1');
    const registry = new Registry();
    const seen: AuditEvent[] = [];
    const store = createMemoryRevocationStore();
    const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], revocation: store, metrics: { registry }, onEvent: (e) => seen.push(e) });
    try {
      const entry = syncEntryOf(v);
      // The first token resolves the key (a wait): a promise.
      const first = await signToken(key, { iss: ISS, aud: AUD, sub: 'first', exp: now() + 300 });
      expect(entry.verifyRequest(req(`Bearer ${first}`), undefined)).toBeInstanceOf(Promise);
      await v.verify(first);
      // From then on a token never seen before is verified in the same call.
      const fresh = await signToken(key, { iss: ISS, aud: AUD, sub: 'fresh', exp: now() + 300, scope: 'orders:read' });
      const got = await outcome(() => entry.verifyRequest(req(`Bearer ${fresh}`), undefined));
      expect(got).toMatchObject({ sync: true, value: { subject: 'fresh' } });
      expect([...(got.value as AuthInfo).scopes]).toEqual(['orders:read']);
      // ...and rejected in the same call, each rejection reported once.
      const forged = await signToken(other, { iss: ISS, aud: AUD, sub: 'mallory', exp: now() + 300 });
      store.revoke('revoked-jti', now() + 600);
      const cases: [string, string, string][] = [
        ['forged signature', forged, 'signature_invalid'],
        ['expired', await signToken(key, { iss: ISS, aud: AUD, exp: now() - 120, iat: now() - 400 }), 'token_expired'],
        ['wrong audience', await signToken(key, { iss: ISS, aud: 'other-api', exp: now() + 300 }), 'audience_invalid'],
        ['revoked jti', await signToken(key, { iss: ISS, aud: AUD, exp: now() + 300, jti: 'revoked-jti' }), 'token_revoked'],
      ];
      for (const [name, token, code] of cases) {
        const before = seen.filter((e) => e.type === 'token.rejected').length;
        expect({ name, ...(await outcome(() => entry.verifyRequest(req(`Bearer ${token}`), undefined))) }).toEqual({ name, sync: true, value: code });
        expect({ name, events: seen.filter((e) => e.type === 'token.rejected').length - before }).toEqual({ name, events: 1 });
        expect({ name, promise: await outcome(() => v.verify(token)) }).toEqual({ name, promise: { sync: false, value: code } });
      }
      const text = await registry.metrics();
      expect(text).toMatch(/tokenguard_rejections_total\{[^}]*reason="signature_invalid"[^}]*\} 2/);
    } finally {
      await v.close();
    }
  });

  it('refuses a kid the key set cannot give in the same call, and still waits wherever a fetch may bring it', async () => {
    const COOLDOWN_MS = 1000;
    const stranger = await makeKey('RS256', 'not-published');
    const later = await makeKey('RS256', 'published-later');
    const server = await startJwksServer(jwks(key));
    const seen: AuditEvent[] = [];
    const registry = new Registry();
    const remote = createTokenVerifier({ issuer: ISS, audience: AUD, jwksUri: server.jwksUrl, algorithms: ['RS256'], jwks: { cooldown: `${COOLDOWN_MS}ms`, timeout: '2s' }, metrics: { registry }, onEvent: (e) => seen.push(e) });
    const local = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], metrics: { registry: new Registry() } });
    try {
      // Every token is signed up front, so each timed stretch below holds nothing but the calls themselves.
      const plan: [TestKey, string][] = [[key, 'first'], [stranger, 'a'], [stranger, 'b'], [stranger, 'c'], [stranger, 'd'], [stranger, 'e'], [later, 'early'], [later, 'rotated'], [stranger, 'f'], [stranger, 'g'], [stranger, 'h'], [stranger, 'i'], [key, 'known'], [stranger, 'local']];
      const tokens = new Map<string, string>();
      for (const [k, sub] of plan) tokens.set(sub, await signToken(k, { iss: ISS, aud: AUD, sub, exp: now() + 300 }));
      const t = (sub: string) => tokens.get(sub)!;
      const entry = syncEntryOf(remote);
      const call = async (sub: string) => outcome(() => entry.verifyRequest(req(`Bearer ${t(sub)}`), undefined));
      // The first request fetches the set (a wait); the first unknown kid after it may refetch (a wait too).
      expect(await call('first')).toMatchObject({ sync: false, value: { subject: 'first' } });
      expect(server.hits()).toBe(1);
      expect(await call('a')).toEqual({ sync: false, value: 'key_not_found' });
      expect(server.hits()).toBe(2);
      // Within the cooldown: refused in the same call, no fetch, one report each, as verify() reports it.
      const before = seen.filter((e) => e.type === 'token.rejected').length;
      for (const sub of ['b', 'c', 'd']) expect(await call(sub)).toEqual({ sync: true, value: 'key_not_found' });
      await expect(remote.verify(t('e'))).rejects.toMatchObject({ code: 'key_not_found', status: 401 });
      expect(server.hits()).toBe(2);
      expect(seen.filter((e) => e.type === 'token.rejected').slice(before)).toEqual(Array(4).fill(expect.objectContaining({ code: 'key_not_found', kid: 'not-published' })));
      // A key published meanwhile is still refused until the cooldown ends (the documented throttle), then
      // fetched: the refusal never outlives the cooldown.
      server.set(jwks(key, later));
      expect(await call('early')).toEqual({ sync: true, value: 'key_not_found' });
      expect(await registry.metrics()).toMatch(/tokenguard_rejections_total\{[^}]*reason="key_not_found"[^}]*\} 6/);
      await sleep(COOLDOWN_MS + 100);
      expect(await call('rotated')).toMatchObject({ sync: false, value: { subject: 'rotated' } });
      expect(server.hits()).toBe(3);
      // An unknown kid while a fetch is in flight joins it (a wait), whatever the cooldown says.
      await sleep(COOLDOWN_MS + 100);
      server.fault({ type: 'delay', ms: 150 });
      const fetching = call('f');
      const joining = call('g');
      expect(await fetching).toEqual({ sync: false, value: 'key_not_found' });
      expect(await joining).toEqual({ sync: false, value: 'key_not_found' });
      expect(server.hits()).toBe(4);
      // The endpoint failing: after the failed refetch, unknown kids get the 503 at once, known ones are served.
      server.fault({ type: 'ok' });
      await sleep(COOLDOWN_MS + 100);
      server.fault({ type: 'status', status: 500 });
      expect(await call('h')).toEqual({ sync: false, value: 'jwks_unavailable' });
      expect(await call('i')).toEqual({ sync: true, value: 'jwks_unavailable' });
      expect(await call('known')).toMatchObject({ value: { subject: 'known' } });
      expect(server.hits()).toBe(5);
      // A static key set: before it is built an unknown kid waits for the build; after, it is refused in the same call.
      const localEntry = syncEntryOf(local);
      expect(await outcome(() => localEntry.verifyRequest(req(`Bearer ${t('local')}`), undefined))).toEqual({ sync: false, value: 'key_not_found' });
      expect(await outcome(() => localEntry.verifyRequest(req(`Bearer ${t('local')}`), undefined))).toEqual({ sync: true, value: 'key_not_found' });
      await expect(local.verify(t('local'))).rejects.toMatchObject({ code: 'key_not_found' });
    } finally {
      await Promise.all([remote.close(), local.close()]);
      await server.close();
    }
  });

  it('keeps the wait for an asynchronous revocation store, the jose engine and offload', async () => {
    const asyncStore = { isRevoked: async (jti: string) => jti === 'gone', revoke: async () => undefined };
    for (const [name, extra] of [
      ['async revocation store', { revocation: asyncStore }],
      ['jose engine', { engine: 'jose' as const }],
      ['offload', { offload: true }],
    ] as const) {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], metrics: { registry: new Registry() }, ...extra });
      try {
        await v.verify(await signToken(key, { iss: ISS, aud: AUD, exp: now() + 300 }));
        const token = await signToken(key, { iss: ISS, aud: AUD, sub: name, exp: now() + 300, jti: 'gone' });
        const result = await outcome(() => syncEntryOf(v).verifyRequest(req(`Bearer ${token}`), undefined));
        expect({ name, sync: result.sync }).toEqual({ name, sync: false });
        expect({ name, value: result.value }).toEqual({ name, value: name === 'async revocation store' ? 'token_revoked' : expect.objectContaining({ subject: name }) });
      } finally {
        await v.close();
      }
    }
  });

  it('reads req.query when the URL has no query string unless the adapter says it is parsed from the URL', async () => {
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'carol', exp: now() + 300 });
    await verifier.verify(token);
    const entry = syncEntryOf(verifier);
    let reads = 0;
    const request = req(`Bearer ${token}`);
    Object.defineProperty(request, 'query', { get: () => { reads++; return { access_token: token }; }, enumerable: true });
    // Read: a query token is refused (allowQueryToken is off), whatever the header says.
    expect(await outcome(() => entry.verifyRequest(request, undefined))).toEqual({ sync: true, value: 'invalid_request' });
    expect(reads).toBe(1);
    // Vouched for: the URL '/' has no query string, so nothing is read and the header token is a hit.
    expect(await outcome(() => entry.verifyRequest(request, undefined, true))).toMatchObject({ sync: true, value: { subject: 'carol' } });
    expect(reads).toBe(1);
    // A query string in the URL is always read from the URL.
    expect(await outcome(() => entry.verifyRequest({ ...request, url: `/?access_token=${token}` }, undefined, true))).toEqual({ sync: true, value: 'invalid_request' });
  });

  it('falls back to verifyRequest() for a verifier it did not build, with the context always passed', async () => {
    const seen: unknown[] = [];
    const foreign = {
      ...verifier,
      verifyRequest: (r: RequestLike, context?: unknown) => {
        seen.push(context);
        return Promise.resolve(undefined);
      },
    } as TokenVerifier;
    const entry = syncEntryOf(foreign);
    expect(entry.auditing).toBe(true);
    await expect(entry.verifyRequest(req(undefined), { route: '/x' })).resolves.toBeUndefined();
    expect(seen).toEqual([{ route: '/x' }]);
  });

  it('says when no audit event is ever emitted (no logger, no onEvent)', () => {
    const quiet = createTokenVerifier({ issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], metrics: { registry: new Registry() } });
    expect(syncEntryOf(quiet).auditing).toBe(false);
    expect(syncEntryOf(verifier).auditing).toBe(true);
    return quiet.close();
  });
});

describe('linkGuard / guardOf', () => {
  it('links a request to its guard without anything visible on the request', () => {
    const verifier = { options: {} } as TokenVerifier;
    const request = { headers: {}, url: '/' };
    const link = Object.freeze({ verifier, passErrors: true });
    expect(guardOf(request)).toBeUndefined();
    linkGuard(request, link);
    expect(guardOf(request)).toBe(link);
    expect(Object.getOwnPropertySymbols(request)).toEqual([]);
    expect(Object.getOwnPropertyNames(request)).toEqual(['headers', 'url']);
    expect(JSON.stringify(request)).toBe('{"headers":{},"url":"/"}');
    expect(inspect(request, { showHidden: true })).not.toMatch(/passErrors|verifier/);
    const other = Object.freeze({ verifier, passErrors: false });
    linkGuard(request, other);
    expect(guardOf(request)).toBe(other);
    expect(guardOf({})).toBeUndefined();
    expect(guardOf(undefined)).toBeUndefined();
  });

  it('links through the verified AuthInfo on a hit (no per-request entry), and the last guard of a request wins', () => {
    const verifier = { options: {} } as TokenVerifier;
    const a = Object.freeze({ verifier, passErrors: false });
    const b = Object.freeze({ verifier, passErrors: true });
    const authA = Object.freeze({ subject: 'a' }) as unknown as AuthInfo;
    const authB = Object.freeze({ subject: 'b' }) as unknown as AuthInfo;
    const first = { url: '/1' };
    linkGuard(first, a, authA);
    expect(guardOf(first, authA)).toBe(a);
    // Nothing is kept for the request object itself: another request with the same token finds the same guard.
    expect(guardOf(first)).toBeUndefined();
    expect(guardOf({ url: '/2' }, authA)).toBe(a);
    // Guard b saw no token on the same request (optional auth): the request's own link shadows authA's.
    linkGuard(first, b, undefined);
    expect(guardOf(first, authA)).toBe(b);
    // Then a third guard verifies another token on it: its link is the one used, the request link is dropped.
    linkGuard(first, a, authB);
    expect(guardOf(first, authB)).toBe(a);
    expect(guardOf(first, undefined)).toBeUndefined();
    expect(guardOf(first, null)).toBeUndefined();
  });

  it('on the short way (no request or AuthInfo ever linked), finds the guard that linked last for its verifier, whichever guard of that verifier it was', async () => {
    // A fresh copy of the module: this file's other tests have linked requests and AuthInfos in the shared one,
    // which closes the short way for good.
    let core: typeof import('@tokenguard/core') | undefined;
    await jest.isolateModulesAsync(async () => {
      core = await import('@tokenguard/core');
    });
    const c = core!;
    expect(c.linkGuard).not.toBe(linkGuard);
    const key = await makeKey('RS256', 'last-link');
    const options: VerifierOptions = { issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], metrics: false };
    const v1 = c.createTokenVerifier(options);
    const v2 = c.createTokenVerifier(options);
    try {
      // Two guards on one verifier (with different passErrors), and one on another verifier.
      const a = Object.freeze({ verifier: v1, passErrors: false });
      const b = Object.freeze({ verifier: v1, passErrors: true });
      const d = Object.freeze({ verifier: v2, passErrors: false });
      const token = () => signToken(key, { iss: ISS, aud: AUD, sub: 'svc', exp: now() + 300 });
      const auth1 = await v1.verify(await token());
      const auth2 = await v2.verify(await token());
      const sequence: [GuardLink, AuthInfo][] = [[a, auth1], [a, auth1], [d, auth2], [a, auth1], [b, auth1], [b, auth1], [d, auth2], [a, auth1], [a, auth1], [b, auth1]];
      for (const [link, auth] of sequence) {
        c.linkGuard({}, link, auth);
        expect(c.guardOf({}, auth)).toBe(link);
      }
      // The other verifier's guard kept its own link throughout.
      expect(c.guardOf({}, auth2)).toBe(d);
      // A request linked without a token (optional auth) still shadows the AuthInfo's guard, short way or not.
      const request = {};
      c.linkGuard(request, d, undefined);
      expect(c.guardOf(request, auth1)).toBe(d);
      c.linkGuard(request, b, auth1);
      expect(c.guardOf(request, auth1)).toBe(b);
    } finally {
      await Promise.all([v1.close(), v2.close()]);
    }
  });

  it('finds the guard of an AuthInfo through the verifier that made it: every token it verifies, with no entry per token', async () => {
    const key = await makeKey('RS256', 'link');
    const options: VerifierOptions = { issuer: ISS, audience: AUD, keys: jwks(key), algorithms: ['RS256'], metrics: false, cache: false };
    const v1 = createTokenVerifier(options);
    const v2 = createTokenVerifier(options);
    try {
      const link1 = Object.freeze({ verifier: v1, passErrors: false });
      const link2 = Object.freeze({ verifier: v2, passErrors: true });
      const token = () => signToken(key, { iss: ISS, aud: AUD, sub: 'svc', exp: now() + 300 });
      const first = await v1.verify(await token());
      const second = await v1.verify(await token());
      const fromV2 = await v2.verify(await token());
      expect(second).not.toBe(first);
      linkGuard({}, link1, first);
      linkGuard({}, link2, fromV2);
      // A later AuthInfo of the same verifier (cache off: a new object per request) finds its guard too.
      expect(guardOf({}, second)).toBe(link1);
      expect(guardOf({}, fromV2)).toBe(link2);
      // Not an AuthInfo made by a verifier (a hand-made one, a copy): only what was linked to it itself.
      expect(guardOf({}, { ...first } as AuthInfo)).toBeUndefined();
      // An AuthInfo handed to another verifier's guard is linked itself, and that link wins until its own guard links it again.
      linkGuard({}, link2, first);
      expect(guardOf({}, first)).toBe(link2);
      expect(guardOf({}, second)).toBe(link1);
      linkGuard({}, link1, first);
      expect(guardOf({}, first)).toBe(link1);
      // Nothing shows on the AuthInfo.
      expect(Object.getOwnPropertySymbols(first)).toEqual([]);
      expect(JSON.stringify(first)).not.toMatch(/passErrors|verifier/);
    } finally {
      await Promise.all([v1.close(), v2.close()]);
    }
  });
});

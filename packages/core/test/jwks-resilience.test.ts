/**
 * Remote key-set behaviour over time against a real key-set server on 127.0.0.1: unknown-kid floods
 * (while up and while down), stale-if-error, refresh-ahead, single-flight, key removal and identity.
 * Durations are shortened (ms strings) so the file stays within a few seconds.
 */
import { createKeySource } from '../src/lib/key-sources';
import type { KeySource } from '../src/lib/key-source';
import { makeKey, jwks, type TestKey } from '../../../test/helpers/keys';
import { startJwksServer, recordTelemetry, outcome, sleep, until, type JwksServer } from '../../../test/helpers/jwks-server';

const ALGS = ['RS256', 'ES256'];
const COOLDOWN_MS = 200;
const TIMEOUT_MS = 400;

let server: JwksServer;
let a: TestKey, b: TestKey, c: TestKey;
const sources: KeySource[] = [];

function source(jwksExtra: Record<string, unknown> = {}) {
  const telemetry = recordTelemetry();
  const src = createKeySource(
    { issuer: server.url, jwksUri: server.jwksUrl, algorithms: ALGS, jwks: { timeout: `${TIMEOUT_MS}ms`, cooldown: `${COOLDOWN_MS}ms`, cacheMaxAge: '10m', ...jwksExtra } },
    { telemetry },
  );
  sources.push(src);
  return { src, telemetry };
}

const randomKid = (i: number) => `rnd-${i}-${Math.random().toString(36).slice(2)}`;

/** Fires `total` resolves of random kids in batches spread over about `spanMs`. Bounded in count and time. */
async function flood(src: KeySource, total: number, spanMs: number) {
  const batches = 10;
  const codes = new Map<string, number>();
  let slowest = 0;
  const start = Date.now();
  for (let i = 0; i < batches; i++) {
    const results = await Promise.all(Array.from({ length: total / batches }, (_, j) => outcome(src.resolve({ alg: 'RS256', kid: randomKid(i * 1000 + j) }))));
    for (const r of results) {
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      slowest = Math.max(slowest, r.ms);
    }
    await sleep(spanMs / batches);
  }
  return { codes, slowest, elapsed: Date.now() - start };
}

beforeAll(async () => {
  [a, b, c] = await Promise.all([makeKey('RS256'), makeKey('RS256'), makeKey('ES256')]);
  server = await startJwksServer(jwks(a));
});
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  server.reset(jwks(a));
});
afterAll(() => server.close());

describe('unknown-kid flood', () => {
  it('while the endpoint is up: at most one fetch per cooldown, valid kids unaffected', async () => {
    const { src, telemetry } = source();
    await src.resolve({ alg: 'RS256', kid: a.kid });
    const before = server.hits();
    const result = await flood(src, 500, 1000);
    const fetches = server.hits() - before;
    expect(fetches).toBeGreaterThanOrEqual(1); // the first unknown kid after the cooldown does refetch
    expect(fetches).toBeLessThanOrEqual(Math.ceil(result.elapsed / COOLDOWN_MS) + 1);
    expect([...result.codes.keys()]).toEqual(['key_not_found']);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('resolved');
    expect(telemetry.fetches.every((f) => f.outcome === 'ok')).toBe(true);
    console.log(`flood up: 500 random kids in ${result.elapsed} ms -> ${fetches} fetches (cooldown ${COOLDOWN_MS} ms), slowest answer ${result.slowest} ms`);
  });

  it('while the endpoint is down: at most one fetch per cooldown (backoff), 503 with Retry-After, known kids still served', async () => {
    const { src, telemetry } = source();
    const ra = await src.resolve({ alg: 'RS256', kid: a.kid });
    server.fault({ type: 'status', status: 503 });
    await sleep(COOLDOWN_MS + 20);
    const before = server.hits();
    const result = await flood(src, 500, 1200);
    const fetches = server.hits() - before;
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(Math.ceil(result.elapsed / COOLDOWN_MS) + 1);
    expect([...result.codes.keys()]).toEqual(['jwks_unavailable']);
    expect(result.slowest).toBeLessThan(TIMEOUT_MS + 400);
    const o = await outcome(src.resolve({ alg: 'RS256', kid: randomKid(-1) }));
    expect(o.retryAfter).toBeGreaterThanOrEqual(1);
    expect(await src.resolve({ alg: 'RS256', kid: a.kid })).toBe(ra);
    expect(telemetry.fetches.slice(1).every((f) => f.outcome === 'stale')).toBe(true);
    console.log(`flood down: 500 random kids in ${result.elapsed} ms -> ${fetches} fetches, slowest answer ${result.slowest} ms`);
  });

  it('while the endpoint is down on a cold start: fetches stay bounded by backoff', async () => {
    server.fault({ type: 'status', status: 500 });
    const { src } = source();
    const before = server.hits();
    const result = await flood(src, 300, 1000);
    const fetches = server.hits() - before;
    expect([...result.codes.keys()]).toEqual(['jwks_unavailable']);
    expect(fetches).toBeLessThanOrEqual(Math.ceil(result.elapsed / COOLDOWN_MS) + 1);
  });
});

describe('cold-start failure backoff', () => {
  it('a slow first fetch does not lock requests out for the whole cooldown: keys arrive within the short backoff', async () => {
    // the first fetch outlives the timeout; the server is healthy right after
    server.fault({ type: 'delay', ms: 600 });
    const { src } = source({ cooldown: '3s', timeout: '300ms' });
    const first = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(first.code).toBe('jwks_unavailable');
    server.fault({ type: 'ok' });
    await sleep(50);
    const locked = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(locked.code).toBe('jwks_unavailable');
    expect(locked.retryAfter).toBeLessThanOrEqual(1); // the real wait (1 s backoff), not the 3 s cooldown
    const failedAt = Date.now();
    let last = locked;
    for (let i = 0; i < 30 && last.code !== 'resolved'; i++) {
      await sleep(100);
      last = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    }
    expect(last.code).toBe('resolved');
    expect(Date.now() - failedAt).toBeLessThan(1800); // well before the 3 s cooldown
  });

  it('repeated cold-start failures double the backoff (1 s, then 2 s), and Retry-After says so', async () => {
    server.fault({ type: 'status', status: 500 });
    const { src } = source({ cooldown: '3s' });
    const first = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(first).toMatchObject({ code: 'jwks_unavailable', retryAfter: 1 });
    const before = server.hits();
    await sleep(1050);
    const second = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(second).toMatchObject({ code: 'jwks_unavailable', retryAfter: 2 });
    expect(server.hits() - before).toBe(1);
  });
});

describe('single-flight and new keys', () => {
  it('a new kid appearing costs exactly one fetch for 50 concurrent requests', async () => {
    const { src, telemetry } = source();
    await src.resolve({ alg: 'RS256', kid: a.kid });
    server.set(jwks(a, c));
    server.fault({ type: 'delay', ms: 100 });
    await sleep(COOLDOWN_MS + 20);
    const before = server.hits();
    const results = await Promise.all(Array.from({ length: 50 }, () => outcome(src.resolve({ alg: 'ES256', kid: c.kid }))));
    expect(results.map((r) => r.code)).toEqual(Array(50).fill('resolved'));
    expect(server.hits() - before).toBe(1);
    expect(telemetry.events.filter((e) => e.type === 'key.added').map((e) => e.kid)).toEqual([a.kid, c.kid]);
  });

  it('cold start: concurrent first requests share one fetch', async () => {
    server.fault({ type: 'delay', ms: 100 });
    const { src } = source();
    const before = server.hits();
    const results = await Promise.all(Array.from({ length: 20 }, () => outcome(src.resolve({ alg: 'RS256', kid: a.kid }))));
    expect(results.every((r) => r.code === 'resolved')).toBe(true);
    expect(server.hits() - before).toBe(1);
  });

  it('a key published while a fetch is under way: the request refetches once more instead of failing', async () => {
    // a fetch that reads the set when called but answers 150 ms later (as a slow network would)
    const slowFetch: typeof fetch = async (url, init) => {
      const res = await fetch(url, init);
      const body = await res.arrayBuffer();
      await sleep(150);
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const telemetry = recordTelemetry();
    const src = createKeySource({ issuer: server.url, jwksUri: server.jwksUrl, algorithms: ALGS, jwks: { timeout: '1s', cooldown: '30s' } }, { telemetry, fetch: slowFetch });
    sources.push(src);
    const before = server.hits();
    const first = src.resolve({ alg: 'RS256', kid: a.kid }); // cold start: the fetch reads [a]
    await sleep(50);
    server.set(jwks(a, c));
    const late = await outcome(src.resolve({ alg: 'ES256', kid: c.kid })); // joins, misses, refetches
    expect((await outcome(first)).code).toBe('resolved');
    expect(late.code).toBe('resolved');
    expect(server.hits() - before).toBe(2);
  });

  it('a header alg no key-set key can serve (HS256, none) never triggers a fetch', async () => {
    const telemetry = recordTelemetry();
    const src = createKeySource({ issuer: server.url, jwksUri: server.jwksUrl, algorithms: ['RS256', 'HS256', 'none'], jwks: { cooldown: '0s' } }, { telemetry });
    sources.push(src);
    await src.resolve({ alg: 'RS256', kid: a.kid });
    const before = server.hits();
    for (const header of [{ alg: 'HS256' }, { alg: 'HS256', kid: a.kid }, { alg: 'none' }, { alg: 'HS256', kid: 'x' }]) {
      expect((await outcome(src.resolve(header))).code).toBe('key_not_found');
    }
    expect(server.hits()).toBe(before);
  });

  it('a request that started the fetch itself does not fetch twice for an unknown kid', async () => {
    const { src } = source();
    const before = server.hits();
    expect((await outcome(src.resolve({ alg: 'RS256', kid: randomKid(1) }))).code).toBe('key_not_found');
    expect(server.hits() - before).toBe(1);
  });
});

describe('stale-if-error', () => {
  it('serves the last good set for staleIfError past cacheMaxAge, then reports unavailable, then recovers', async () => {
    const { src, telemetry } = source({ cacheMaxAge: '300ms', staleIfError: '700ms' });
    const ra = await src.resolve({ alg: 'RS256', kid: a.kid });
    const fetchedAt = Date.now();
    server.fault({ type: 'status', status: 500 });
    // past cacheMaxAge: background refreshes fail, the set keeps serving
    await sleep(450);
    const during = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(during.code).toBe('resolved');
    expect(during.ms).toBeLessThan(200);
    expect(src.isCurrent(ra)).toBe(true);
    const h = src.health();
    expect(h.state).toBe('stale');
    expect(h.ageSeconds).toBeGreaterThanOrEqual(0.3);
    expect(h.lastError).toBe('HTTP 500');
    expect(telemetry.fetches.filter((f) => f.outcome === 'stale').length).toBeGreaterThanOrEqual(1);
    expect(telemetry.events.filter((e) => e.type === 'jwks.failed').length).toBe(telemetry.fetches.filter((f) => f.outcome !== 'ok').length);
    // past cacheMaxAge + staleIfError: the set is no longer used
    await sleep(Math.max(0, fetchedAt + 1000 + 50 - Date.now()));
    const after = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
    expect(after.code).toBe('jwks_unavailable');
    expect(src.isCurrent(ra)).toBe(false);
    expect(src.health().state).toBe('unavailable');
    // endpoint back: within the (capped) backoff the keys return
    server.fault({ type: 'ok' });
    expect(await until(() => src.health().state === 'fresh', 2500)).toBe(true);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('resolved');
  });
});

describe('refresh-ahead', () => {
  it('refreshes in the background before cacheMaxAge: no request waits on a fetch', async () => {
    const { src } = source({ cacheMaxAge: '600ms' });
    await src.resolve({ alg: 'RS256', kid: a.kid });
    server.fault({ type: 'delay', ms: 300 }); // any request that waited on a fetch would take >= 300 ms
    const before = server.hits();
    let slowest = 0;
    const end = Date.now() + 1600;
    let n = 0;
    while (Date.now() < end && n < 500) {
      n++;
      const o = await outcome(src.resolve({ alg: 'RS256', kid: a.kid }));
      expect(o.code).toBe('resolved');
      slowest = Math.max(slowest, o.ms);
      await sleep(10);
    }
    const fetches = server.hits() - before;
    expect(fetches).toBeGreaterThanOrEqual(2); // refresh-ahead at 75-85 % of 600 ms, each fetch 300 ms
    expect(fetches).toBeLessThanOrEqual(5);
    expect(slowest).toBeLessThan(200);
    expect(await until(() => src.health().state === 'fresh', 1000)).toBe(true);
  });
});

describe('key removal and identity', () => {
  it('keeps the resolved object across refreshes; a removed key stops being current and is rejected', async () => {
    server.set(jwks(a, b));
    const { src, telemetry } = source();
    const ra = await src.resolve({ alg: 'RS256', kid: a.kid });
    const rb = await src.resolve({ alg: 'RS256', kid: b.kid });
    expect(src.isCurrent(rb)).toBe(true);

    server.set(jwks(a, c)); // b removed, c added
    await sleep(COOLDOWN_MS + 20);
    expect((await outcome(src.resolve({ alg: 'ES256', kid: c.kid }))).code).toBe('resolved'); // unknown kid → refetch
    expect(src.isCurrent(rb)).toBe(false);
    expect(src.isCurrent(ra)).toBe(true);
    expect(await src.resolve({ alg: 'RS256', kid: a.kid })).toBe(ra);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: b.kid }))).code).toBe('key_not_found');
    expect(telemetry.events.filter((e) => e.type === 'key.removed').map((e) => e.kid)).toEqual([b.kid]);
    expect(telemetry.events.filter((e) => e.type === 'jwks.refreshed')).toHaveLength(2);

    // the same kid with new key material is a new key: the old object is no longer current
    const a2 = await makeKey('RS256', a.kid);
    server.set(jwks(a2, c));
    await sleep(COOLDOWN_MS + 20);
    await outcome(src.resolve({ alg: 'RS256', kid: randomKid(0) })); // triggers a refetch
    expect(src.isCurrent(ra)).toBe(false);
    const ra2 = await src.resolve({ alg: 'RS256', kid: a.kid });
    expect(ra2).not.toBe(ra);
    expect(src.isCurrent(ra2)).toBe(true);
  });

  it('a key is current only for the source that resolved it, asked right after it was current there', async () => {
    // isCurrent remembers the key it looked up last: the owner and the `current` flag must still be read each time.
    const one = source().src;
    const two = source().src;
    const fromOne = await one.resolve({ alg: 'RS256', kid: a.kid });
    const fromTwo = await two.resolve({ alg: 'RS256', kid: a.kid });
    expect(fromTwo).not.toBe(fromOne);
    for (let i = 0; i < 3; i++) {
      expect(one.isCurrent(fromOne)).toBe(true);
      expect(two.isCurrent(fromOne)).toBe(false);
      expect(two.isCurrent(fromTwo)).toBe(true);
      expect(one.isCurrent(fromTwo)).toBe(false);
    }
  });

  it('close() stops background refreshes and answers 503', async () => {
    const { src } = source({ cacheMaxAge: '200ms' });
    await src.resolve({ alg: 'RS256', kid: a.kid });
    src.close();
    const hits = server.hits();
    await sleep(400);
    expect(server.hits()).toBe(hits);
    expect((await outcome(src.resolve({ alg: 'RS256', kid: a.kid }))).code).toBe('jwks_unavailable');
  });

  it('health() before any request starts a background fetch so readiness probes see keys', async () => {
    const { src } = source();
    expect(src.health()).toEqual({ issuer: server.url, state: 'unavailable', keys: 0 });
    expect(await until(() => src.health().state === 'fresh', 1000)).toBe(true);
    expect(src.health().keys).toBe(1);
  });
});

describe('plain http warnings', () => {
  it('warns once for a non-loopback http:// key URL, never for loopback', () => {
    const t1 = recordTelemetry();
    sources.push(createKeySource({ issuer: 'http://idp.internal.test', jwksUri: 'http://idp.internal.test/jwks', algorithms: ALGS, jwks: {} }, { telemetry: t1 }));
    expect(t1.warnings).toHaveLength(1);
    expect(t1.warnings[0]!.msg).toMatch(/plain http/);
    const t2 = recordTelemetry();
    sources.push(createKeySource({ issuer: server.url, jwksUri: server.jwksUrl, algorithms: ALGS, jwks: {} }, { telemetry: t2 }));
    sources.push(createKeySource({ issuer: 'https://idp.example.test', jwksUri: 'https://idp.example.test/jwks', algorithms: ALGS, jwks: {} }, { telemetry: t2 }));
    expect(t2.warnings).toHaveLength(0);
  });
});

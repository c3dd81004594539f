/**
 * Key rotation under continuous load, through a real Express app guarded by `tokenGuard` whose keys come from
 * a real key-set server (both on 127.0.0.1:0).
 *
 * Timeline (ms after the load starts), at a steady 200 requests/s:
 * - 0: the set holds the old key; tokens signed with it are presented.
 * - PUBLISH_AT: the new key is published and tokens signed with it are presented at once (no pre-publish
 *   wait: the unknown-kid refetch must pick it up without a single rejection), mixed with old-key tokens.
 * - REMOVE_AT: the old key is removed from the set while its tokens are still presented.
 * Asserted: zero rejections of tokens whose key is published and seen; the removal is seen within
 * cacheMaxAge; every old-key token presented after that is rejected (401 key_not_found), cached or not.
 */
import express from 'express';
import { createServer } from 'node:http';
import { tokenGuard, requireScopes } from '@tokenguard/express';
import type { AuditEvent } from '@tokenguard/core';
import { makeKey, jwks, signToken, type TestKey } from '../helpers/keys';
import { wrap, type TestServer } from '../helpers/http';
import { startJwksServer, sleep, type JwksServer } from '../helpers/jwks-server';

const RATE = 200; // requests per second
const TICK_MS = 50;
const LOAD_MS = 14_000;
const PUBLISH_AT = 3_000;
const REMOVE_AT = 8_000;
const CACHE_MAX_AGE_MS = 2_000;
const MAX_IN_FLIGHT = 400;
const TOKENS_PER_KEY = 300;
const issuer = 'https://issuer.rotation.test';
const audience = 'orders-api';

interface Sample { key: 'old' | 'new'; sentAt: number; doneAt: number; status: number; code: string | undefined }

let keySrv: JwksServer;
let app: TestServer;
let guard: ReturnType<typeof tokenGuard>;
let oldKey: TestKey, newKey: TestKey;
const events: { at: number; e: AuditEvent }[] = [];

beforeAll(async () => {
  [oldKey, newKey] = await Promise.all([makeKey('ES256'), makeKey('ES256')]);
  keySrv = await startJwksServer(jwks(oldKey));
  guard = tokenGuard({
    issuer,
    audience,
    jwksUri: keySrv.jwksUrl,
    algorithms: ['ES256'],
    jwks: { cacheMaxAge: `${CACHE_MAX_AGE_MS}ms`, timeout: '2s' },
    metrics: false,
    onEvent: (e) => void events.push({ at: Date.now(), e }),
  });
  const ex = express();
  ex.use(guard);
  ex.get('/orders', requireScopes('orders:read'), (req, res) => {
    res.json({ sub: req.auth?.subject });
  });
  app = await wrap(createServer(ex));
});

afterAll(async () => {
  await guard?.close();
  await app?.close();
  await keySrv?.close();
});

async function mint(key: TestKey, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => signToken(key, { iss: issuer, aud: audience, sub: `svc-${i}`, scope: 'orders:read', client_id: 'rotation-client' })));
}

async function send(token: string, key: 'old' | 'new'): Promise<Sample> {
  const sentAt = Date.now();
  try {
    const res = await fetch(`${app.url}/orders`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { code?: string };
    return { key, sentAt, doneAt: Date.now(), status: res.status, code: body.code };
  } catch (err) {
    return { key, sentAt, doneAt: Date.now(), status: 0, code: `network:${(err as Error).name}` };
  }
}

it('rotates keys under steady load with zero false rejections', async () => {
  const [oldTokens, newTokens] = await Promise.all([mint(oldKey, TOKENS_PER_KEY), mint(newKey, TOKENS_PER_KEY)]);
  const pending: Promise<Sample>[] = [];
  let inFlight = 0;
  let skipped = 0;
  let published = false;
  let removed = false;
  let publishAt = 0;
  let removeAt = 0;
  let n = 0;
  const start = Date.now();
  const perTick = (RATE * TICK_MS) / 1000;
  const planned = (LOAD_MS / TICK_MS) * perTick;

  for (let tick = 0; tick < LOAD_MS / TICK_MS; tick++) {
    const now = Date.now() - start;
    if (!published && now >= PUBLISH_AT) {
      keySrv.set(jwks(oldKey, newKey));
      published = true;
      publishAt = Date.now();
    }
    if (!removed && now >= REMOVE_AT) {
      keySrv.set(jwks(newKey));
      removed = true;
      removeAt = Date.now();
    }
    for (let i = 0; i < perTick; i++) {
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        continue;
      }
      n++;
      const useNew = published && n % 2 === 0;
      const token = useNew ? newTokens[n % TOKENS_PER_KEY]! : oldTokens[n % TOKENS_PER_KEY]!;
      inFlight++;
      pending.push(send(token, useNew ? 'new' : 'old').finally(() => inFlight--));
    }
    // steady rate: wait for the next tick boundary
    await sleep(Math.max(0, start + (tick + 1) * TICK_MS - Date.now()));
  }
  const samples = await Promise.all(pending);
  const elapsed = (Date.now() - start) / 1000;

  const seen = events.find((x) => x.e.type === 'key.removed' && x.e.kid === oldKey.kid);
  expect(seen).toBeDefined();
  const removalSeenAt = seen!.at;

  const newSamples = samples.filter((s) => s.key === 'new');
  const oldSamples = samples.filter((s) => s.key === 'old');
  const newRejected = newSamples.filter((s) => s.status !== 200);
  const oldBeforeSeen = oldSamples.filter((s) => s.doneAt < removalSeenAt);
  const oldAfterSeen = oldSamples.filter((s) => s.sentAt > removalSeenAt);
  const oldWrongly = oldBeforeSeen.filter((s) => s.status !== 200);
  const oldStillAccepted = oldAfterSeen.filter((s) => s.status !== 401 || s.code !== 'key_not_found');
  const errors = samples.filter((s) => s.status === 0 || s.status >= 500);
  const fetches = keySrv.hits();

  console.log(
    `rotation under load: ${samples.length} requests in ${elapsed.toFixed(1)} s (${(samples.length / elapsed).toFixed(0)} req/s, ${skipped} skipped); ` +
      `new-key tokens ${newSamples.length} (rejected ${newRejected.length}); old-key tokens before removal seen ${oldBeforeSeen.length} (rejected ${oldWrongly.length}), ` +
      `after removal seen ${oldAfterSeen.length} (accepted ${oldStillAccepted.length}); removal seen ${removalSeenAt - removeAt} ms after it; ` +
      `new key published at +${publishAt - start} ms; errors/5xx ${errors.length}; key-set fetches ${fetches}`,
  );

  expect(errors).toEqual([]);
  expect(newRejected).toEqual([]);
  expect(oldWrongly).toEqual([]);
  expect(oldStillAccepted).toEqual([]);
  expect(removalSeenAt - removeAt).toBeLessThanOrEqual(CACHE_MAX_AGE_MS + 1000); // refresh-ahead at <= 85 % of it, plus CI slack
  expect(oldAfterSeen.length).toBeGreaterThan(100);
  expect(newSamples.length).toBeGreaterThan(500);
  expect(samples.length).toBeGreaterThanOrEqual(planned * 0.9);
  // the key set was fetched a bounded number of times: the first fetch, one unknown-kid refetch for the
  // new key, refresh-ahead every ~0.8 x cacheMaxAge, and old-kid refetches at most once per cooldown (30 s)
  expect(fetches).toBeLessThanOrEqual(2 + Math.ceil(LOAD_MS / (CACHE_MAX_AGE_MS * 0.75)) + 1);
}, 30_000);

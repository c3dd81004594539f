/**
 * End to end: tokens from `@tokenguard/issuer` with a 2 s lifetime, a downstream API guarded by
 * `@tokenguard/express`, and calls through `tokens.fetch` over several token lifetimes and a key rotation:
 * the API never answers 401.
 */
import { createTokenProvider, type TokenEvent, type TokenProvider } from '@tokenguard/client';
import { requireScopes, tokenGuard, type TokenGuardMiddleware } from '@tokenguard/express';
import { createIssuerServer, hashClientSecret, type IssuerServer } from '@tokenguard/issuer';
import express from 'express';
import { createServer } from 'node:http';
import { Registry } from 'prom-client';
import { wrap, type TestServer } from '../../../test/helpers/http';
import { delay, sample } from './fault-server';

const SECRET = 'downstream-secret-4f7a';
const RUN_MS = 12_000;
const TTL_S = 2;
let issuer: IssuerServer;
let api: TestServer;
let guard: TokenGuardMiddleware;
let tokens: TokenProvider;

beforeAll(async () => {
  issuer = await createIssuerServer({
    listen: { host: '127.0.0.1', port: 0 },
    signing: { prePublish: '1s' },
    clients: [{ clientId: 'orders-client', clientSecretHash: await hashClientSecret(SECRET), scopes: ['orders:read'], audiences: ['orders-api'], tokenTtl: `${TTL_S}s` }],
  });
  guard = tokenGuard({ issuer: issuer.url, audience: 'orders-api', metrics: { registry: new Registry() } });
  const app = express();
  app.get('/orders', guard, requireScopes('orders:read'), (req, res) => {
    res.json({ client: req.auth?.clientId });
  });
  api = await wrap(createServer(app));
});
afterAll(async () => {
  await tokens?.close();
  await guard?.close();
  await api?.close();
  await issuer?.close();
});

it(`a guarded API sees zero 401s over ${RUN_MS / 1000} s of ${TTL_S} s tokens`, async () => {
  const events: TokenEvent[] = [];
  const registry = new Registry();
  tokens = createTokenProvider({
    issuer: issuer.url, clientId: 'orders-client', clientSecret: SECRET, scopes: 'orders:read', audience: 'orders-api',
    metrics: { registry }, onEvent: (e) => events.push(e),
  });
  const statuses = new Map<number, number>();
  let calls = 0;
  const rejections = new Map<string, number>();
  const started = Date.now();
  const worker = async (): Promise<void> => {
    // bounded in time and in count
    while (Date.now() - started < RUN_MS && calls < 50_000) {
      const res = await tokens.fetch(`${api.url}/orders`);
      const body = await res.text();
      if (res.status !== 200) {
        // keep the reason of any rejection for the summary line (a code, never a token)
        const code = (JSON.parse(body || '{}') as { code?: string }).code ?? 'none';
        rejections.set(code, (rejections.get(code) ?? 0) + 1);
      }
      calls++;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      await delay(5 + Math.random() * 20);
    }
  };
  const rotation = (async () => {
    await delay(RUN_MS / 3);
    await issuer.rotateKeys(); // the new key signs after prePublish (1 s), mid-run
  })();
  await Promise.all([worker(), worker(), worker(), worker(), rotation]);
  const seconds = (Date.now() - started) / 1000;
  const fetched = events.filter((e) => e.type === 'token.fetched').length;
  const text = await registry.metrics();
  const summary = {
    calls, seconds: Number(seconds.toFixed(1)), tokenTtl: TTL_S, tokensFetched: fetched,
    statuses: Object.fromEntries(statuses), rejections: Object.fromEntries(rejections), refreshFailures: events.filter((e) => e.type !== 'token.fetched').length,
    fetchRetries: sample(text, 'tokenguard_client_token_fetches_total', 'outcome="retry"'),
  };
  console.log(`client downstream run: ${JSON.stringify(summary)}`);
  expect(statuses.get(401) ?? 0).toBe(0);
  expect(statuses.get(200)).toBe(calls);
  expect(calls).toBeGreaterThan(200);
  // several lifetimes, refreshed ahead of expiry: about one token per 80% of a lifetime, not one per call
  expect(fetched).toBeGreaterThanOrEqual(Math.floor(RUN_MS / 1000 / TTL_S));
  expect(fetched).toBeLessThan(calls / 10);
  expect(issuer.keys().length).toBeGreaterThanOrEqual(2);
}, 30_000);

/**
 * The signing-key schedule beyond the happy path: after downtime the next key still waits its full pre-publication,
 * and two servers sharing one data folder agree on one key schedule (no duplicate keys, tokens of one verify with
 * the other's JWKS).
 */
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import { createIssuerServer, createMemoryStore, generateSigningKey, KeyManager, type IssuerServer } from '@tokenguard/issuer';
import { headerOf, makeClient, requestToken, tempDir } from './support';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const policy = { algorithm: 'ES256' as const, rotateEvery: 60, prePublish: 10, maxTtl: 30, clockTolerance: 5 };

describe('key schedule', () => {
  test('the first key signs at once', async () => {
    const keys = new KeyManager(createMemoryStore(), policy);
    await keys.init();
    expect(keys.info().map((k) => k.state)).toEqual(['active']);
    expect((await keys.signer())?.kid).toBe(keys.info()[0]!.kid);
  });

  test('after downtime longer than rotateEvery the old key keeps signing until the new one was published for prePublish', async () => {
    const store = createMemoryStore();
    const now = Date.now();
    const old = await generateSigningKey('ES256', now - 3600_000, now - 3600_000);
    await store.updateKeys(() => [old]);
    const keys = new KeyManager(store, policy);
    await keys.init();
    const info = keys.info();
    expect(info.map((k) => k.state)).toEqual(['active', 'next']);
    expect((await keys.signer())?.kid).toBe(old.kid);
    expect(info[1]!.activatesAt.getTime() - info[1]!.createdAt.getTime()).toBeGreaterThanOrEqual(10_000);
    expect(keys.nextRotationSeconds()).toBeGreaterThan(9);
    expect(keys.nextRotationSeconds()).toBeLessThanOrEqual(10);
    // The published set is what verifiers need: both keys, public members only.
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([info[1]!.kid, old.kid]);
    for (const k of keys.jwks().keys) expect(k).not.toHaveProperty('d');
  });

  test('a retired key is removed only after maxTtl + clockTolerance past its retirement', async () => {
    const store = createMemoryStore();
    const now = Date.now();
    const retired = await generateSigningKey('ES256', now - 200_000, now - 200_000);
    const current = await generateSigningKey('ES256', now - 20_000, now - 30_000);
    await store.updateKeys(() => [retired, current]);
    const keys = new KeyManager(store, policy);
    await keys.init();
    // Retired 20 s ago; stays until 30 + 5 s after that.
    const info = keys.info();
    expect(info.map((k) => [k.kid, k.state])).toEqual([[retired.kid, 'retired'], [current.kid, 'active']]);
    expect(info[0]!.removeAt!.getTime()).toBe(current.activatesAt + 35_000);
    expect(keys.jwks().keys).toHaveLength(2);
    // Retired 40 s ago (its successor activated then): past 30 + 5 s, so the next step deletes it.
    const older = await generateSigningKey('ES256', now - 100_000, now - 100_000);
    const successor = await generateSigningKey('ES256', now - 40_000, now - 50_000);
    await store.updateKeys(() => [older, successor]);
    await keys.reload();
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([successor.kid]);
    await keys.tick();
    expect((await store.listKeys()).map((k) => k.kid)).toEqual([successor.kid]);
  });
});

describe('two servers sharing one data folder', () => {
  let a: IssuerServer;
  let b: IssuerServer;
  let cleanup: () => Promise<void>;
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cleanup?.();
  });

  test('one schedule, no duplicate keys, tokens of one verify with the other\'s JWKS', async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    const svc = await makeClient('svc', ['read'], ['api']);
    const config = {
      issuer: 'http://issuer.fleet.test', dataDir: t.dir, clients: [svc.config],
      signing: { rotateEvery: '2s', prePublish: '1.5s', clockTolerance: '2s' }, tokens: { defaultTtl: '2s', maxTtl: '2s' },
    };
    a = await createIssuerServer({ ...config, listen: { port: 0 } });
    b = await createIssuerServer({ ...config, listen: { port: 0 } });
    expect(b.keys().map((k) => k.kid)).toEqual(a.keys().map((k) => k.kid));
    const deadline = Date.now() + 7000;
    const kids = new Set<string>();
    let checks = 0;
    while (Date.now() < deadline) {
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const token = (await requestToken(from.url, svc)).body.access_token as string;
        kids.add(headerOf(token).kid as string);
        const jwks = createRemoteJWKSet(new URL(`${to.url}/.well-known/jwks.json`), { cacheMaxAge: 0 });
        await jwtVerify(token, jwks, { issuer: config.issuer, audience: 'api' });
        checks++;
      }
      // At most one pre-published key at any time, in either server's view and in the shared file.
      expect(a.keys().filter((k) => k.state === 'next').length).toBeLessThanOrEqual(1);
      expect(b.keys().filter((k) => k.state === 'next').length).toBeLessThanOrEqual(1);
      await sleep(150);
    }
    expect(kids.size).toBeGreaterThanOrEqual(3);
    expect(checks).toBeGreaterThan(20);
    const stored = await a.store.listKeys();
    expect(new Set(stored.map((k) => k.activatesAt)).size).toBe(stored.length);
    expect(stored.filter((k) => k.activatesAt > Date.now()).length).toBeLessThanOrEqual(1);
    // Offline check of a fresh token against the local published set.
    const token = (await requestToken(a.url, svc)).body.access_token as string;
    await expect(jwtVerify(token, createLocalJWKSet(b.jwks()), { issuer: config.issuer })).resolves.toBeDefined();
  }, 15_000);
});

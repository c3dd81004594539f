/**
 * The remote key set seen through the verifier (createTokenVerifier → createKeySource), against a real key-set
 * server on 127.0.0.1: stale serving, 503 + Retry-After for unknown keys while the set cannot be fetched,
 * cached tokens rejected once their key leaves the set, health() per issuer.
 */
import { createTokenVerifier, errorResponse, isTokenError, type AuditEvent, type TokenVerifier } from '@tokenguard/core';
import { makeKey, jwks, signToken, type TestKey } from '../../../test/helpers/keys';
import { startJwksServer, sleep, type JwksServer } from '../../../test/helpers/jwks-server';

const issuer = 'https://issuer.jwks-verifier.test';
const audience = 'orders-api';

let server: JwksServer;
let a: TestKey, b: TestKey;
let verifier: TokenVerifier;
const events: AuditEvent[] = [];

const token = (k: TestKey) => signToken(k, { iss: issuer, aud: audience, sub: 'svc' });

async function rejection(t: string) {
  try {
    await verifier.verify(t);
  } catch (err) {
    if (isTokenError(err)) return errorResponse(err);
    throw err;
  }
  throw new Error('accepted');
}

beforeAll(async () => {
  [a, b] = await Promise.all([makeKey('ES256'), makeKey('ES256')]);
  server = await startJwksServer(jwks(a, b));
  verifier = createTokenVerifier({
    issuer,
    audience,
    jwksUri: server.jwksUrl,
    algorithms: ['ES256'],
    jwks: { cooldown: '150ms', timeout: '500ms', cacheMaxAge: '10m' },
    metrics: false,
    onEvent: (e) => void events.push(e),
  });
});
afterAll(async () => {
  await verifier.close();
  await server.close();
});

it('keeps verifying known keys while the endpoint fails, and answers 503 + Retry-After for unknown ones', async () => {
  const ta = await token(a);
  await expect(verifier.verify(ta)).resolves.toMatchObject({ subject: 'svc' });
  expect(verifier.health()).toEqual([expect.objectContaining({ issuer, state: 'fresh', keys: 2 })]);

  server.fault({ type: 'status', status: 500 });
  await sleep(200);
  const c = await makeKey('ES256');
  const res = await rejection(await token(c));
  expect(res.status).toBe(503);
  expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String), code: 'jwks_unavailable' });
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(res.headers['www-authenticate']).toBeUndefined();
  expect(JSON.stringify(res)).not.toContain(c.kid);

  // known kid, fresh token (not cached): verified from the stale set
  await expect(verifier.verify(await token(a))).resolves.toMatchObject({ subject: 'svc' });
  expect(verifier.health()).toEqual([expect.objectContaining({ state: 'stale', keys: 2, lastError: 'HTTP 500' })]);
  expect(events.some((e) => e.type === 'jwks.failed')).toBe(true);
  server.fault({ type: 'ok' });
});

it('rejects a cached token once its key is removed from the set', async () => {
  await sleep(400); // let the failure backoff pass
  const tb = await token(b);
  await expect(verifier.verify(tb)).resolves.toMatchObject({ subject: 'svc' });
  await expect(verifier.verify(tb)).resolves.toMatchObject({ subject: 'svc' }); // cached
  server.set(jwks(a));
  await sleep(200);
  // another unknown kid makes the source refetch; the removal is seen
  const d = await makeKey('ES256');
  expect((await rejection(await token(d))).body.code).toBe('key_not_found');
  expect(events.some((e) => e.type === 'key.removed' && e.kid === b.kid)).toBe(true);
  const res = await rejection(tb);
  expect(res.status).toBe(401);
  expect(res.body.code).toBe('key_not_found');
  expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
});

it('keeps the key sets of two issuers apart: a kid of one is never looked up at the other', async () => {
  const other = await startJwksServer(jwks(b));
  const two = createTokenVerifier({
    issuer: [
      { issuer: 'https://one.test', jwksUri: server.jwksUrl },
      { issuer: 'https://two.test', jwksUri: other.jwksUrl },
    ],
    audience,
    algorithms: ['ES256'],
    jwks: { cooldown: '10s', timeout: '500ms' },
    metrics: false,
  });
  try {
    server.set(jwks(a));
    await expect(two.verify(await signToken(a, { iss: 'https://one.test', aud: audience, sub: 's1' }))).resolves.toMatchObject({ issuer: 'https://one.test' });
    await expect(two.verify(await signToken(b, { iss: 'https://two.test', aud: audience, sub: 's2' }))).resolves.toMatchObject({ issuer: 'https://two.test' });
    const hits = { one: server.hits(), two: other.hits() };
    // a's kid under issuer two: two's set is fetched (unknown kid), never one's; the token is refused
    try {
      await two.verify(await signToken(a, { iss: 'https://two.test', aud: audience, sub: 'x' }));
      throw new Error('accepted');
    } catch (err) {
      expect(isTokenError(err) && err.code).toBe('key_not_found');
    }
    expect(server.hits()).toBe(hits.one);
    expect(other.hits() - hits.two).toBeLessThanOrEqual(1);
  } finally {
    await two.close();
    await other.close();
  }
});
